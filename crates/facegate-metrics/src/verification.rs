//! The LFW View-2 protocol: the threshold is chosen on nine folds and applied to the tenth,
//! so the reported accuracy never sees its own threshold fitted on the test pairs.

use crate::roc::key;
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
    /// Population standard deviation (divide by the number of folds, not n - 1), because
    /// that is how LFW results are usually reported and compared.
    pub std: f64,
}

fn accuracy(pairs: &[&Pair], t: f32) -> f64 {
    let correct = pairs.iter().filter(|p| (key(p.score) >= t) == p.same).count();
    correct as f64 / pairs.len() as f64
}

/// A threshold strictly between `lo` and `hi` where floats allow, else `hi`, so that `lo`
/// is always rejected and `hi` accepted as the sweep intended.
fn midpoint(lo: f32, hi: f32) -> f32 {
    let m = ((lo as f64 + hi as f64) / 2.0) as f32;
    if m > lo && m <= hi { m } else { hi }
}

/// The accuracy-maximising threshold, swept in O(n log n) over midpoints between distinct
/// scores plus one end below (all accepted) and one above (all rejected). Midpoints keep
/// the threshold away from training scores, so it transfers to unseen folds without
/// depending on which side a near-tie falls. Equal accuracies go to the lower threshold.
/// Empty input gives NaN.
pub fn best_threshold(pairs: &[&Pair]) -> f32 {
    let mut s: Vec<(f32, bool)> = pairs.iter().map(|p| (key(p.score), p.same)).collect();
    s.sort_by(|a, b| a.0.total_cmp(&b.0));
    let Some(&(lowest, _)) = s.first() else {
        return f32::NAN;
    };
    // Below every score, all pairs are predicted "same": exactly the same-pairs are right.
    let mut correct = s.iter().filter(|x| x.1).count();
    let mut best = (correct, (lowest - 1.0).min(lowest.next_down()));
    let mut i = 0;
    while i < s.len() {
        let v = s[i].0;
        let mut j = i;
        // Moving the threshold above v flips the whole tie group to "different".
        while j < s.len() && s[j].0 == v {
            if s[j].1 {
                correct -= 1
            } else {
                correct += 1
            }
            j += 1;
        }
        let t = match s.get(j) {
            Some(&(next, _)) => midpoint(v, next),
            None => (v + 1.0).max(v.next_up()),
        };
        if correct > best.0 {
            best = (correct, t);
        }
        i = j;
    }
    best.1
}

/// Accuracy per fold `k in 0..folds`, with the threshold fitted on every other fold present
/// in `pairs`. Folds without pairs are skipped, so `accuracies.len()` is the number of folds
/// actually evaluated (mean and std are NaN if none). If only one fold is present (quick
/// checks with `--folds 1`) the threshold is fitted on that same fold: the result is then
/// optimistic and not comparable with the 10-fold protocol.
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
    let n = accuracies.len() as f64;
    let (mean, std) = if accuracies.is_empty() {
        (f64::NAN, f64::NAN)
    } else {
        let mean = accuracies.iter().sum::<f64>() / n;
        let var = accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n;
        (mean, var.sqrt())
    };
    FoldReport { accuracies, thresholds, mean, std }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(fold: usize, same: bool, score: f32) -> Pair {
        Pair { fold, same, score }
    }

    fn best(pairs: &[Pair]) -> f32 {
        best_threshold(&pairs.iter().collect::<Vec<_>>())
    }

    #[test]
    fn best_threshold_takes_the_midpoint_of_the_gap() {
        let pairs = [p(0, true, 0.9), p(0, true, 0.8), p(0, false, 0.2), p(0, false, 0.3)];
        assert!((best(&pairs) - 0.55).abs() < 1e-6);
    }

    #[test]
    fn best_threshold_prefers_the_lower_of_equal_accuracies() {
        // Sorted: 0.1 diff, 0.4 same, 0.5 diff, 0.9 same. Thresholds 0.25 and 0.7 both get
        // 3 of 4 right.
        let pairs = [p(0, true, 0.9), p(0, false, 0.5), p(0, true, 0.4), p(0, false, 0.1)];
        assert!((best(&pairs) - 0.25).abs() < 1e-6, "{}", best(&pairs));
    }

    #[test]
    fn best_threshold_ends_and_ties() {
        // All same: accepting everything is best, so the threshold is below the minimum.
        assert!(best(&[p(0, true, 0.3), p(0, true, 0.6)]) < 0.3);
        // All different: rejecting everything is best.
        assert!(best(&[p(0, false, 0.3), p(0, false, 0.6)]) > 0.6);
        // A tied same/diff pair cannot be split; the lower end accepts it with the 0.8 same.
        let t = best(&[p(0, true, 0.5), p(0, false, 0.5), p(0, true, 0.8)]);
        assert!(t < 0.5, "{t}");
        assert!(best(&[]).is_nan());
        assert_eq!(midpoint(1.0, 1.0f32.next_up()), 1.0f32.next_up());
    }

    #[test]
    fn threshold_comes_from_the_other_folds() {
        // Fold 0 alone would choose 0.45; folds 1-2 put the threshold at 0.725, which
        // rejects fold 0's same pair at 0.5.
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
        for t in &r.thresholds {
            assert!((t - 0.725).abs() < 1e-6, "{:?}", r.thresholds);
        }
        assert!((r.mean - 2.5 / 3.0).abs() < 1e-12);
        // Population std of {0.5, 1, 1}: sqrt(((1/3)^2 + 2 (1/6)^2) / 3) = sqrt(1/18).
        assert!((r.std - (1.0f64 / 18.0).sqrt()).abs() < 1e-12, "{}", r.std);
    }

    #[test]
    fn single_fold_fits_on_itself_and_empty_is_nan() {
        let one = kfold_accuracy(&[p(0, true, 0.5), p(0, false, 0.4)], 1);
        assert_eq!((one.accuracies, one.std), (vec![1.0], 0.0));
        assert!((one.thresholds[0] - 0.45).abs() < 1e-6);
        // Fold 1 is empty and skipped.
        let two = kfold_accuracy(&[p(0, true, 0.5), p(0, false, 0.4)], 2);
        assert_eq!(two.accuracies.len(), 1);
        let none = kfold_accuracy(&[], 10);
        assert!(none.accuracies.is_empty() && none.mean.is_nan() && none.std.is_nan());
    }
}
