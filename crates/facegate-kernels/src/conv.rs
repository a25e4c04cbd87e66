//! 2-D convolution: dense (im2col + one matrix product) and depthwise (direct, along the
//! contiguous channels), each with its bias and activation in the same pass.

use crate::map::{Activation, Map, Pads, out_len};
use crate::{Result, err};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKind {
    /// Every output channel reads every input channel.
    Dense,
    /// One filter per channel (TF's depthwise convolution with multiplier 1).
    Depthwise,
}

/// A convolution layer, weights in TF's layout: dense `[kh, kw, cin, cout]` (which is the
/// im2col row order times the output channels), depthwise `[kh, kw, c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    kind: ConvKind,
    kernel: [usize; 2],
    stride: [usize; 2],
    cin: usize,
    cout: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
    act: Activation,
}

impl Conv2d {
    /// `bias` defaults to zeros; shapes are checked here so that `run` cannot fail on them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(kind: ConvKind, kernel: [usize; 2], stride: [usize; 2], cin: usize, cout: usize, weight: Vec<f32>, bias: Option<Vec<f32>>, act: Activation) -> Result<Self> {
        if kind == ConvKind::Depthwise && cin != cout {
            return err(format!("a depthwise convolution keeps its {cin} channels, not {cout}"));
        }
        let want = kernel[0] * kernel[1] * cin * if kind == ConvKind::Dense { cout } else { 1 };
        if weight.len() != want || want == 0 {
            return err(format!("kernel has {} values, a {kernel:?} {kind:?} convolution {cin} -> {cout} needs {want}", weight.len()));
        }
        if stride[0] == 0 || stride[1] == 0 {
            return err("stride 0");
        }
        let bias = bias.unwrap_or_else(|| vec![0.0; cout]);
        if bias.len() != cout {
            return err(format!("bias has {} values for {cout} channels", bias.len()));
        }
        Ok(Self { kind, kernel, stride, cin, cout, weight, bias, act })
    }

    pub fn kernel(&self) -> [usize; 2] {
        self.kernel
    }

    pub fn stride(&self) -> [usize; 2] {
        self.stride
    }

    pub fn channels(&self) -> (usize, usize) {
        (self.cin, self.cout)
    }

    /// Output height and width for an `h` x `w` input.
    pub fn out_size(&self, h: usize, w: usize, pads: Pads) -> (usize, usize) {
        (out_len(h, pads.top, pads.bottom, self.kernel[0], self.stride[0]), out_len(w, pads.left, pads.right, self.kernel[1], self.stride[1]))
    }

    pub fn run(&self, x: &Map, pads: Pads) -> Result<Map> {
        if x.c != self.cin {
            return err(format!("input has {} channels, the layer takes {}", x.c, self.cin));
        }
        let (oh, ow) = self.out_size(x.h, x.w, pads);
        if oh == 0 || ow == 0 {
            return err(format!("a {}x{} input is smaller than the {:?} kernel", x.h, x.w, self.kernel));
        }
        let mut out = match self.kind {
            ConvKind::Dense => self.dense(x, pads, oh, ow),
            ConvKind::Depthwise => self.depthwise(x, pads, oh, ow),
        };
        self.act.apply(&mut out);
        Ok(Map { h: oh, w: ow, c: self.cout, data: out })
    }

    fn dense(&self, x: &Map, pads: Pads, oh: usize, ow: usize) -> Vec<f32> {
        let [kh, kw] = self.kernel;
        let pointwise = kh == 1 && kw == 1 && self.stride == [1, 1] && pads.is_zero();
        if pointwise {
            return matmul_bias(oh * ow, self.cin, &x.data, &self.weight, &self.bias);
        }
        let k = kh * kw * self.cin;
        let mut cols = vec![0f32; oh * ow * k];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut cols[(oy * ow + ox) * k..][..k];
                for ky in 0..kh {
                    let Some(iy) = tap(oy, ky, self.stride[0], pads.top, x.h) else { continue };
                    for kx in 0..kw {
                        let Some(ix) = tap(ox, kx, self.stride[1], pads.left, x.w) else { continue };
                        row[(ky * kw + kx) * self.cin..][..self.cin].copy_from_slice(x.pixel(iy, ix));
                    }
                }
            }
        }
        matmul_bias(oh * ow, k, &cols, &self.weight, &self.bias)
    }

    /// NHWC depthwise with stride 1 is, for one output row and one kernel tap, a single
    /// multiply-add over the row's contiguous run of pixels x channels against the tap's
    /// weights tiled to that run: long unit-stride loops SIMD128 vectorises whole. Pixels whose
    /// taps reach into the padding (the ends of each row) and strided layers go pixel by pixel.
    fn depthwise(&self, x: &Map, pads: Pads, oh: usize, ow: usize) -> Vec<f32> {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let c = self.cin;
        // Output columns whose every tap lies inside the row (stride 1 only).
        let (lo, hi) = if sw == 1 { (pads.left.min(ow), (x.w + pads.left + 1).saturating_sub(kw).min(ow)) } else { (0, 0) };
        let (lo, hi) = if lo < hi { (lo, hi) } else { (0, 0) };
        let run = (hi - lo) * c;
        let tiled: Vec<Vec<f32>> = if run > 0 { (0..kh * kw).map(|t| self.weight[t * c..][..c].repeat(hi - lo)).collect() } else { Vec::new() };
        // Every output starts as its bias; the taps add to it.
        let mut out = self.bias.repeat(oh * ow);
        for oy in 0..oh {
            let (ky0, ky1) = taps(oy, sh, pads.top, x.h, kh);
            let row = &mut out[oy * ow * c..][..ow * c];
            if run > 0 {
                let o = &mut row[lo * c..hi * c];
                for ky in ky0..ky1 {
                    let iy = oy * sh + ky - pads.top;
                    let xs = |kx: usize| &x.data[(iy * x.w + lo + kx - pads.left) * c..][..run];
                    let ws = |kx: usize| &tiled[ky * kw + kx][..run];
                    if kw == 3 {
                        // The row's three taps in one pass: a third of the loads and stores of `o`.
                        let (x0, x1, x2, w0, w1, w2) = (xs(0), xs(1), xs(2), ws(0), ws(1), ws(2));
                        for i in 0..run {
                            o[i] += x0[i] * w0[i] + x1[i] * w1[i] + x2[i] * w2[i];
                        }
                    } else {
                        for kx in 0..kw {
                            for ((a, &v), &k) in o.iter_mut().zip(xs(kx)).zip(ws(kx)) {
                                *a += v * k;
                            }
                        }
                    }
                }
            }
            for ox in (0..lo).chain(hi.max(lo)..ow) {
                let (kx0, kx1) = taps(ox, sw, pads.left, x.w, kw);
                let acc = &mut row[ox * c..][..c];
                for ky in ky0..ky1 {
                    let iy = oy * sh + ky - pads.top;
                    for kx in kx0..kx1 {
                        let px = &x.data[(iy * x.w + ox * sw + kx - pads.left) * c..][..c];
                        for ((a, &v), &k) in acc.iter_mut().zip(px).zip(&self.weight[(ky * kw + kx) * c..][..c]) {
                            *a += v * k;
                        }
                    }
                }
            }
        }
        out
    }
}

