//! Two graph ops computed another way than burn-flex's generic kernels, because on the
//! shapes our detector and teachers have those kernels are 2-4x slower (measured natively,
//! docs/decisions/browser-build.md): an image stem (a k x k convolution over 3 channels) and max
//! pooling. Both are exact rearrangements: same sums (up to float reassociation), same maxima.
//! Inference only: the host round trip carries no gradient.

use burn::tensor::{Tensor, TensorData};

/// Input channels up to which a convolution is lowered to im2col + one matmul: the rows
/// are short (`c * kh * kw`), and burn-flex's tiled path pays its set-up per tile.
pub(crate) const STEM_MAX_CHANNELS: usize = 4;

/// Output length of a window of `span` input cells sliding by `stride` over `len` padded cells.
fn out_len(len: usize, (before, after): (usize, usize), span: usize, stride: usize) -> usize {
    (len + before + after - span) / stride + 1
}

/// The stem's matmul operand: burn's `[out, c, kh, kw]` kernel as `[c*kh*kw + 1, out]`,
/// the last row the bias (each patch row ends in a 1), so one matmul adds it.
pub(crate) fn stem_weight(weight: &Tensor<4>, bias: Option<&Tensor<1>>) -> Tensor<2> {
    let [out, c, kh, kw] = weight.dims();
    let bias = bias.cloned().unwrap_or_else(|| Tensor::zeros([out], &weight.device()));
    Tensor::cat(vec![weight.clone().reshape([out, c * kh * kw]), bias.reshape([out, 1])], 1).transpose()
}

/// A groups=1 convolution as `[positions, c*kh*kw + 1] x stem_weight`, with the patch
/// matrix built on the host from NCHW data; `act` runs on the matmul's own (unshared)
/// output, before the NHWC result is viewed as NCHW. Padding is TF's (zeros, asymmetric).
pub(crate) fn conv_im2col(
    x: Tensor<4>,
    stem: &Tensor<2>,
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    pads: [(usize, usize); 2],
    act: impl FnOnce(Tensor<2>) -> Tensor<2>,
) -> Tensor<4> {
    let device = x.device();
    let [n, c, h, w] = x.dims();
    let [kh, kw] = kernel;
    let oh = out_len(h, pads[0], (kh - 1) * dilation[0] + 1, stride[0]);
    let ow = out_len(w, pads[1], (kw - 1) * dilation[1] + 1, stride[1]);
    let k = c * kh * kw + 1;
    let src = x.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 activations");
    let mut cols = vec![0f32; n * oh * ow * k];
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut cols[((b * oh + oy) * ow + ox) * k..][..k];
                row[k - 1] = 1.0;
                for ci in 0..c {
                    let plane = &src[(b * c + ci) * h * w..][..h * w];
                    for ky in 0..kh {
                        let iy = (oy * stride[0] + ky * dilation[0]) as isize - pads[0].0 as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let line = &plane[iy as usize * w..][..w];
                        for kx in 0..kw {
                            let ix = (ox * stride[1] + kx * dilation[1]) as isize - pads[1].0 as isize;
                            if ix >= 0 && ix < w as isize {
                                row[(ci * kh + ky) * kw + kx] = line[ix as usize];
                            }
                        }
                    }
                }
            }
        }
    }
    let cols = Tensor::<2>::from_data(TensorData::new(cols, [n * oh * ow, k]), &device);
    let out = stem.dims()[1];
    act(cols.matmul(stem.clone())).reshape([n, oh, ow, out]).permute([0, 3, 1, 2])
}

/// TF max pooling on NCHW data: padded positions never win (they are not part of the window).
pub(crate) fn max_pool(x: Tensor<4>, kernel: [usize; 2], stride: [usize; 2], pads: [(usize, usize); 2]) -> Tensor<4> {
    let device = x.device();
    let [n, c, h, w] = x.dims();
    let oh = out_len(h, pads[0], kernel[0], stride[0]);
    let ow = out_len(w, pads[1], kernel[1], stride[1]);
    let src = x.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 activations");
    let mut out = Vec::with_capacity(n * c * oh * ow);
    for plane in src.chunks_exact(h * w) {
        for oy in 0..oh {
            let y0 = (oy * stride[0]).saturating_sub(pads[0].0);
            let y1 = (oy * stride[0] + kernel[0]).saturating_sub(pads[0].0).min(h);
            for ox in 0..ow {
                let x0 = (ox * stride[1]).saturating_sub(pads[1].0);
                let x1 = (ox * stride[1] + kernel[1]).saturating_sub(pads[1].0).min(w);
                let mut m = f32::NEG_INFINITY;
                for yy in y0..y1 {
                    for v in &plane[yy * w + x0..yy * w + x1] {
                        m = m.max(*v);
                    }
                }
                out.push(m);
            }
        }
    }
    Tensor::<4>::from_data(TensorData::new(out, [n, c, oh, ow]), &device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;
    use burn::tensor::module::{conv2d, max_pool2d};
    use burn::tensor::ops::{ConvOptions, MaxPoolOptions};

    fn ramp<const D: usize>(dims: [usize; D], seed: usize, device: &Device) -> Tensor<D> {
        let len = dims.iter().product();
        let v: Vec<f32> = (0..len).map(|i| ((i * 7919 + seed) % 1000) as f32 / 500.0 - 1.0).collect();
        Tensor::from_data(TensorData::new(v, dims), device)
    }

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    #[test]
    fn im2col_convolution_equals_burns() {
        let device = Device::flex();
        // A BlazeFace-like stem (5x5, stride 2, TF's asymmetric SAME padding), odd sizes,
        // a batch of two, and a dilated case.
        for (kernel, stride, dilation, pads, hw) in [
            ([5, 5], [2, 2], [1, 1], [(1, 2), (1, 2)], [20, 20]),
            ([3, 3], [2, 1], [1, 1], [(0, 1), (1, 1)], [13, 11]),
            ([3, 3], [1, 1], [2, 2], [(2, 2), (0, 0)], [9, 10]),
        ] {
            let x = ramp([2, 3, hw[0], hw[1]], 1, &device);
            let w = ramp([7, 3, kernel[0], kernel[1]], 2, &device);
            let b = ramp([7], 3, &device);
            let want = conv2d(x.clone(), w.clone(), Some(b.clone()), ConvOptions::new_with_padding(stride, pads, dilation, 1));
            let got = conv_im2col(x, &stem_weight(&w, Some(&b)), kernel, stride, dilation, pads, |t| t);
            assert_eq!(got.dims(), want.dims());
            assert!(max_diff(got, want) < 1e-5);
        }
    }

    #[test]
    fn max_pool_equals_burns_and_ignores_padding() {
        let device = Device::flex();
        let x = ramp([2, 3, 9, 8], 5, &device) - 3.0; // all negative: a zero pad would win
        for (kernel, stride, pads) in [([2, 2], [2, 2], [(0, 0), (0, 0)]), ([3, 3], [2, 2], [(1, 1), (0, 1)])] {
            let opts = MaxPoolOptions::new(kernel).with_stride(stride).with_padding_pairs(pads);
            let want = max_pool2d(x.clone(), opts);
            let got = max_pool(x.clone(), kernel, stride, pads);
            assert_eq!(got.dims(), want.dims());
            assert_eq!(max_diff(got, want), 0.0);
        }
    }
}
