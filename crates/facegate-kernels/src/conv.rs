//! 2-D convolution: dense (im2col + one matrix product) and depthwise (direct, along the
//! contiguous channels), each with its bias and activation in the same pass.

use crate::lanes::F4;
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
    pub fn new(
        kind: ConvKind,
        kernel: [usize; 2],
        stride: [usize; 2],
        cin: usize,
        cout: usize,
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
        act: Activation,
    ) -> Result<Self> {
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

    pub fn kind(&self) -> ConvKind {
        self.kind
    }

    /// TF's layout (see the struct): what another backend uploads as it is.
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }

    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    pub fn activation(&self) -> Activation {
        self.act
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
        let out = match self.kind {
            ConvKind::Dense => self.dense(x, pads, oh, ow),
            ConvKind::Depthwise => self.depthwise(x, pads, oh, ow),
        };
        Ok(Map { h: oh, w: ow, c: self.cout, data: out })
    }

    fn dense(&self, x: &Map, pads: Pads, oh: usize, ow: usize) -> Vec<f32> {
        let [kh, kw] = self.kernel;
        let pointwise = kh == 1 && kw == 1 && self.stride == [1, 1] && pads.is_zero();
        if pointwise {
            return matmul_bias(oh * ow, self.cin, &x.data, &self.weight, &self.bias, self.act);
        }
        let k = kh * kw * self.cin;
        let mut cols = vec![0f32; oh * ow * k];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut cols[(oy * ow + ox) * k..][..k];
                let (kx0, kx1) = taps(ox, self.stride[1], pads.left, x.w, kw);
                if kx0 == kx1 {
                    continue;
                }
                let ix0 = ox * self.stride[1] + kx0 - pads.left;
                for ky in 0..kh {
                    let Some(iy) = tap(oy, ky, self.stride[0], pads.top, x.h) else { continue };
                    // The row's taps that read the image are one contiguous run of pixels.
                    let run = (kx1 - kx0) * self.cin;
                    row[(ky * kw + kx0) * self.cin..][..run].copy_from_slice(&x.data[(iy * x.w + ix0) * self.cin..][..run]);
                }
            }
        }
        matmul_bias(oh * ow, k, &cols, &self.weight, &self.bias, self.act)
    }

    /// Depthwise, channels innermost. Layers with 3-wide kernels and whole groups of four
    /// channels (every depthwise layer the detector and the student have) take the register
    /// kernel `depthwise3` on each row's interior; the row ends, where taps reach into the
    /// padding, and every other layer go pixel by pixel.
    fn depthwise(&self, x: &Map, pads: Pads, oh: usize, ow: usize) -> Vec<f32> {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let c = self.cin;
        let fast = kw == 3 && kh <= 3 && c.is_multiple_of(4);
        // Output columns whose every tap lies inside the row: ox * sw >= left and
        // ox * sw + 2 < w + left.
        let (lo, hi) = if fast { (pads.left.div_ceil(sw).min(ow), ((x.w + pads.left).saturating_sub(3) / sw + 1).min(ow)) } else { (0, 0) };
        let (lo, hi) = if lo < hi && x.w + pads.left >= 3 { (lo, hi) } else { (0, 0) };
        let mut out = vec![0f32; oh * ow * c];
        for oy in 0..oh {
            let (ky0, ky1) = taps(oy, sh, pads.top, x.h, kh);
            let row = &mut out[oy * ow * c..][..ow * c];
            if hi > lo {
                let input = |ky: usize| {
                    let iy = oy * sh + ky - pads.top;
                    &x.data[(iy * x.w + lo * sw - pads.left) * c..(iy + 1) * x.w * c]
                };
                let w = |ky: usize| &self.weight[ky * 3 * c..][..3 * c];
                let o = &mut row[lo * c..hi * c];
                let (b, act) = (&self.bias[..], self.act);
                match ky1 - ky0 {
                    3 => depthwise3(o, sw, [input(ky0), input(ky0 + 1), input(ky0 + 2)], [w(ky0), w(ky0 + 1), w(ky0 + 2)], b, act),
                    2 => depthwise3(o, sw, [input(ky0), input(ky0 + 1)], [w(ky0), w(ky0 + 1)], b, act),
                    1 => depthwise3(o, sw, [input(ky0)], [w(ky0)], b, act),
                    _ => depthwise3::<0>(o, sw, [], [], b, act),
                }
            }
            for ox in (0..lo).chain(hi.max(lo)..ow) {
                let (kx0, kx1) = taps(ox, sw, pads.left, x.w, kw);
                let acc = &mut row[ox * c..][..c];
                acc.copy_from_slice(&self.bias);
                for ky in ky0..ky1 {
                    let iy = oy * sh + ky - pads.top;
                    for kx in kx0..kx1 {
                        let px = &x.data[(iy * x.w + ox * sw + kx - pads.left) * c..][..c];
                        for ((a, &v), &k) in acc.iter_mut().zip(px).zip(&self.weight[(ky * kw + kx) * c..][..c]) {
                            *a += v * k;
                        }
                    }
                }
                self.act.apply(acc);
            }
        }
        out
    }
}

