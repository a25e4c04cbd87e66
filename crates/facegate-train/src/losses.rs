//! Loss terms, each a scalar tensor averaged over the batch, so their weights mean the same
//! at any batch size.

use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, sigmoid};

/// Weighted binary cross-entropy on logits against targets in 0..1 (live = 1).
pub fn bce(logits: Tensor<1>, targets: Tensor<1>, weights: Tensor<1>) -> Tensor<1> {
    let softplus = logits.clone().clamp_min(0.0) + logits.clone().abs().neg().exp().add_scalar(1.0).log();
    ((softplus - targets * logits) * weights).mean()
}

/// Per-sample weights (live, attack) that give both classes equal total weight among `n`
/// samples of which `n_live` are live, for [`bce`].
pub fn balanced_weights(n_live: usize, n: usize) -> (f32, f32) {
    let live = n_live.max(1) as f32;
    let attack = (n as f32 - live).max(1.0);
    (n as f32 / (2.0 * live), n as f32 / (2.0 * attack))
}

/// Soft-label distillation of a binary score at temperature `t` (Hinton et al.): BCE of the
/// student's tempered logit against the teacher's tempered probability, scaled by t^2 so its
/// gradients keep their size as `t` changes.
pub fn binary_kd(student: Tensor<1>, teacher: Tensor<1>, t: f64) -> Tensor<1> {
    let soft = sigmoid(teacher.div_scalar(t));
    let ones = soft.ones_like();
    bce(student.div_scalar(t), soft, ones).mul_scalar(t * t)
}

/// Rows scaled to unit length.
pub fn l2_normalise(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-6);
    x / norm
}

/// 1 - cosine between matching rows.
pub fn cosine_distance(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let n = a.dims()[0];
    (l2_normalise(a) * l2_normalise(b)).sum_dim(1).reshape([n]).neg().add_scalar(1.0).mean()
}

/// Relational distillation: the batch's pairwise cosine-similarity matrices of student and
/// teacher should agree (mean squared difference over all pairs).
pub fn relational(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    let s = l2_normalise(student);
    let t = l2_normalise(teacher);
    let gs = s.clone().matmul(s.transpose());
    let gt = t.clone().matmul(t.transpose());
    (gs - gt).powf_scalar(2.0).mean()
}

/// Feature alignment: squared distance between the L2-normalised flattened maps, [N, C*H*W]
/// each (the student's already through its adapter and pooled to the teacher's grid).
pub fn feature_alignment(student: Tensor<2>, teacher: Tensor<2>) -> Tensor<1> {
    (l2_normalise(student) - l2_normalise(teacher)).powf_scalar(2.0).sum_dim(1).mean()
}

/// Cross-entropy of `logits` [N, K] against class indices; rows with `mask` 0 do not count.
pub fn masked_cross_entropy(logits: Tensor<2>, one_hot: Tensor<2>, mask: Tensor<1>) -> Tensor<1> {
    let n = logits.dims()[0];
    let nll = (log_softmax(logits, 1) * one_hot).sum_dim(1).reshape([n]).neg();
    let count = mask.clone().sum().clamp_min(1.0);
    (nll * mask).sum() / count
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t1(v: &[f32]) -> Tensor<1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Device::flex())
    }
    fn t2(v: &[f32], cols: usize) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len() / cols, cols]), &Device::flex())
    }
    fn value(t: Tensor<1>) -> f32 {
        t.into_scalar::<f32>()
    }

    #[test]
    fn bce_matches_the_formula() {
        // -ln(sigmoid(2)) and -ln(1 - sigmoid(-1)).
        let l = value(bce(t1(&[2.0, -1.0]), t1(&[1.0, 0.0]), t1(&[1.0, 1.0])));
        let want = ((1.0 + (-2.0f32).exp()).ln() + (1.0 + (-1.0f32).exp()).ln()) / 2.0;
        assert!((l - want).abs() < 1e-5, "{l} vs {want}");
    }

    #[test]
    fn kd_is_smallest_when_the_student_agrees() {
        let same = value(binary_kd(t1(&[1.5, -2.0]), t1(&[1.5, -2.0]), 2.0));
        let off = value(binary_kd(t1(&[-1.5, 2.0]), t1(&[1.5, -2.0]), 2.0));
        assert!(same < off, "{same} vs {off}");
    }

    #[test]
    fn similarity_terms_vanish_on_agreement_only() {
        let a = t2(&[1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 2);
        let scaled = t2(&[3.0, 0.0, 0.0, 2.0, 5.0, 5.0], 2);
        let other = t2(&[0.0, 1.0, 1.0, 0.0, 1.0, -1.0], 2);
        assert!(value(cosine_distance(a.clone(), scaled.clone())) < 1e-6);
        assert!(value(relational(a.clone(), scaled.clone())) < 1e-6);
        assert!(value(feature_alignment(a.clone(), scaled)) < 1e-6);
        assert!(value(cosine_distance(a.clone(), other.clone())) > 0.5);
        assert!(value(relational(a.clone(), other.clone())) > 0.1);
        assert!(value(feature_alignment(a, other)) > 0.5);
    }

    #[test]
    fn masked_rows_do_not_count() {
        let logits = t2(&[5.0, 0.0, 0.0, 5.0], 2);
        let right = t2(&[1.0, 0.0, 0.0, 1.0], 2);
        let wrong_second = t2(&[1.0, 0.0, 1.0, 0.0], 2);
        let low = value(masked_cross_entropy(logits.clone(), right, t1(&[1.0, 1.0])));
        let masked = value(masked_cross_entropy(logits.clone(), wrong_second.clone(), t1(&[1.0, 0.0])));
        let counted = value(masked_cross_entropy(logits, wrong_second, t1(&[1.0, 1.0])));
        assert!((low - masked).abs() < 1e-6 && counted > 2.0, "{low} {masked} {counted}");
    }
}
