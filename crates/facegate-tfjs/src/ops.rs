//! Element-wise and layout ops on graph values: TF's NHWC view over burn's NCHW storage.

use crate::graph::Value;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use facegate_runtime::tfjs::{Act, BinOp};

pub(crate) fn activate<const D: usize>(t: Tensor<D>, act: Act) -> Tensor<D> {
    match act {
        Act::None => t,
        Act::Relu => relu(t),
        Act::Relu6 => relu(t).clamp_max(6.0),
    }
}

pub(crate) fn act4(v: Value) -> std::result::Result<Tensor<4>, String> {
    match v {
        Value::Act(t) => Ok(t),
        v => Err(format!("expected a rank-4 activation, got shape {:?}", v.tf_shape())),
    }
}

pub(crate) fn ints(v: &Value) -> std::result::Result<Vec<i64>, String> {
    match v {
        Value::Ints { data, .. } => Ok(data.clone()),
        v => Err(format!("expected an int tensor, got shape {:?}", v.tf_shape())),
    }
}

pub(crate) fn nhwc_to_nchw_axis(a: i64) -> std::result::Result<usize, String> {
    match a {
        0 | -4 => Ok(0),
        1 | -3 => Ok(2),
        2 | -2 => Ok(3),
        3 | -1 => Ok(1),
        _ => Err(format!("axis {a} out of range for rank 4")),
    }
}

pub(crate) fn pad_zero(t: Tensor<4>, axis: usize, before: usize, after: usize, device: &Device) -> Tensor<4> {
    if before == 0 && after == 0 {
        return t;
    }
    let dims = t.dims();
    let mut parts = Vec::new();
    let mut zdims = dims;
    if before > 0 {
        zdims[axis] = before;
        parts.push(Tensor::<4>::zeros(zdims, device));
    }
    parts.push(t);
    if after > 0 {
        zdims[axis] = after;
        parts.push(Tensor::<4>::zeros(zdims, device));
    }
    Tensor::cat(parts, axis)
}

pub(crate) fn map_float(
    v: Value,
    f4: impl Fn(Tensor<4>) -> Tensor<4>,
    f3: impl Fn(Tensor<3>) -> Tensor<3>,
    f2: impl Fn(Tensor<2>) -> Tensor<2>,
    f1: impl Fn(Tensor<1>) -> Tensor<1>,
) -> std::result::Result<Value, String> {
    Ok(match v {
        Value::Act(t) => Value::Act(f4(t)),
        Value::F3(t) => Value::F3(f3(t)),
        Value::F2(t) => Value::F2(f2(t)),
        Value::F1(t) => Value::F1(f1(t)),
        v => return Err(format!("float op on {:?}", v.tf_shape())),
    })
}

/// Flattens a value to rank 1 in TF's (row-major, NHWC) order.
pub(crate) fn to_tf_rank1(v: Value) -> std::result::Result<Tensor<1>, String> {
    Ok(match v {
        Value::Act(t) => {
            let n: usize = t.dims().iter().product();
            t.permute([0, 2, 3, 1]).reshape([n])
        }
        Value::F3(t) => {
            let n: usize = t.dims().iter().product();
            t.reshape([n])
        }
        Value::F2(t) => {
            let n: usize = t.dims().iter().product();
            t.reshape([n])
        }
        Value::F1(t) => t,
        v => return Err(format!("cannot reshape {:?}", v.tf_shape())),
    })
}

pub(crate) fn from_tf_rank1(t: Tensor<1>, shape: &[usize]) -> std::result::Result<Value, String> {
    Ok(match shape.len() {
        1 => Value::F1(t),
        2 => Value::F2(t.reshape([shape[0], shape[1]])),
        3 => Value::F3(t.reshape([shape[0], shape[1], shape[2]])),
        4 => Value::Act(t.reshape([shape[0], shape[1], shape[2], shape[3]]).permute([0, 3, 1, 2])),
        r => return Err(format!("rank {r} results are not supported")),
    })
}

