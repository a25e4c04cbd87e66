//! A parsed TF.js graph ([`TfGraph`], facegate-runtime) lowered to burn operations, for the
//! teachers training runs and differentiates through.
//!
//! Activations are NHWC in TF and NCHW in burn. Rank-4 float values are kept NCHW
//! internally (`Value::Act`) and every op that depends on memory order (Reshape,
//! Pad, Concat, Mean axes, Shape) translates from TF's NHWC view, so flatten order and
//! padding sides are exactly TF's.

use crate::lowering::{STEM_MAX_CHANNELS, conv_im2col, max_pool, stem_weight};
use crate::ops::{act4, activate, binary, concat, from_tf_rank1, ints, map_float, nhwc_to_nchw_axis, pad_zero, to_tf_rank1};
use burn::tensor::activation::{relu, sigmoid, softmax};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use facegate_runtime::tfjs::schedule::Schedule;
use facegate_runtime::tfjs::{Act, ConstData, IrOp, Padding, Result, TfGraph, TfjsError, reshape_target, same_pad, strided_slice};
use std::collections::HashMap;
use std::path::Path;

/// A value flowing along a graph edge.
#[derive(Debug, Clone)]
pub enum Value {
    /// Rank-4 float, stored NCHW, meaning TF's NHWC tensor.
    Act(Tensor<4>),
    F3(Tensor<3>),
    F2(Tensor<2>),
    F1(Tensor<1>),
    Scalar(f32),
    /// Integer tensors (shapes, axes, paddings) are tiny and live on the host.
    Ints {
        shape: Vec<usize>,
        data: Vec<i64>,
    },
}

impl Value {
    /// TF's logical shape (NHWC for activations).
    pub fn tf_shape(&self) -> Vec<usize> {
        match self {
            Value::Act(t) => {
                let [n, c, h, w] = t.dims();
                vec![n, h, w, c]
            }
            Value::F3(t) => t.dims().to_vec(),
            Value::F2(t) => t.dims().to_vec(),
            Value::F1(t) => t.dims().to_vec(),
            Value::Scalar(_) => vec![],
            Value::Ints { shape, .. } => shape.clone(),
        }
    }

    /// Row-major data in TF's layout, with its shape.
    pub fn to_tf_vec(&self) -> (Vec<usize>, Vec<f32>) {
        let data = match self {
            Value::Act(t) => t.clone().permute([0, 2, 3, 1]).into_data(),
            Value::F3(t) => t.to_data(),
            Value::F2(t) => t.to_data(),
            Value::F1(t) => t.to_data(),
            Value::Scalar(s) => return (vec![], vec![*s]),
            Value::Ints { shape, data } => return (shape.clone(), data.iter().map(|&v| v as f32).collect()),
        };
        (self.tf_shape(), data.convert::<f32>().try_to_vec::<f32>().expect("f32 data"))
    }

    /// The activation as burn's NCHW tensor, for feature alignment and heads built on top.
    pub fn into_nchw(self) -> Option<Tensor<4>> {
        match self {
            Value::Act(t) => Some(t),
            _ => None,
        }
    }

    pub fn into_f2(self) -> Option<Tensor<2>> {
        match self {
            Value::F2(t) => Some(t),
            _ => None,
        }
    }
}

// A graph holds a few dozen ops, built once: boxing the large burn layer would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Op {
    /// An op with no weights, run as the parse has it.
    Plain(IrOp),
    Const(Value),
    Conv {
        burn: BurnConv,
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        padding: Padding,
        groups: usize,
        act: Act,
    },
    MatMul {
        weight: Tensor<2>,
        bias: Option<Tensor<1>>,
        act: Act,
    },
}

#[derive(Debug, Clone)]
struct BurnConv {
    weight: Tensor<4>,
    /// Kernel and bias as one matrix, for an image stem lowered to im2col + matmul.
    stem: Option<Tensor<2>>,
    bias: Option<Tensor<1>>,
}

#[derive(Debug, Clone)]
struct Node {
    name: String,
    /// The TF op name, for error messages.
    tf_op: String,
    op: Op,
    /// Data inputs that are evaluated (weights folded into the op are not listed).
    inputs: Vec<usize>,
}

/// A TensorFlow.js graph model loaded onto a burn device.
#[derive(Debug, Clone)]
pub struct GraphModel {
    nodes: Vec<Node>,
    index: HashMap<String, usize>,
    input: usize,
    /// Input shape as the graph declares it (`None` where it is dynamic): [N, H, W, C].
    input_shape: [Option<usize>; 4],
    outputs: Vec<String>,
    /// Stored values in the weights manifest (for size reports).
    parameters: usize,
    device: Device,
}

