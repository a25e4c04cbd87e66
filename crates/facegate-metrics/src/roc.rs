//! Score-distribution metrics shared by verification and PAD. Convention everywhere: higher
//! score = genuine / live, and a sample is accepted when `score >= threshold`. A NaN score
//! (e.g. the cosine of a zero embedding) ranks below every real score, so it is never
//! silently counted as a match. Empty inputs give NaN rather than a panic, because a
//! missing class is a data problem the caller should see in the numbers.

/// NaN ranks as -inf: the one place that decides how broken scores count.
pub(crate) fn key(score: f32) -> f32 {
    if score.is_nan() { f32::NEG_INFINITY } else { score }
}

fn sorted(scores: &[f32]) -> Vec<f32> {
    let mut s: Vec<f32> = scores.iter().map(|&x| key(x)).collect();
    s.sort_by(f32::total_cmp);
    s
}

/// Fraction of `scores` accepted at threshold `t`.
pub(crate) fn accept_rate(scores: &[f32], t: f32) -> f64 {
    if scores.is_empty() {
        return f64::NAN;
    }
    scores.iter().filter(|&&s| key(s) >= t).count() as f64 / scores.len() as f64
}

/// Fraction of `scores` rejected at threshold `t`, counted rather than `1 - accept` so that
/// 1 of 20 is exactly 0.05 and compares cleanly against a target rate.
pub(crate) fn reject_rate(scores: &[f32], t: f32) -> f64 {
    if scores.is_empty() {
        return f64::NAN;
    }
    scores.iter().filter(|&&s| key(s) < t).count() as f64 / scores.len() as f64
}

/// Largest `k <= n` with `k / n <= frac`. Compared as a fraction, not `floor(frac * n)`,
/// because `0.29 * 100.0` is 28.999… in floating point and would allow one sample too few.
pub(crate) fn max_count(frac: f64, n: usize) -> usize {
    if n == 0 || frac.is_nan() || frac < 0.0 {
        return 0;
    }
    let nf = n as f64;
    let mut k = (frac * nf).floor().min(nf) as usize;
    while k < n && (k + 1) as f64 / nf <= frac {
        k += 1;
    }
    while k > 0 && k as f64 / nf > frac {
        k -= 1;
    }
    k
}