pub(crate) fn concat(parts: &[Value], axis: i64) -> std::result::Result<Value, String> {
    let rank = parts.first().ok_or("Concat of nothing")?.tf_shape().len() as i64;
    let axis = if axis < 0 { axis + rank } else { axis };
    macro_rules! cat {
        ($variant:ident, $axis:expr) => {{
            let ts = parts
                .iter()
                .map(|p| match p {
                    Value::$variant(t) => Ok(t.clone()),
                    v => Err(format!("Concat of mixed ranks ({:?})", v.tf_shape())),
                })
                .collect::<std::result::Result<Vec<_>, String>>()?;
            Value::$variant(Tensor::cat(ts, $axis))
        }};
    }
    Ok(match &parts[0] {
        Value::Act(_) => cat!(Act, nhwc_to_nchw_axis(axis)?),
        Value::F3(_) => cat!(F3, axis as usize),
        Value::F2(_) => cat!(F2, axis as usize),
        Value::F1(_) => cat!(F1, 0),
        v => return Err(format!("Concat of {:?}", v.tf_shape())),
    })
}

pub(crate) fn binary(op: BinOp, a: Value, b: Value) -> std::result::Result<Value, String> {
    fn apply<const D: usize>(op: BinOp, x: Tensor<D>, y: Tensor<D>) -> Tensor<D> {
        match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => x / y,
            BinOp::Min => {
                let y = y.expand(x.dims());
                x.min_pair(y)
            }
            BinOp::Max => {
                let y = y.expand(x.dims());
                x.max_pair(y)
            }
        }
    }
    fn scalar<const D: usize>(op: BinOp, x: Tensor<D>, s: f32, swapped: bool) -> Tensor<D> {
        match (op, swapped) {
            (BinOp::Add, _) => x.add_scalar(s),
            (BinOp::Mul, _) => x.mul_scalar(s),
            (BinOp::Min, _) => x.clamp_max(s),
            (BinOp::Max, _) => x.clamp_min(s),
            (BinOp::Sub, false) => x.sub_scalar(s),
            (BinOp::Sub, true) => x.neg().add_scalar(s),
            (BinOp::Div, false) => x.div_scalar(s),
            (BinOp::Div, true) => x.recip().mul_scalar(s),
        }
    }
    Ok(match (a, b) {
        (Value::Scalar(x), Value::Scalar(y)) => Value::Scalar(match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => x / y,
            BinOp::Min => x.min(y),
            BinOp::Max => x.max(y),
        }),
        (v, Value::Scalar(s)) => {
            map_float(v, |t| scalar(op, t, s, false), |t| scalar(op, t, s, false), |t| scalar(op, t, s, false), |t| scalar(op, t, s, false))?
        }
        (Value::Scalar(s), v) => map_float(v, |t| scalar(op, t, s, true), |t| scalar(op, t, s, true), |t| scalar(op, t, s, true), |t| scalar(op, t, s, true))?,
        (Value::Act(x), Value::Act(y)) => Value::Act(apply(op, x, y)),
        (Value::Act(x), Value::F1(y)) => {
            let c = y.dims()[0];
            Value::Act(apply(op, x, y.reshape([1, c, 1, 1])))
        }
        (Value::F1(y), Value::Act(x)) if matches!(op, BinOp::Add | BinOp::Mul | BinOp::Min | BinOp::Max) => {
            let c = y.dims()[0];
            Value::Act(apply(op, x, y.reshape([1, c, 1, 1])))
        }
        (Value::F3(x), Value::F3(y)) => Value::F3(apply(op, x, y)),
        (Value::F3(x), Value::F1(y)) => Value::F3(apply(op, x, y.unsqueeze::<3>())),
        (Value::F2(x), Value::F2(y)) => Value::F2(apply(op, x, y)),
        (Value::F2(x), Value::F1(y)) => Value::F2(apply(op, x, y.unsqueeze::<2>())),
        (Value::F1(x), Value::F1(y)) => Value::F1(apply(op, x, y)),
        (a, b) => return Err(format!("unsupported operands {:?} and {:?}", a.tf_shape(), b.tf_shape())),
    })
}
