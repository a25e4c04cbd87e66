//! Starting the anti-spoofing teacher from the HSE face-recognition network: `faceres` is a
//! MobileNet-v1 with exactly PadNet's trunk, trained on millions of faces, so texture and
//! face-structure filters come for free and the small PAD sets only have to teach the task.

use burn::tensor::{Tensor, TensorData};
use facegate_tfjs::{GraphModel, Value};

/// Caffe ImageNet means in BGR order: what `faceres` subtracts (HSE recipe).
const MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];

type Layer = (Tensor<4>, Tensor<1>, Tensor<1>);

fn vector(graph: &GraphModel, name: &str) -> Result<Tensor<1>, String> {
    match graph.constant(name) {
        Some(Value::F1(t)) => Ok(t),
        _ => Err(format!("faceres has no vector constant `{name}`")),
    }
}

fn kernel(graph: &GraphModel, node: &str) -> Result<Tensor<4>, String> {
    graph.conv_weight(node).ok_or_else(|| format!("faceres has no convolution `{node}`"))
}

/// The trunk of `faceres`, as (kernel, scale, shift) per layer for `PadNet::assign_trunk`.
/// Its stem expects BGR with the Caffe mean removed; PadNet feeds RGB / 127.5 - 1, so the
/// stem kernel is reordered and scaled by 127.5 and the mean moves into the shift.
pub fn faceres_trunk(graph: &GraphModel) -> Result<Vec<Layer>, String> {
    let stem = kernel(graph, "conv1_bn/batchnorm_1/mul_1")?;
    let [o, c, kh, kw] = stem.dims();
    if c != 3 {
        return Err(format!("faceres stem has {c} input channels"));
    }
    let device = stem.device();
    let w = stem.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
    let shift = vector(graph, "conv1_bn/batchnorm_1/sub")?.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
    let mut w_rgb = vec![0f32; w.len()];
    let mut shift_rgb = shift.clone();
    let at = |o: usize, c: usize, y: usize, x: usize| ((o * 3 + c) * kh + y) * kw + x;
    for oo in 0..o {
        for bgr in 0..3 {
            for y in 0..kh {
                for x in 0..kw {
                    let v = w[at(oo, bgr, y, x)];
                    w_rgb[at(oo, 2 - bgr, y, x)] = 127.5 * v;
                    shift_rgb[oo] += v * (127.5 - MEAN_BGR[bgr]);
                }
            }
        }
    }
    let ones = |n: usize| Tensor::<1>::ones([n], &device);
    let mut layers = vec![(
        Tensor::<4>::from_data(TensorData::new(w_rgb, [o, c, kh, kw]), &device),
        ones(o),
        Tensor::<1>::from_data(TensorData::new(shift_rgb, [o]), &device),
    )];
    for k in 1..=13 {
        let dw = kernel(graph, &format!("conv_dw_{k}/depthwise"))?;
        layers.push((dw, vector(graph, &format!("conv_dw_{k}_bn/batchnorm_1/mul"))?, vector(graph, &format!("conv_dw_{k}_bn/batchnorm_1/sub"))?));
        let pw = kernel(graph, &format!("conv_pw_{k}_bn/batchnorm_1/mul_1"))?;
        let n = pw.dims()[0];
        layers.push((pw, ones(n), vector(graph, &format!("conv_pw_{k}_bn/batchnorm_1/sub"))?));
    }
    Ok(layers)
}
