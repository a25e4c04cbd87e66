//! Presentation-attack detection metrics (ISO/IEC 30107-3). Score = P(live); a sample is
//! accepted as live when `score >= threshold`. A class with no samples gives NaN for the
//! metrics that need it instead of a panic, so a missing split shows up in the report.

use crate::roc::{accept_rate, auc, eer, key, max_count, reject_rate};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PadLabel {
    Live,
    /// Attack instrument species, e.g. `print`, `replay`: ISO reports APCER per species.
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
    /// The worst kind, because ISO's ACER is judged by the weakest defence.
    pub apcer_max: f64,
    /// Live faces rejected.
    pub bpcer: f64,
    /// (apcer_max + bpcer) / 2.
    pub acer: f64,
    /// (FAR over all attacks pooled + BPCER) / 2: the older, kind-blind number that most
    /// PAD papers still quote next to ACER.
    pub hter: f64,
    /// Live against all attacks pooled; threshold-free.
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

fn pooled(attacks: &BTreeMap<String, Vec<f32>>) -> Vec<f32> {
    attacks.values().flatten().copied().collect()
}

/// All ISO/IEC 30107-3 numbers at one fixed threshold, which should come from a separate
/// development set (e.g. [`eer_threshold`]) so the test numbers are not tuned on the test
/// set. With no live samples `bpcer`, `acer`, `hter` and `auc` are NaN; with no attacks
/// `apcer_max`, `acer`, `hter` and `auc` are NaN.
pub fn pad_report(test: &[PadSample], threshold: f32) -> PadReport {
    let (live, attacks) = split(test);
    let all_attacks = pooled(&attacks);
    let apcer: BTreeMap<String, f64> = attacks.iter().map(|(k, v)| (k.clone(), accept_rate(v, threshold))).collect();
    let apcer_max = apcer.values().copied().reduce(f64::max).unwrap_or(f64::NAN);
    let bpcer = reject_rate(&live, threshold);
    PadReport {
        apcer_max,
        bpcer,
        acer: (apcer_max + bpcer) / 2.0,
        hter: (accept_rate(&all_attacks, threshold) + bpcer) / 2.0,
        auc: auc(&live, &all_attacks),
        threshold,
        n_live: live.len(),
        n_attack: attacks.iter().map(|(k, v)| (k.clone(), v.len())).collect(),
        apcer,
    }
}

/// EER threshold with live as positive and all attacks pooled as negative: the usual way to
/// fix an operating point on a development set. NaN if either class is empty.
pub fn eer_threshold(samples: &[PadSample]) -> f32 {
    let (live, attacks) = split(samples);
    eer(&live, &pooled(&attacks)).1
}

/// The largest threshold whose BPCER on the live samples is at most `bpcer`: the strictest
/// attack rejection a product can afford for a given user-friction budget. Live samples
/// with equal scores are rejected together, so the achieved BPCER can be lower. Returns
/// +inf if `bpcer >= 1` (every live sample may be rejected) and NaN without live samples.
pub fn threshold_at_bpcer(samples: &[PadSample], bpcer: f64) -> f32 {
    let (live, _) = split(samples);
    let mut live: Vec<f32> = live.into_iter().map(key).collect();
    if live.is_empty() {
        return f32::NAN;
    }
    live.sort_by(f32::total_cmp);
    // Rejected at t = live[k] are exactly the scores below it, at most k of them; any higher
    // threshold would also reject live[k] and its equals.
    match live.get(max_count(bpcer, live.len())) {
        Some(&t) => t,
        None => f32::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(score: f32, kind: Option<&str>) -> PadSample {
        let label = kind.map_or(PadLabel::Live, |k| PadLabel::Attack(k.into()));
        PadSample { score, label }
    }

    fn live(scores: &[f32]) -> Vec<PadSample> {
        scores.iter().map(|&x| s(x, None)).collect()
    }

    #[test]
    fn report_per_kind_and_pooled() {
        let test = vec![
            s(0.9, None),
            s(0.8, None),
            s(0.3, None),          // rejected live
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
        // Pooled: 1 of 6 attacks accepted.
        assert!((r.hter - (1.0 / 6.0 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
        // 0.9 and 0.8 beat all 6 attacks, 0.3 beats all but the 0.6 print.
        assert!((r.auc - 17.0 / 18.0).abs() < 1e-12);
        assert_eq!(r.threshold, 0.5);
        assert_eq!((r.n_live, r.n_attack["print"], r.n_attack["replay"]), (3, 2, 4));
    }

    #[test]
    fn score_equal_to_threshold_is_live() {
        let r = pad_report(&[s(0.5, None), s(0.5, Some("print"))], 0.5);
        assert_eq!((r.bpcer, r.apcer_max, r.auc), (0.0, 1.0, 0.5));
    }

    #[test]
    fn empty_classes_give_nan() {
        let empty = pad_report(&[], 0.5);
        assert!(empty.bpcer.is_nan() && empty.apcer_max.is_nan() && empty.acer.is_nan());
        assert!(empty.hter.is_nan() && empty.auc.is_nan());
        assert!(empty.apcer.is_empty() && empty.n_live == 0);
        let only_live = pad_report(&live(&[0.9, 0.1]), 0.5);
        assert_eq!(only_live.bpcer, 0.5);
        assert!(only_live.apcer_max.is_nan() && only_live.acer.is_nan());
        assert!(eer_threshold(&live(&[0.9])).is_nan());
        assert!(threshold_at_bpcer(&[s(0.2, Some("print"))], 0.1).is_nan());
    }

    #[test]
    fn eer_threshold_pools_attack_kinds() {
        // At 0.65: one live rejected (0.6) of 4, one attack accepted (0.65 print) of 4.
        let mut dev = live(&[0.6, 0.7, 0.8, 0.9]);
        dev.extend([s(0.1, Some("print")), s(0.65, Some("print"))]);
        dev.extend([s(0.2, Some("replay")), s(0.3, Some("replay"))]);
        assert_eq!(eer_threshold(&dev), 0.65);
        let r = pad_report(&dev, 0.65);
        assert_eq!((r.bpcer, r.apcer["print"], r.apcer["replay"]), (0.25, 0.5, 0.0));
    }

    #[test]
    fn threshold_at_bpcer_is_the_largest_within_budget() {
        let dev = live(&[0.9, 0.4, 0.2, 0.4]);
        // One of four may be rejected: threshold at 0.4 rejects only 0.2.
        assert_eq!(threshold_at_bpcer(&dev, 0.25), 0.4);
        // Two may be rejected, but the 0.4s tie: anything above 0.4 would reject three.
        assert_eq!(threshold_at_bpcer(&dev, 0.5), 0.4);
        assert_eq!(threshold_at_bpcer(&dev, 0.75), 0.9);
        assert_eq!(threshold_at_bpcer(&dev, 0.0), 0.2);
        assert_eq!(threshold_at_bpcer(&dev, 1.0), f32::INFINITY);
        // Attacks do not move it; the achieved BPCER honours the budget.
        let mut with_attacks = dev.clone();
        with_attacks.push(s(0.95, Some("replay")));
        let t = threshold_at_bpcer(&with_attacks, 0.25);
        assert_eq!(t, 0.4);
        assert_eq!(pad_report(&with_attacks, t).bpcer, 0.25);
    }
}
