//! Several anti-spoofing models' scores made one: each model's log-odds are centred on its own
//! dev operating point and scaled by its dev spread, then averaged. Models whose scores live on
//! different scales (a sigmoid trained here, a softmax trained on CelebA-Spoof) then weigh the
//! same, and everything that calibrates comes from dev data only.

use crate::pad::{PadSample, eer_threshold};
use serde::Serialize;

/// One member's calibration, fixed on dev.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Calibration {
    /// Log-odds of the member's dev EER threshold.
    pub centre: f64,
    /// Standard deviation of the member's dev log-odds.
    pub spread: f64,
}

fn logit(p: f32) -> f64 {
    let p = (p as f64).clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

impl Calibration {
    /// From a member's dev scores (P(live) with labels). `None` without both classes or
    /// when every dev score is the same.
    pub fn fit(dev: &[PadSample]) -> Option<Self> {
        let t = eer_threshold(dev);
        let l: Vec<f64> = dev.iter().map(|s| logit(s.score)).collect();
        let mean = l.iter().sum::<f64>() / l.len().max(1) as f64;
        let spread = (l.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / l.len().max(1) as f64).sqrt();
        (t.is_finite() && spread > 1e-9).then(|| Calibration { centre: logit(t), spread })
    }

    pub fn z(&self, p: f32) -> f64 {
        (logit(p) - self.centre) / self.spread
    }
}

/// P(live) of the fusion: the sigmoid of the members' mean calibrated log-odds. `members[i]`
/// are member i's scores of the same samples.
pub fn fuse(calibrations: &[Calibration], members: &[Vec<f32>]) -> Vec<f32> {
    let n = members.first().map_or(0, Vec::len);
    (0..n)
        .map(|j| {
            let z = calibrations.iter().zip(members).map(|(c, m)| c.z(m[j])).sum::<f64>() / calibrations.len() as f64;
            (1.0 / (1.0 + (-z).exp())) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PadLabel;

    fn samples(live: &[f32], attack: &[f32]) -> Vec<PadSample> {
        live.iter()
            .map(|&s| PadSample { score: s, label: PadLabel::Live })
            .chain(attack.iter().map(|&s| PadSample { score: s, label: PadLabel::Attack("print".into()) }))
            .collect()
    }

    #[test]
    fn members_on_different_scales_weigh_the_same() {
        // Member a separates around 0.5, member b around 0.999 (an overconfident model).
        let a = samples(&[0.7, 0.8, 0.9], &[0.1, 0.2, 0.3]);
        let b = samples(&[0.9999, 0.99995, 0.99999], &[0.99, 0.995, 0.998]);
        let (ca, cb) = (Calibration::fit(&a).unwrap(), Calibration::fit(&b).unwrap());
        // Each member's dev operating point maps to 0 log-odds.
        assert!(ca.z(eer_threshold(&a)).abs() < 1e-9 && cb.z(eer_threshold(&b)).abs() < 1e-9);
        let fused = fuse(&[ca, cb], &[vec![0.9, 0.1], vec![0.99999, 0.99]]);
        assert!(fused[0] > 0.5 && fused[1] < 0.5, "{fused:?}");
        // A sample both members call borderline stays borderline, whatever the raw scale.
        let mid = fuse(&[ca, cb], &[vec![eer_threshold(&a)], vec![eer_threshold(&b)]]);
        assert!((mid[0] - 0.5).abs() < 1e-6, "{mid:?}");
        assert!(Calibration::fit(&samples(&[0.5, 0.5], &[0.5])).is_none());
        assert!(Calibration::fit(&samples(&[0.5], &[])).is_none());
    }
}