/// A 3-wide depthwise convolution along one output row: `out` holds `n` pixels of `c`
/// channels (c a multiple of 4); `rows[r]` is the input row of kernel row r from the pixel
/// under the first output's leftmost tap, at least `((n - 1) * stride + 3) * c` values;
/// `weights[r]` its three taps, `3 * c` values. Each group of four channels keeps its `3R`
/// weight vectors in registers while it walks the row: one load per multiply-add, where a
/// loop over weights tiled along the row needs three (input, weight, running sum).
fn depthwise3<const R: usize>(out: &mut [f32], stride: usize, rows: [&[f32]; R], weights: [&[f32]; R], bias: &[f32], act: Activation) {
    let c = bias.len();
    let n = out.len() / c.max(1);
    assert!(c.is_multiple_of(4) && out.len() == n * c, "a whole number of pixels of whole channel groups");
    let span = (n.max(1) - 1) * stride + 3;
    assert!(rows.iter().all(|r| r.len() >= span * c) && weights.iter().all(|w| w.len() == 3 * c), "rows and taps cover the output");
    for j in (0..c).step_by(4) {
        // SAFETY: j + 4 <= c and every offset below stays inside the lengths asserted above:
        // weights at kx * c + j (kx < 3), inputs at (p * stride + kx) * c + j with p < n,
        // outputs at p * c + j.
        unsafe {
            let b = F4::load(bias.as_ptr().add(j));
            let w: [[F4; 3]; R] = std::array::from_fn(|r| std::array::from_fn(|kx| F4::load(weights[r].as_ptr().add(kx * c + j))));
            let (o, inputs) = (out.as_mut_ptr().add(j), rows.map(|r| r.as_ptr().add(j)));
            for p in 0..n {
                let mut acc = b;
                for r in 0..R {
                    let x = inputs[r].add(p * stride * c);
                    acc = acc.mul_add(F4::load(x), w[r][0]).mul_add(F4::load(x.add(c)), w[r][1]).mul_add(F4::load(x.add(2 * c)), w[r][2]);
                }
                act.lanes(acc).store(o.add(p * c));
            }
        }
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

/// `act(a [m, k] x b [k, n] + bias)` (bias broadcast over rows), row-major; the bias and the
/// activation in one pass over the product.
pub(crate) fn matmul_bias(m: usize, k: usize, a: &[f32], b: &[f32], bias: &[f32], act: Activation) -> Vec<f32> {
    let n = bias.len();
    assert!(a.len() == m * k && b.len() == k * n, "matmul shapes are checked by the callers");
    if m == 0 || n == 0 || k == 0 {
        let mut out = vec![0f32; m * n];
        act.apply_with_bias(&mut out, bias);
        return out;
    }
    // Not zero-filled first: the product overwrites every value (read_dst false), and
    // clearing the outputs was ~3% of the browser frame's profile.
    let mut out: Vec<f32> = Vec::with_capacity(m * n);
    // SAFETY: the three buffers hold m*k, k*n and m*n values (checked above; dst by its
    // capacity), laid out row-major with the strides given; dst does not alias the inputs.
    // With read_dst false gemm only writes dst, every one of its m*n values, so they are
    // initialised when the length is set.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
        out.set_len(m * n);
    }
    act.apply_with_bias(&mut out, bias);
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
                                    for (c, &p) in px.iter().enumerate().take(conv.cin) {
                                        s += p as f64 * conv.weight[((ky * kw + kx) * conv.cin + c) * conv.cout + o] as f64;
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
        // 8 and 20 channels take the depthwise register kernel on each row's interior; 5 and 19
        // go pixel by pixel.
        for c in [5, 8, 19, 20] {
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
            // Rows with one, two and three kernel rows inside the map; no padding; one kernel row.
            (ConvKind::Depthwise, [3, 3], [1, 1], Pads { top: 2, bottom: 2, left: 0, right: 2 }, cin, Activation::Relu),
            (ConvKind::Depthwise, [3, 3], [1, 1], Pads::default(), cin, Activation::None),
            (ConvKind::Depthwise, [1, 3], [1, 1], Pads::same(0, 1), cin, Activation::Relu6),
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
