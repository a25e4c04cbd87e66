//! Presentation-attack detection metrics (ISO/IEC 30107-3). Score = P(live); a sample is
//! accepted as live when `score >= threshold`. Empty classes give NaN, never a panic.

use crate::roc::{accept_rate, auc, eer, next_up, reject_rate};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PadLabel {
    Live,
    /// Attack instrument species, e.g. `print`, `replay`.
    Attack(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PadSample {
    pub score: f32,
    pub label: PadLabel,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PadReport {
    /// Attacks accepted as live, per attack kind.
    pub apcer: BTreeMap<String, f64>,
    /// The worst kind: ISO's ACER uses it.
    pub apcer_max: f64,
    /// Live faces rejected.
    pub bpcer: f64,
    pub acer: f64,
    /// (FAR over all attacks pooled + FRR) / 2.
    pub hter: f64,
    pub auc: f64,
    pub threshold: f32,
    pub n_live: usize,
    pub n_attack: BTreeMap<String, usize>,
}

fn split(samples: &[PadSample]) -> (Vec<f32>, BTreeMap<String, Vec<f32>>) {
    let mut live = Vec::new();
    let mut attacks: BTreeMap<String, Vec<f32>> = BTreeMap::new();
    for s in samples {
        match &s.label {
            PadLabel::Live => live.push(s.score),
            PadLabel::Attack(k) => attacks.entry(k.clone()).or_default().push(s.score),
        }
    }
    (live, attacks)
}

pub fn pad_report(test: &[PadSample], threshold: f32) -> PadReport {
    let (live, attacks) = split(test);
    let pooled: Vec<f32> = attacks.values().flatten().copied().collect();
    let apcer: BTreeMap<String, f64> = attacks.iter().map(|(k, v)| (k.clone(), accept_rate(v, threshold))).collect();
    let apcer_max = if apcer.is_empty() { f64::NAN } else { apcer.values().copied().fold(f64::NEG_INFINITY, f64::max) };
    let bpcer = reject_rate(&live, threshold);
    PadReport {
        apcer_max,
        bpcer,
        acer: (apcer_max + bpcer) / 2.0,
        hter: (accept_rate(&pooled, threshold) + bpcer) / 2.0,
        auc: auc(&live, &pooled),
        threshold,
        n_live: live.len(),
        n_attack: attacks.iter().map(|(k, v)| (k.clone(), v.len())).collect(),
        apcer,
    }
}

/// EER threshold, live against all attacks pooled.
pub fn eer_threshold(samples: &[PadSample]) -> f32 {
    let (live, attacks) = split(samples);
    let pooled: Vec<f32> = attacks.values().flatten().copied().collect();
    eer(&live, &pooled).1
}

/// The highest threshold that still rejects at most `bpcer` of the live samples.
pub fn threshold_at_bpcer(samples: &[PadSample], bpcer: f64) -> f32 {
    let (mut live, _) = split(samples);
    if live.is_empty() {
        return f32::NAN;
    }
    live.sort_by(|a, b| a.total_cmp(b));
    let allowed = (bpcer * live.len() as f64).floor() as usize;
    // Rejecting the `allowed` lowest: threshold at the next score, unless tied with them.
    let mut t = live[allowed.min(live.len() - 1)];
    if allowed >= live.len() {
        t = next_up(live[live.len() - 1]);
    }
    while live.iter().filter(|&&s| s < t).count() > allowed {
        t = live.iter().copied().filter(|&s| s < t).fold(f32::NEG_INFINITY, f32::max);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(score: f32, kind: Option<&str>) -> PadSample {
        PadSample { score, label: kind.map(|k| PadLabel::Attack(k.into())).unwrap_or(PadLabel::Live) }
    }

    #[test]
    fn report_per_kind_and_pooled() {
        let test = vec![
            s(0.9, None),
            s(0.8, None),
            s(0.3, None), // rejected live
            s(0.6, Some("print")), // accepted print
            s(0.1, Some("print")),
            s(0.2, Some("replay")),
            s(0.1, Some("replay")),
            s(0.0, Some("replay")),
            s(0.0, Some("replay")),
        ];
        let r = pad_report(&test, 0.5);
        assert_eq!(r.apcer["print"], 0.5);
        assert_eq!(r.apcer["replay"], 0.0);
        assert_eq!(r.apcer_max, 0.5);
        assert!((r.bpcer - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.acer - (0.5 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
        assert!((r.hter - (1.0 / 6.0 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!((r.n_live, r.n_attack["replay"]), (3, 4));
    }

    #[test]
    fn thresholds_from_eer_and_bpcer() {
        let dev: Vec<PadSample> = (0..20).map(|i| s(0.5 + i as f32 / 40.0, None)).chain((0..20).map(|i| s(i as f32 / 40.0, Some("print")))).collect();
        let t = eer_threshold(&dev);
        let r = pad_report(&dev, t);
        assert_eq!((r.bpcer, r.apcer_max), (0.0, 0.0));
        let t5 = threshold_at_bpcer(&dev, 0.05);
        let r = pad_report(&dev, t5);
        assert!(r.bpcer <= 0.05 && r.bpcer > 0.0, "{}", r.bpcer);
        let empty = pad_report(&[], 0.5);
        assert!(empty.bpcer.is_nan() && empty.acer.is_nan());
    }
}
