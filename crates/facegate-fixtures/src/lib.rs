//! Test support for the parity tests: what the reference scripts in `tests/reference/` write
//! (`make-fixtures.mjs`, `make-onnx-fixtures.py`), read back the same way in every crate.

/// Bit-exact twin of `mulberry32` in the reference scripts: the seeded inputs are regenerated
/// here rather than stored.
pub fn mulberry32(seed: u32) -> impl FnMut() -> u32 {
    let mut a = seed;
    move || {
        a = a.wrapping_add(0x6d2b_79f5);
        let mut t = a;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        t ^ (t >> 14)
    }
}

/// `count` little-endian f32 values at `offset` of a fixture's binary file.
pub fn f32s(bin: &[u8], offset: usize, count: usize) -> Vec<f32> {
    bin[offset..offset + 4 * count].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// How far `got` (every `stride`-th value) is from a reference tensor `want`, against the
/// parity bound every test here uses: |got - want| <= 1e-4 + 1e-5 * max|want|.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parity {
    /// Largest |got - want| (NaN if any value is NaN).
    pub worst: f32,
    /// Where in `got` it is.
    pub at: usize,
    pub tol: f32,
    pub max_ref: f32,
}

impl Parity {
    pub fn of(got: &[f32], want: &[f32], stride: usize) -> Self {
        let max_ref = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let (mut worst, mut at) = (0f32, 0);
        for (j, w) in want.iter().enumerate() {
            let d = (got[j * stride] - w).abs();
            if d > worst || d.is_nan() {
                worst = d;
                at = j * stride;
            }
        }
        Self { worst, at, tol: 1e-4 + 1e-5 * max_ref, max_ref }
    }

    pub fn holds(&self) -> bool {
        self.worst <= self.tol
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first outputs for seed 1 of `mulberry32` in tests/reference/make-fixtures.mjs (node).
    #[test]
    fn the_prng_is_the_reference_scripts_one() {
        let mut next = mulberry32(1);
        assert_eq!([next(), next(), next()], [2693262067, 11749833, 2265367787]);
    }

    #[test]
    fn parity_scales_with_the_reference_and_catches_nan() {
        let want = [100.0, -50.0];
        assert!(Parity::of(&[100.0005, -50.0], &want, 1).holds(), "1e-4 + 1e-3 allowed");
        let off = Parity::of(&[100.0, 0.0, -50.01, 0.0], &want, 2);
        assert!(!off.holds() && off.at == 2, "{off:?}");
        assert!(!Parity::of(&[f32::NAN, -50.0], &want, 1).holds());
    }

    #[test]
    fn values_are_read_little_endian() {
        let bin: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(f32s(&bin, 4, 1), vec![-2.0]);
    }
}