/// ROC AUC as the Mann–Whitney U statistic (ties count one half), so it needs no threshold
/// grid and is exact for any number of tied scores.
pub fn auc(genuine: &[f32], impostor: &[f32]) -> f64 {
    if genuine.is_empty() || impostor.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f32, bool)> = genuine.iter().map(|&s| (key(s), true)).chain(impostor.iter().map(|&s| (key(s), false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sweep tie groups upwards: a genuine score beats every impostor below it and half-beats
    // every impostor tied with it.
    let (mut u, mut impostors_below) = (0f64, 0usize);
    let mut i = 0;
    while i < all.len() {
        let (mut g, mut n, mut j) = (0usize, 0usize, i);
        while j < all.len() && all[j].0 == all[i].0 {
            if all[j].1 {
                g += 1
            } else {
                n += 1
            }
            j += 1;
        }
        u += g as f64 * (impostors_below as f64 + 0.5 * n as f64);
        impostors_below += n;
        i = j;
    }
    u / (genuine.len() as f64 * impostor.len() as f64)
}

/// TAR at the smallest threshold whose FAR is at most `far`: the most genuine pairs one can
/// accept within the impostor budget. Impostors with equal scores are accepted or rejected
/// together, so the achieved FAR can be below `far`. When no impostor may pass the
/// threshold sits just above the top impostor; when all may, it is the lowest score seen
/// (everything is accepted).
pub fn tar_at_far(genuine: &[f32], impostor: &[f32], far: f64) -> (f64, f32) {
    if genuine.is_empty() || impostor.is_empty() {
        return (f64::NAN, f32::NAN);
    }
    let mut neg = sorted(impostor);
    neg.reverse();
    let allowed = max_count(far, neg.len());
    // Take whole tie groups from the top while they fit in the budget.
    let mut accepted = 0;
    while accepted < neg.len() {
        let v = neg[accepted];
        let end = accepted + neg[accepted..].iter().take_while(|&&x| x == v).count();
        if end > allowed {
            break;
        }
        accepted = end;
    }
    let t = match neg.get(accepted) {
        Some(&first_rejected) => first_rejected.next_up(),
        None => genuine.iter().map(|&s| key(s)).chain(neg.last().copied()).fold(f32::INFINITY, f32::min),
    };
    (accept_rate(genuine, t), t)
}

/// Equal error rate: the threshold (among the observed scores and one above them all)
/// where FAR on `neg` and FRR on `pos` are closest, and their mean there, since with
/// finite samples they rarely meet exactly. Equal gaps go to the lower threshold. When the
/// two sets do not overlap at all, every threshold between them has no error, and the
/// threshold is the middle of that gap: the lowest positive score, the first observed
/// threshold there, would turn away every positive just below what dev happened to see
/// (a student's liveness threshold chosen that way refused 30% of live camera frames).
pub fn eer(pos: &[f32], neg: &[f32]) -> (f64, f32) {
    if pos.is_empty() || neg.is_empty() {
        return (f64::NAN, f32::NAN);
    }
    let (p, n) = (sorted(pos), sorted(neg));
    let mut cands: Vec<f32> = p.iter().chain(&n).copied().collect();
    cands.sort_by(f32::total_cmp);
    cands.dedup();
    cands.push(cands[cands.len() - 1].next_up());
    let (np, nn) = (p.len() as f64, n.len() as f64);
    let mut best = (f64::INFINITY, f64::NAN, f32::NAN);
    for t in cands {
        let frr = p.partition_point(|&s| s < t) as f64 / np;
        let far = (n.len() - n.partition_point(|&s| s < t)) as f64 / nn;
        let gap = (far - frr).abs();
        if gap < best.0 {
            best = (gap, (far + frr) / 2.0, t);
        }
    }
    let (top_neg, low_pos) = (n[n.len() - 1], p[0]);
    if best.1 == 0.0 && top_neg < low_pos {
        let mid = top_neg + (low_pos - top_neg) / 2.0;
        // Adjacent floats have no middle: then the lowest positive, which still separates.
        best.2 = if mid > top_neg { mid } else { low_pos };
    }
    (best.1, best.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_pairs_and_half_ties() {
        assert_eq!(auc(&[0.9, 0.8], &[0.1, 0.2]), 1.0);
        assert_eq!(auc(&[0.1], &[0.9]), 0.0);
        assert_eq!(auc(&[0.5, 0.5], &[0.5]), 0.5);
        // pos {3, 1} vs neg {2}: one of two pairs ordered correctly.
        assert_eq!(auc(&[3.0, 1.0], &[2.0]), 0.5);
        // 6 pairs: 0.8 beats both, 0.5 ties one and beats one, 0.3 beats one -> 4.5 / 6.
        assert_eq!(auc(&[0.8, 0.5, 0.3], &[0.5, 0.2]), 0.75);
        // NaN ranks lowest, below a -1 impostor.
        assert_eq!(auc(&[f32::NAN], &[-1.0]), 0.0);
        assert!(auc(&[], &[1.0]).is_nan());
        assert!(auc(&[1.0], &[]).is_nan());
    }

    #[test]
    fn max_count_is_exact_on_decimal_rates() {
        assert_eq!(max_count(0.29, 100), 29);
        assert_eq!(max_count(1e-3, 1000), 1);
        assert_eq!(max_count(0.4, 3), 1);
        assert_eq!(max_count(0.0, 5), 0);
        assert_eq!(max_count(2.0, 5), 5);
        assert_eq!(max_count(-0.1, 5), 0);
        assert_eq!(max_count(f64::NAN, 5), 0);
    }

    #[test]
    fn tar_at_far_takes_the_smallest_threshold_in_budget() {
        let neg: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        // FAR 1e-3 lets only the top impostor (0.999) pass, so the threshold sits just
        // above 0.998 and a genuine 0.9985 is accepted too.
        let (tar, t) = tar_at_far(&[0.9985, 0.9995, 0.5], &neg, 1e-3);
        assert_eq!(t, (998.0f32 / 1000.0).next_up());
        assert!((tar - 2.0 / 3.0).abs() < 1e-12, "{tar}");
        // 0.29 of 100 integer scores admits exactly 71..=99.
        let neg: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let (tar, t) = tar_at_far(&[70.0, 71.0], &neg, 0.29);
        assert_eq!((tar, t), (0.5, 70f32.next_up()));
    }

    #[test]
    fn tar_at_far_never_splits_tied_impostors() {
        // Budget is 1 of 3, but the top two impostors tie: both must be rejected.
        let (tar, t) = tar_at_far(&[1.0, 0.95, 0.9], &[0.9, 0.9, 0.1], 0.4);
        assert_eq!(t, 0.9f32.next_up());
        assert!((tar - 2.0 / 3.0).abs() < 1e-12, "{tar}");
        // Budget 2 of 3 admits the tied pair.
        let (tar, t) = tar_at_far(&[1.0, 0.95, 0.9], &[0.9, 0.9, 0.1], 0.7);
        assert_eq!((tar, t), (1.0, 0.1f32.next_up()));
    }

    #[test]
    fn tar_at_far_extremes() {
        // No impostor may pass: just above the top impostor.
        let (tar, t) = tar_at_far(&[1.0, 0.5], &[0.5, 0.2], 0.0);
        assert_eq!((tar, t), (0.5, 0.5f32.next_up()));
        // Every impostor may pass: everything is accepted.
        let (tar, t) = tar_at_far(&[0.1, 0.9], &[0.5, 0.2], 1.0);
        assert_eq!((tar, t), (1.0, 0.1));
        let (tar, t) = tar_at_far(&[], &[0.5], 0.1);
        assert!(tar.is_nan() && t.is_nan());
    }

    #[test]
    fn eer_finds_the_crossing() {
        // At t = 0.65: FRR 1/4 (0.6), FAR 1/4 (0.65).
        assert_eq!(eer(&[0.6, 0.7, 0.8, 0.9], &[0.1, 0.2, 0.3, 0.65]), (0.25, 0.65));
        // Apart: the middle of the gap, which still makes no error.
        assert_eq!(eer(&[0.9, 0.95], &[0.1, 0.3]), (0.0, 0.6));
        assert_eq!(eer(&[1.0f32.next_up()], &[1.0]), (0.0, 1.0f32.next_up()));
        let (e, t) = eer(&[], &[0.1]);
        assert!(e.is_nan() && t.is_nan());
    }

    #[test]
    fn eer_without_exact_crossing_takes_the_lower_of_equal_gaps() {
        // t = 0.6: FRR 1/2, FAR 2/3; t = 0.7: FRR 1/2, FAR 1/3. Both gaps are 1/6.
        let (e, t) = eer(&[0.5, 0.9], &[0.4, 0.6, 0.7]);
        assert_eq!(t, 0.6);
        assert!((e - 7.0 / 12.0).abs() < 1e-12, "{e}");
    }

    #[test]
    fn rates_count_ties_as_accepted() {
        assert_eq!(accept_rate(&[0.5, 0.4, f32::NAN], 0.5), 1.0 / 3.0);
        assert_eq!(reject_rate(&[0.5, 0.4, f32::NAN], 0.5), 2.0 / 3.0);
        assert!(accept_rate(&[], 0.5).is_nan());
    }
}