/// The kernel taps `k0..k1` of output cell `o` that read input cells (not padding).
fn taps(o: usize, stride: usize, before: usize, len: usize, kernel: usize) -> (usize, usize) {
    let start = o * stride;
    (before.saturating_sub(start), kernel.min((len + before).saturating_sub(start)))
}

/// The input cell an output cell's kernel tap reads, or None where it falls in the padding.
fn tap(o: usize, k: usize, stride: usize, before: usize, len: usize) -> Option<usize> {
    (o * stride + k).checked_sub(before).filter(|&i| i < len)
}

/// `a [m, k] x b [k, n] + bias` (bias broadcast over rows), row-major.
pub(crate) fn matmul_bias(m: usize, k: usize, a: &[f32], b: &[f32], bias: &[f32]) -> Vec<f32> {
    let n = bias.len();
    assert!(a.len() == m * k && b.len() == k * n, "matmul shapes are checked by the callers");
    let mut out = Vec::with_capacity(m * n);
    for _ in 0..m {
        out.extend_from_slice(bias);
    }
    if m == 0 || n == 0 || k == 0 {
        return out;
    }
    // SAFETY: the three buffers hold exactly m*k, k*n and m*n values (checked above), laid out
    // row-major with the strides given; dst does not alias the inputs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            true,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one multiply-add at a time.
    fn reference(conv: &Conv2d, x: &Map, pads: Pads) -> Map {
        let (oh, ow) = conv.out_size(x.h, x.w, pads);
        let [kh, kw] = conv.kernel;
        let mut out = Map::zeros(oh, ow, conv.cout);
        for oy in 0..oh {
            for ox in 0..ow {
                for o in 0..conv.cout {
                    let mut s = conv.bias[o] as f64;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * conv.stride[0] + ky) as isize - pads.top as isize;
                            let ix = (ox * conv.stride[1] + kx) as isize - pads.left as isize;
                            if iy < 0 || ix < 0 || iy >= x.h as isize || ix >= x.w as isize {
                                continue;
                            }
                            let px = x.pixel(iy as usize, ix as usize);
                            match conv.kind {
                                ConvKind::Dense => {
                                    for c in 0..conv.cin {
                                        s += px[c] as f64 * conv.weight[((ky * kw + kx) * conv.cin + c) * conv.cout + o] as f64;
                                    }
                                }
                                ConvKind::Depthwise => s += px[o] as f64 * conv.weight[(ky * kw + kx) * conv.cin + o] as f64,
                            }
                        }
                    }
                    out.data[(oy * ow + ox) * conv.cout + o] = s as f32;
                }
            }
        }
        conv.act.apply(&mut out.data);
        out
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| (((i * 7919 + seed * 104729) % 1009) as f32 / 504.5) - 1.0).collect()
    }

    #[test]
    fn convolutions_equal_their_definition() {
        // 5 channels (the depthwise remainder path alone) and 19 (two register blocks and a remainder).
        for c in [5, 19] {
            check_convolutions(c);
        }
    }

    fn check_convolutions(cin: usize) {
        let x = Map::new(9, 7, cin, values(9 * 7 * cin, 1)).unwrap();
        let cases = [
            (ConvKind::Dense, [1, 1], [1, 1], Pads::default(), 8, Activation::None),
            (ConvKind::Dense, [3, 3], [2, 2], Pads { top: 0, bottom: 1, left: 0, right: 1 }, 6, Activation::Relu),
            (ConvKind::Dense, [5, 5], [2, 2], Pads { top: 1, bottom: 2, left: 1, right: 2 }, 4, Activation::Relu6),
            (ConvKind::Dense, [1, 1], [2, 2], Pads::default(), 3, Activation::None),
            (ConvKind::Depthwise, [3, 3], [1, 1], Pads::same(1, 1), cin, Activation::Relu6),
            (ConvKind::Depthwise, [5, 5], [2, 2], Pads { top: 1, bottom: 2, left: 1, right: 2 }, cin, Activation::None),
            (ConvKind::Depthwise, [3, 3], [2, 2], Pads { top: 0, bottom: 1, left: 0, right: 1 }, cin, Activation::Relu),
        ];
        for (i, (kind, kernel, stride, pads, cout, act)) in cases.into_iter().enumerate() {
            let n = kernel[0] * kernel[1] * cin * if kind == ConvKind::Dense { cout } else { 1 };
            let conv = Conv2d::new(kind, kernel, stride, cin, cout, values(n, i + 2), Some(values(cout, i + 20)), act).unwrap();
            let (got, want) = (conv.run(&x, pads).unwrap(), reference(&conv, &x, pads));
            assert_eq!((got.h, got.w, got.c), (want.h, want.w, want.c), "{cin} channels, case {i}");
            let gap = got.data.iter().zip(&want.data).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(gap < 1e-5, "{cin} channels, case {i}: off by {gap}");
        }
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        assert!(Conv2d::new(ConvKind::Dense, [3, 3], [1, 1], 2, 4, vec![0.0; 10], None, Activation::None).is_err());
        assert!(Conv2d::new(ConvKind::Depthwise, [3, 3], [1, 1], 2, 4, vec![0.0; 18], None, Activation::None).is_err());
        assert!(Conv2d::new(ConvKind::Dense, [1, 1], [1, 1], 2, 2, vec![0.0; 4], Some(vec![0.0; 3]), Activation::None).is_err());
        let conv = Conv2d::new(ConvKind::Dense, [3, 3], [1, 1], 2, 2, vec![0.0; 36], None, Activation::None).unwrap();
        assert!(conv.run(&Map::zeros(4, 4, 3), Pads::default()).is_err(), "wrong channel count");
        assert!(conv.run(&Map::zeros(2, 2, 2), Pads::default()).is_err(), "smaller than the kernel");
        assert!(Map::new(2, 2, 2, vec![0.0; 7]).is_err());
    }
}
