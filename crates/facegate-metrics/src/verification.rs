//! The LFW View-2 protocol: the threshold is chosen on nine folds and applied to the tenth.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pair {
    pub fold: usize,
    pub same: bool,
    pub score: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FoldReport {
    pub accuracies: Vec<f64>,
    pub thresholds: Vec<f32>,
    pub mean: f64,
    /// Population standard deviation (divide by the number of folds), as LFW results
    /// are usually reported.
    pub std: f64,
}

fn accuracy(pairs: &[&Pair], t: f32) -> f64 {
    pairs.iter().filter(|p| (p.score >= t) == p.same).count() as f64 / pairs.len() as f64
}

/// The threshold with the best accuracy, scanning midpoints between distinct scores and
/// both ends; ties go to the lower threshold.
pub fn best_threshold(pairs: &[&Pair]) -> f32 {
    let mut s: Vec<f32> = pairs.iter().map(|p| p.score).collect();
    s.sort_by(|a, b| a.total_cmp(b));
    s.dedup();
    if s.is_empty() {
        return 0.0;
    }
    let mut cands = vec![s[0] - 1.0];
    cands.extend(s.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    cands.push(s[s.len() - 1] + 1.0);
    let mut best = (f64::NEG_INFINITY, cands[0]);
    for t in cands {
        let a = accuracy(pairs, t);
        if a > best.0 {
            best = (a, t);
        }
    }
    best.1
}

/// Accuracy per fold with the threshold fitted on the other folds. With a single fold
/// present (quick checks) the threshold is fitted on that fold itself, which is optimistic.
pub fn kfold_accuracy(pairs: &[Pair], folds: usize) -> FoldReport {
    let mut accuracies = Vec::new();
    let mut thresholds = Vec::new();
    for k in 0..folds {
        let test: Vec<&Pair> = pairs.iter().filter(|p| p.fold == k).collect();
        if test.is_empty() {
            continue;
        }
        let train: Vec<&Pair> = pairs.iter().filter(|p| p.fold != k).collect();
        let t = best_threshold(if train.is_empty() { &test } else { &train });
        thresholds.push(t);
        accuracies.push(accuracy(&test, t));
    }
    let n = accuracies.len().max(1) as f64;
    let mean = accuracies.iter().sum::<f64>() / n;
    let std = (accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n).sqrt();
    FoldReport { accuracies, thresholds, mean, std }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(fold: usize, same: bool, score: f32) -> Pair {
        Pair { fold, same, score }
    }

    #[test]
    fn best_threshold_separates_and_prefers_lower() {
        let pairs = [p(0, true, 0.9), p(0, true, 0.8), p(0, false, 0.2), p(0, false, 0.3)];
        let refs: Vec<&Pair> = pairs.iter().collect();
        let t = best_threshold(&refs);
        assert!((t - 0.55).abs() < 1e-6, "{t}");
    }

    #[test]
    fn threshold_comes_from_the_other_folds() {
        // Fold 0 alone would choose 0.45; folds 1-2 push the threshold to 0.725,
        // which misclassifies fold 0's positive at 0.5.
        let pairs = vec![
            p(0, true, 0.5),
            p(0, false, 0.4),
            p(1, true, 0.8),
            p(1, false, 0.6),
            p(1, true, 0.9),
            p(1, false, 0.65),
            p(2, true, 0.8),
            p(2, false, 0.6),
            p(2, true, 0.9),
            p(2, false, 0.65),
        ];
        let r = kfold_accuracy(&pairs, 3);
        assert_eq!(r.accuracies, vec![0.5, 1.0, 1.0]);
        assert!((r.thresholds[0] - 0.725).abs() < 1e-6, "{:?}", r.thresholds);
        assert!((r.mean - 2.5 / 3.0).abs() < 1e-12);
        assert!((r.std - 0.235_702_26).abs() < 1e-6, "{}", r.std);
        let one = kfold_accuracy(&pairs[..2], 1);
        assert_eq!(one.accuracies, vec![1.0]);
    }
}