impl GraphModel {
    /// Loads `model.json` and its weight shards from the same folder.
    pub fn load(model_json: &Path, device: &Device) -> Result<Self> {
        Self::lower(TfGraph::load(model_json)?, device)
    }

    /// From bytes: see [`TfGraph::from_bytes`].
    pub fn from_bytes(model_json: &[u8], shards: &[&[u8]], device: &Device) -> Result<Self> {
        Self::lower(TfGraph::from_bytes(model_json, shards)?, device)
    }

    /// The parsed graph as burn operations on `device`.
    pub fn lower(graph: TfGraph, device: &Device) -> Result<Self> {
        let outputs = graph.output_names().into_iter().map(String::from).collect();
        let TfGraph { nodes: ir, index, input, input_shape, parameters } = graph;
        let nodes = ir
            .into_iter()
            .map(|n| {
                let op = match n.op {
                    IrOp::Const(c) => Op::Const(const_value(c, device)),
                    IrOp::Conv(spec) => {
                        let groups = spec.groups();
                        let [kh, kw, cin, _] = spec.shape;
                        let (w, dims) = burn_kernel(&spec.kernel_data, spec.shape, spec.depthwise);
                        let weight = Tensor::<4>::from_data(TensorData::new(w, dims), device);
                        let bias = spec.bias.map(|b| rank1(b, device));
                        let stem = (groups == 1 && cin <= STEM_MAX_CHANNELS && kh * kw > 1).then(|| stem_weight(&weight, bias.as_ref()));
                        Op::Conv {
                            burn: BurnConv { weight, stem, bias },
                            kernel: [kh, kw],
                            stride: spec.stride,
                            dilation: spec.dilation,
                            padding: spec.padding,
                            groups,
                            act: spec.act,
                        }
                    }
                    IrOp::MatMul { weight, shape, transpose_b, bias, act } => {
                        let mut weight = Tensor::<2>::from_data(TensorData::new(weight, shape), device);
                        if transpose_b {
                            weight = weight.transpose();
                        }
                        Op::MatMul { weight, bias: bias.map(|b| rank1(b, device)), act }
                    }
                    plain => Op::Plain(plain),
                };
                Node { name: n.name, tf_op: n.tf_op, op, inputs: n.inputs }
            })
            .collect();
        Ok(GraphModel { nodes, index, input, input_shape, outputs, parameters, device: device.clone() })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// [H, W, C] the graph expects, where it declares them.
    pub fn input_hwc(&self) -> [Option<usize>; 3] {
        [self.input_shape[1], self.input_shape[2], self.input_shape[3]]
    }

    /// The kernel of a convolution node in burn's layout `[out, in / groups, kh, kw]`
    /// (weights can seed another network with the same architecture).
    pub fn conv_weight(&self, node: &str) -> Option<Tensor<4>> {
        match &self.nodes[*self.index.get(node)?].op {
            Op::Conv { burn, .. } => Some(burn.weight.clone()),
            _ => None,
        }
    }

    /// A constant that feeds data inputs (biases, batch-norm scales), in TF's layout.
    pub fn constant(&self, name: &str) -> Option<Value> {
        match &self.nodes[*self.index.get(name)?].op {
            Op::Const(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// How many values the weight shards hold.
    pub fn parameter_count(&self) -> usize {
        self.parameters
    }

    pub fn has_node(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Names of nodes that nothing else consumes: the graph's outputs.
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs.iter().map(String::as_str).collect()
    }

    /// Runs the graph on an NHWC batch and returns the named nodes' values, in order.
    /// Only the nodes those outputs depend on are evaluated.
    pub fn run(&self, input: Tensor<4>, outputs: &[&str]) -> Result<Vec<Value>> {
        let dims = input.dims();
        for (i, want) in self.input_shape.iter().enumerate().skip(1) {
            if let Some(w) = want
                && dims[i] != *w
            {
                return Err(TfjsError::InputShape {
                    h: self.input_shape[1].unwrap_or(0),
                    w: self.input_shape[2].unwrap_or(0),
                    c: self.input_shape[3].unwrap_or(0),
                    got: dims.to_vec(),
                });
            }
        }
        let inputs: Vec<&[usize]> = self.nodes.iter().map(|n| n.inputs.as_slice()).collect();
        let plan = Schedule::new(&self.index, &inputs, outputs)?;
        let mut values: Vec<Option<Value>> = vec![None; self.nodes.len()];
        let mut input = Some(Value::Act(input.permute([0, 3, 1, 2])));
        for (i, node) in self.nodes.iter().enumerate() {
            if !plan.needed[i] {
                continue;
            }
            // A value's last reader takes it, so burn-flex can reuse its buffer in place.
            let args = plan.args(i, &node.inputs, &mut values, |j| matches!(self.nodes[j].op, Op::Const(_)));
            let out = if i == self.input {
                input.take().expect("single input")
            } else {
                self.eval(node, args).map_err(|reason| TfjsError::Node { node: node.name.clone(), op: node.tf_op.clone(), reason })?
            };
            values[i] = Some(out);
        }
        Ok(plan.targets.iter().map(|&t| values[t].clone().expect("target evaluated")).collect())
    }

    fn eval(&self, node: &Node, mut args: Vec<Value>) -> std::result::Result<Value, String> {
        // Takes input i: each input is read once, so it can be moved out.
        let mut arg = |i: usize| args.get_mut(i).map(|v| std::mem::replace(v, Value::Scalar(0.0))).ok_or_else(|| format!("missing input {i}"));
        Ok(match &node.op {
            Op::Plain(IrOp::Input | IrOp::Folded) => unreachable!("not evaluated"),
            Op::Plain(IrOp::Const(_) | IrOp::Conv(_) | IrOp::MatMul { .. }) => unreachable!("lowered with their weights"),
            Op::Const(v) => v.clone(),
            Op::Conv { burn, kernel, stride, dilation, padding, groups, act, .. } => {
                let BurnConv { weight, stem, bias } = burn;
                let x = act4(arg(0)?)?;
                let [_, _, h, w] = x.dims();
                let pads = match padding {
                    Padding::Valid => [(0, 0), (0, 0)],
                    Padding::Same => [same_pad(h, kernel[0], stride[0], dilation[0]), same_pad(w, kernel[1], stride[1], dilation[1])],
                };
                Value::Act(match stem {
                    Some(m) => conv_im2col(x, m, *kernel, *stride, *dilation, pads, |y| activate(y, *act)),
                    None => activate(conv2d(x, weight.clone(), bias.clone(), ConvOptions::new_with_padding(*stride, pads, *dilation, *groups)), *act),
                })
            }
            Op::MatMul { weight, bias, act } => {
                let x = match arg(0)? {
                    Value::F2(t) => t,
                    v => return Err(format!("MatMul needs a rank-2 input, got {:?}", v.tf_shape())),
                };
                let mut y = x.matmul(weight.clone());
                if let Some(b) = bias {
                    y = y + b.clone().unsqueeze::<2>();
                }
                Value::F2(activate(y, *act))
            }
            Op::Plain(IrOp::Binary(op)) => binary(*op, arg(0)?, arg(1)?)?,
            Op::Plain(IrOp::Relu) => map_float(arg(0)?, relu, relu, relu, relu)?,
            Op::Plain(IrOp::Relu6) => {
                map_float(arg(0)?, |t| relu(t).clamp_max(6.0), |t| relu(t).clamp_max(6.0), |t| relu(t).clamp_max(6.0), |t| relu(t).clamp_max(6.0))?
            }
            Op::Plain(IrOp::Sigmoid) => map_float(arg(0)?, sigmoid, sigmoid, sigmoid, sigmoid)?,
            Op::Plain(IrOp::Identity) => arg(0)?,
            Op::Plain(IrOp::Softmax) => match arg(0)? {
                Value::F2(t) => Value::F2(softmax(t, 1)),
                Value::F3(t) => Value::F3(softmax(t, 2)),
                Value::Act(t) => Value::Act(softmax(t, 1)),
                v => return Err(format!("Softmax on {:?}", v.tf_shape())),
            },
            Op::Plain(IrOp::Mean { keep_dims }) => {
                let axes = ints(&arg(1)?)?;
                match arg(0)? {
                    Value::Act(t) => {
                        let mut axes: Vec<usize> = axes.iter().map(|&a| nhwc_to_nchw_axis(a)).collect::<std::result::Result<_, _>>()?;
                        axes.sort();
                        if axes == [2, 3] && !keep_dims {
                            let [n, c, _, _] = t.dims();
                            Value::F2(t.mean_dims(&[2, 3]).reshape([n, c]))
                        } else if axes == [2, 3] {
                            Value::Act(t.mean_dims(&[2, 3]))
                        } else {
                            return Err(format!("Mean over axes {axes:?} is not supported"));
                        }
                    }
                    v => return Err(format!("Mean on {:?}", v.tf_shape())),
                }
            }
            Op::Plain(IrOp::MaxPool { kernel, stride, padding }) => {
                let x = act4(arg(0)?)?;
                let [_, _, h, w] = x.dims();
                let pads = match padding {
                    Padding::Valid => [(0, 0), (0, 0)],
                    Padding::Same => [same_pad(h, kernel[0], stride[0], 1), same_pad(w, kernel[1], stride[1], 1)],
                };
                Value::Act(max_pool(x, *kernel, *stride, pads))
            }
            Op::Plain(IrOp::Reshape) => {
                let src = arg(0)?;
                let from = src.tf_shape();
                let shape = reshape_target(&from, &ints(&arg(1)?)?)?;
                let flat = to_tf_rank1(src)?;
                from_tf_rank1(flat, &shape)?
            }
            Op::Plain(IrOp::Pad) => {
                let p = ints(&arg(1)?)?;
                match arg(0)? {
                    Value::Act(mut t) if p.len() == 8 => {
                        for (tf_axis, pair) in p.chunks(2).enumerate() {
                            let axis = nhwc_to_nchw_axis(tf_axis as i64)?;
                            t = pad_zero(t, axis, pair[0] as usize, pair[1] as usize, &self.device);
                        }
                        Value::Act(t)
                    }
                    v => return Err(format!("Pad on {:?} with {p:?}", v.tf_shape())),
                }
            }
            Op::Plain(IrOp::Concat) => {
                let (axis_v, parts) = args.split_last().ok_or("Concat without inputs")?;
                let axis = ints(axis_v)?.first().copied().ok_or("Concat without axis")?;
                concat(parts, axis)?
            }
            Op::Plain(IrOp::Shape) => {
                let s = arg(0)?.tf_shape();
                Value::Ints { shape: vec![s.len()], data: s.iter().map(|&v| v as i64).collect() }
            }
            Op::Plain(IrOp::StridedSlice { shrink, begin_mask, end_mask }) => {
                let (data, b, e, s) = (ints(&arg(0)?)?, ints(&arg(1)?)?, ints(&arg(2)?)?, ints(&arg(3)?)?);
                let (shape, data) = strided_slice(&data, &b, &e, &s, *shrink, *begin_mask, *end_mask)?;
                Value::Ints { shape, data }
            }
            Op::Plain(IrOp::Pack) => {
                let mut out = Vec::new();
                for a in &args {
                    out.extend(ints(a)?);
                }
                Value::Ints { shape: vec![out.len()], data: out }
            }
        })
    }
}

/// TF kernel `[kh, kw, in, out]` (depthwise: `[kh, kw, in, multiplier]`) to burn's
/// `[out, in / groups, kh, kw]`; a depthwise output channel is `c * multiplier + m`, as in TF.
/// Returns the data and its dims (the group count is `cin` for depthwise, else 1).
fn burn_kernel(k: &[f32], [kh, kw, cin, cout]: [usize; 4], depthwise: bool) -> (Vec<f32>, [usize; 4]) {
    let mut w = vec![0f32; k.len()];
    for y in 0..kh {
        for x in 0..kw {
            for c in 0..cin {
                for o in 0..cout {
                    // Depthwise: out channel c * mult + o with one input channel; else o with cin.
                    let (out, inp, per_group) = if depthwise { (c * cout + o, 0, 1) } else { (o, c, cin) };
                    w[((out * per_group + inp) * kh + y) * kw + x] = k[((y * kw + x) * cin + c) * cout + o];
                }
            }
        }
    }
    if depthwise { (w, [cin * cout, 1, kh, kw]) } else { (w, [cout, cin, kh, kw]) }
}

fn rank1(data: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}

/// A constant as a graph value: int tensors (shapes, axes) and float scalars stay on the host,
/// other float tensors become burn tensors.
fn const_value(c: ConstData, device: &Device) -> Value {
    match c {
        ConstData::I32 { shape, data } => Value::Ints { shape, data: data.into_iter().map(i64::from).collect() },
        ConstData::F32 { shape, data } if data.len() == 1 && shape.iter().all(|&s| s == 1) => Value::Scalar(data[0]),
        ConstData::F32 { shape, data } => match shape.len() {
            0 => Value::Scalar(data[0]),
            1 => Value::F1(Tensor::from_data(TensorData::new(data.clone(), [data.len()]), device)),
            2 => Value::F2(Tensor::from_data(TensorData::new(data, [shape[0], shape[1]]), device)),
            3 => Value::F3(Tensor::from_data(TensorData::new(data, [shape[0], shape[1], shape[2]]), device)),
            _ => Value::Act(Tensor::<4>::from_data(TensorData::new(data, [shape[0], shape[1], shape[2], shape[3]]), device).permute([0, 3, 1, 2])),
        },
    }
}
