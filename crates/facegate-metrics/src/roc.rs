//! Score-distribution metrics. Convention everywhere: higher score = genuine / live, and a
//! sample is accepted when `score >= threshold`.

/// ROC AUC as the Mann-Whitney U statistic (ties count one half).
pub fn auc(pos: &[f32], neg: &[f32]) -> f64 {
    if pos.is_empty() || neg.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f32, bool)> = pos.iter().map(|&s| (s, true)).chain(neg.iter().map(|&s| (s, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Average ranks over ties, then U = R_pos - n_pos (n_pos + 1) / 2.
    let mut rank_sum = 0f64;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += avg_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (np, nn) = (pos.len() as f64, neg.len() as f64);
    (rank_sum - np * (np + 1.0) / 2.0) / (np * nn)
}

fn sorted_desc(v: &[f32]) -> Vec<f32> {
    let mut s = v.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    s
}

/// Fraction of `scores` accepted at threshold `t`.
pub fn accept_rate(scores: &[f32], t: f32) -> f64 {
    if scores.is_empty() {
        return f64::NAN;
    }
    scores.iter().filter(|&&s| s >= t).count() as f64 / scores.len() as f64
}

/// Fraction of `scores` rejected at threshold `t` (counted, not `1 - accept`, so that
/// 1 of 20 is exactly 0.05).
pub fn reject_rate(scores: &[f32], t: f32) -> f64 {
    if scores.is_empty() {
        return f64::NAN;
    }
    scores.iter().filter(|&&s| s < t).count() as f64 / scores.len() as f64
}

/// The lowest threshold whose false accept rate on `neg` is at most `far`, and the true
/// accept rate on `pos` there. Equal scores are never split by a threshold.
pub fn tar_at_far(pos: &[f32], neg: &[f32], far: f64) -> (f64, f32) {
    if pos.is_empty() || neg.is_empty() {
        return (f64::NAN, f32::NAN);
    }
    let negs = sorted_desc(neg);
    let allowed = (far * negs.len() as f64).floor() as usize;
    // Accepting at t = negs[k] accepts every negative >= negs[k]; walk down while allowed.
    let mut t = next_up(negs[0]);
    let mut k = 0;
    while k < negs.len() {
        let v = negs[k];
        let count = negs.iter().take_while(|&&x| x >= v).count();
        if count > allowed {
            break;
        }
        t = v;
        k = count;
    }
    (accept_rate(pos, t), t)
}

/// Equal error rate: the threshold where false accepts on `neg` and false rejects on `pos`
/// are closest; returns their mean there.
pub fn eer(pos: &[f32], neg: &[f32]) -> (f64, f32) {
    if pos.is_empty() || neg.is_empty() {
        return (f64::NAN, f32::NAN);
    }
    let mut cands: Vec<f32> = pos.iter().chain(neg).copied().collect();
    cands.sort_by(|a, b| a.total_cmp(b));
    cands.dedup();
    cands.push(next_up(*cands.last().expect("non-empty")));
    let mut best = (f64::INFINITY, 0.0, cands[0]);
    for &t in &cands {
        let far = accept_rate(neg, t);
        let frr = reject_rate(pos, t);
        let gap = (far - frr).abs();
        if gap < best.0 {
            best = (gap, (far + frr) / 2.0, t);
        }
    }
    (best.1, best.2)
}

pub(crate) fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    let bits = x.to_bits();
    let next = if x == 0.0 { 1 } else if x > 0.0 { bits + 1 } else { bits - 1 };
    f32::from_bits(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_separable_random_and_tied_scores() {
        assert_eq!(auc(&[0.9, 0.8], &[0.1, 0.2]), 1.0);
        assert_eq!(auc(&[0.1], &[0.9]), 0.0);
        assert_eq!(auc(&[0.5, 0.5], &[0.5]), 0.5);
        // pos {3, 1} vs neg {2}: one of two pairs ordered correctly.
        assert_eq!(auc(&[3.0, 1.0], &[2.0]), 0.5);
        assert!(auc(&[], &[1.0]).is_nan());
    }

    #[test]
    fn tar_at_far_respects_the_budget_and_ties() {
        let neg: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let pos = [0.9985, 0.9995, 0.5];
        // FAR 1e-3 allows one negative (0.999) to pass.
        let (tar, t) = tar_at_far(&pos, &neg, 1e-3);
        assert_eq!(t, 0.999);
        assert!((tar - 1.0 / 3.0).abs() < 1e-12);
        // Two negatives tied at the top cannot be split: threshold goes above both.
        let (tar, t) = tar_at_far(&[1.0, 0.95], &[0.9, 0.9, 0.1], 0.4);
        assert!(t > 0.9 && tar == 1.0);
        let (_, t) = tar_at_far(&[1.0], &[0.5, 0.2], 0.0);
        assert!(t > 0.5 && t < 0.5001);
    }

    #[test]
    fn eer_finds_the_crossing() {
        let (e, t) = eer(&[0.6, 0.7, 0.8, 0.9], &[0.1, 0.2, 0.3, 0.65]);
        assert_eq!(e, 0.25);
        assert!(t > 0.6 && t <= 0.65);
        let (e, _) = eer(&[0.9], &[0.1]);
        assert_eq!(e, 0.0);
    }
}
