//! A TF.js graph turned into typed burn operations.
//!
//! Activations are NHWC in TF and NCHW in burn. Rank-4 float values are kept NCHW
//! internally (`Value::Act`) and every op that depends on memory order (Reshape,
//! Pad, Concat, Mean axes, Shape) translates from TF's NHWC view, so flatten order and
//! padding sides are exactly TF's.

use crate::error::{Result, TfjsError};
use crate::lowering::{STEM_MAX_CHANNELS, conv_im2col, max_pool, stem_weight};
use crate::manifest::{ModelJson, NodeDef};
use crate::ops::{act4, activate, binary, concat, from_tf_rank1, ints, map_float, nhwc_to_nchw_axis, pad_zero, to_tf_rank1};
use crate::schedule::Schedule;
use crate::weights::{ConstData, decode_weight};
use burn::tensor::activation::{relu, sigmoid, softmax};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::{HashMap, HashSet};
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

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Padding {
    Same,
    Valid,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Act {
    None,
    Relu,
    Relu6,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
}

// A graph holds a few dozen ops, built once: boxing the large burn layer would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Input,
    Const(Value),
    /// Only feeds the weights of another op; never evaluated.
    Folded,
    Conv {
        /// The layer on burn; absent in a graph loaded for the host kernels only.
        burn: Option<BurnConv>,
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        padding: Padding,
        groups: usize,
        act: Act,
        /// The same layer for facegate-kernels (TF's layout, bias and activation inside), where
        /// it has a form there: dilation 1, dense or depthwise with multiplier 1.
        host: Option<Box<facegate_kernels::Conv2d>>,
    },
    MatMul {
        weight: Tensor<2>,
        bias: Option<Tensor<1>>,
        act: Act,
    },
    Binary(BinOp),
    Relu,
    Relu6,
    Sigmoid,
    Identity,
    Softmax,
    Mean {
        keep_dims: bool,
    },
    MaxPool {
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: Padding,
    },
    Reshape,
    Pad,
    Concat,
    Shape,
    StridedSlice {
        shrink: i64,
        begin_mask: i64,
        end_mask: i64,
    },
    Pack,
}

#[derive(Debug, Clone)]
pub(crate) struct BurnConv {
    weight: Tensor<4>,
    /// Kernel and bias as one matrix, for an image stem lowered to im2col + matmul.
    stem: Option<Tensor<2>>,
    bias: Option<Tensor<1>>,
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) name: String,
    /// The TF op name, for error messages.
    pub(crate) tf_op: String,
    pub(crate) op: Op,
    /// Data inputs that are evaluated (weights folded into the op are not listed).
    pub(crate) inputs: Vec<usize>,
}

/// A TensorFlow.js graph model loaded onto a burn device.
#[derive(Debug, Clone)]
pub struct GraphModel {
    pub(crate) nodes: Vec<Node>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) input: usize,
    /// Input shape as the graph declares it (`None` where it is dynamic): [N, H, W, C].
    pub(crate) input_shape: [Option<usize>; 4],
    /// Stored values in the weights manifest (for size reports).
    parameters: usize,
    device: Device,
}

fn node_err(n: &NodeDef, reason: impl Into<String>) -> TfjsError {
    TfjsError::Node { node: n.name.clone(), op: n.op.clone(), reason: reason.into() }
}

impl GraphModel {
    /// Loads `model.json` and its weight shards from the same folder.
    pub fn load(model_json: &Path, device: &Device) -> Result<Self> {
        let io = |path: &Path| {
            let p = path.to_path_buf();
            move |source| TfjsError::Io { path: p, source }
        };
        let text = std::fs::read_to_string(model_json).map_err(io(model_json))?;
        let model: ModelJson = serde_json::from_str(&text).map_err(|e| TfjsError::Format { path: model_json.to_path_buf(), reason: e.to_string() })?;
        let dir = model_json.parent().unwrap_or(Path::new("."));
        let mut shards = Vec::new();
        for group in &model.weights_manifest {
            let mut bytes = Vec::new();
            for p in &group.paths {
                let path = dir.join(p);
                bytes.extend(std::fs::read(&path).map_err(io(&path))?);
            }
            shards.push(bytes);
        }
        Self::from_parts::<true>(&model, &shards, device).map_err(|e| match e {
            TfjsError::Format { reason, .. } => TfjsError::Format { path: model_json.to_path_buf(), reason },
            e => e,
        })
    }

    /// Builds a graph from an already parsed manifest and its shard bytes (one per group),
    /// which is how the browser build embeds a model without a file system.
    pub fn from_bytes(model_json: &[u8], shards: &[&[u8]], device: &Device) -> Result<Self> {
        let model: ModelJson = serde_json::from_slice(model_json).map_err(|e| TfjsError::Format { path: "<embedded>".into(), reason: e.to_string() })?;
        let shards: Vec<Vec<u8>> = shards.iter().map(|s| s.to_vec()).collect();
        Self::from_parts::<true>(&model, &shards, device)
    }

    /// The graph as bytes, compiled for the host kernels only: no burn tensor is made, so a
    /// build that runs nothing else (the browser's) links none of burn's kernels.
    pub fn host_from_bytes(model_json: &[u8], shards: &[&[u8]]) -> Result<crate::HostGraph> {
        let model: ModelJson = serde_json::from_slice(model_json).map_err(|e| TfjsError::Format { path: "<embedded>".into(), reason: e.to_string() })?;
        let shards: Vec<Vec<u8>> = shards.iter().map(|s| s.to_vec()).collect();
        Self::from_parts::<false>(&model, &shards, &Device::default())?.host()
    }

    /// `BURN`: make the burn tensors `run` needs (false: only what [`GraphModel::host`] needs;
    /// a constant, so that build links none of burn's ops).
    fn from_parts<const BURN: bool>(model: &ModelJson, shards: &[Vec<u8>], device: &Device) -> Result<Self> {
        let burn = BURN;
        if shards.len() != model.weights_manifest.len() {
            return Err(TfjsError::Format {
                path: "<model>".into(),
                reason: format!("{} weight groups but {} shards", model.weights_manifest.len(), shards.len()),
            });
        }
        let mut consts: HashMap<String, ConstData> = HashMap::new();
        for (group, bytes) in model.weights_manifest.iter().zip(shards) {
            let mut offset = 0;
            for spec in &group.weights {
                let (data, used) = decode_weight(spec, &bytes[offset.min(bytes.len())..])?;
                offset += used;
                consts.insert(spec.name.clone(), data);
            }
        }
        let defs = topo_sort(&model.topology.node)?;
        let by_name: HashMap<&str, &NodeDef> = defs.iter().map(|d| (d.name.as_str(), *d)).collect();

        // Consts feeding only a weight slot are folded into their consumer.
        let weight_slot = |d: &NodeDef, i: usize| -> bool {
            matches!(d.op.as_str(), "Conv2D" | "_FusedConv2D" | "DepthwiseConv2dNative" | "_FusedMatMul" | "MatMul") && i >= 1
        };
        let mut used_as_data: HashSet<&str> = HashSet::new();
        for d in &defs {
            for (i, inp) in d.data_inputs().enumerate() {
                if !weight_slot(d, i) {
                    used_as_data.insert(inp);
                }
            }
        }

        let mut nodes = Vec::with_capacity(defs.len());
        let mut index = HashMap::new();
        let mut input = None;
        let mut input_shape = [None; 4];
        for d in &defs {
            let get_const =
                |name: &str| -> Result<&ConstData> { consts.get(name).ok_or_else(|| node_err(d, format!("input `{name}` is not a stored constant"))) };
            let inputs_named: Vec<&str> = d.data_inputs().collect();
            for inp in &inputs_named {
                if !by_name.contains_key(inp) {
                    return Err(node_err(d, format!("unknown input `{inp}`")));
                }
            }
            let op = match d.op.as_str() {
                "Placeholder" => {
                    if input.is_some() {
                        return Err(node_err(d, "graphs with more than one input are not supported"));
                    }
                    input = Some(nodes.len());
                    if let Some(dims) = d.attr.get("shape").and_then(|s| s.get("shape")).and_then(|s| s.get("dim")).and_then(|v| v.as_array()) {
                        for (i, dim) in dims.iter().take(4).enumerate() {
                            let size = dim.get("size").and_then(|s| s.as_str().and_then(|s| s.parse::<i64>().ok()).or(s.as_i64()));
                            input_shape[i] = size.filter(|&s| s > 0).map(|s| s as usize);
                        }
                    }
                    Op::Input
                }
                "Const" => {
                    if used_as_data.contains(d.name.as_str()) {
                        let c = get_const(&d.name)?;
                        match host_const(c) {
                            Some(v) => Op::Const(v),
                            None if burn => Op::Const(const_value(c, device)),
                            None => return Err(node_err(d, "float tensor constants are not supported by the host kernels")),
                        }
                    } else {
                        Op::Folded
                    }
                }
                "Conv2D" | "_FusedConv2D" | "DepthwiseConv2dNative" => {
                    let depthwise = d.op == "DepthwiseConv2dNative";
                    let (shape, k) = match get_const(inputs_named.get(1).copied().unwrap_or(""))? {
                        ConstData::F32 { shape, data } if shape.len() == 4 => (shape.clone(), data),
                        _ => return Err(node_err(d, "kernel must be a rank-4 float constant")),
                    };
                    if d.attr_string("data_format").is_some_and(|f| f != "NHWC") {
                        return Err(node_err(d, "only NHWC is supported"));
                    }
                    let [kh, kw, cin, cout] = [shape[0], shape[1], shape[2], shape[3]];
                    let groups = if depthwise { cin } else { 1 };
                    let (bias, act) = fused(d, &inputs_named, &consts)?;
                    let host = host_conv(d, k, [kh, kw, cin, cout], depthwise, bias.clone(), act)?;
                    // Burn's kernel layout only where burn runs: the browser's loading skips the transposition.
                    let burn = burn.then(|| {
                        let (w, dims) = burn_kernel(k, [kh, kw, cin, cout], depthwise);
                        let weight = Tensor::<4>::from_data(TensorData::new(w, dims), device);
                        let bias = bias.map(|b| rank1(b, device));
                        let stem = (groups == 1 && cin <= STEM_MAX_CHANNELS && kh * kw > 1).then(|| stem_weight(&weight, bias.as_ref()));
                        BurnConv { weight, stem, bias }
                    });
                    let strides = d.attr_ints("strides").unwrap_or(vec![1, 1, 1, 1]);
                    let dil = d.attr_ints("dilations").unwrap_or(vec![1, 1, 1, 1]);
                    if strides.len() != 4 || dil.len() != 4 {
                        return Err(node_err(d, "strides/dilations must have 4 entries"));
                    }
                    Op::Conv {
                        burn,
                        kernel: [kh, kw],
                        stride: [strides[1] as usize, strides[2] as usize],
                        dilation: [dil[1] as usize, dil[2] as usize],
                        padding: padding(d)?,
                        groups,
                        act,
                        host,
                    }
                }
                "_FusedMatMul" | "MatMul" => {
                    let (shape, k) = match get_const(inputs_named.get(1).copied().unwrap_or(""))? {
                        ConstData::F32 { shape, data } if shape.len() == 2 => (shape.clone(), data.clone()),
                        _ => return Err(node_err(d, "kernel must be a rank-2 float constant")),
                    };
                    if d.attr_bool("transpose_a") == Some(true) {
                        return Err(node_err(d, "transpose_a is not supported"));
                    }
                    if !burn {
                        return Err(node_err(d, "MatMul is not supported by the host kernels"));
                    }
                    let mut weight = Tensor::<2>::from_data(TensorData::new(k, [shape[0], shape[1]]), device);
                    if d.attr_bool("transpose_b") == Some(true) {
                        weight = weight.transpose();
                    }
                    let (bias, act) = fused(d, &inputs_named, &consts)?;
                    Op::MatMul { weight, bias: bias.map(|b| rank1(b, device)), act }
                }
                "Add" | "AddV2" | "BiasAdd" => Op::Binary(BinOp::Add),
                "Sub" => Op::Binary(BinOp::Sub),
                "Mul" => Op::Binary(BinOp::Mul),
                "RealDiv" | "Div" => Op::Binary(BinOp::Div),
                "Minimum" => Op::Binary(BinOp::Min),
                "Maximum" => Op::Binary(BinOp::Max),
                "Relu" => Op::Relu,
                "Relu6" => Op::Relu6,
                "Sigmoid" => Op::Sigmoid,
                "Identity" => Op::Identity,
                "Softmax" => Op::Softmax,
                "Mean" => Op::Mean { keep_dims: d.attr_bool("keep_dims").unwrap_or(false) },
                "MaxPool" => {
                    let k = d.attr_ints("ksize").unwrap_or_default();
                    let s = d.attr_ints("strides").unwrap_or_default();
                    if k.len() != 4 || s.len() != 4 {
                        return Err(node_err(d, "ksize/strides must have 4 entries"));
                    }
                    Op::MaxPool { kernel: [k[1] as usize, k[2] as usize], stride: [s[1] as usize, s[2] as usize], padding: padding(d)? }
                }
                "Reshape" => Op::Reshape,
                "Pad" => Op::Pad,
                "ConcatV2" => Op::Concat,
                "Shape" => Op::Shape,
                "StridedSlice" => {
                    for m in ["ellipsis_mask", "new_axis_mask"] {
                        if d.attr_int(m).unwrap_or(0) != 0 {
                            return Err(node_err(d, format!("{m} is not supported")));
                        }
                    }
                    Op::StridedSlice {
                        shrink: d.attr_int("shrink_axis_mask").unwrap_or(0),
                        begin_mask: d.attr_int("begin_mask").unwrap_or(0),
                        end_mask: d.attr_int("end_mask").unwrap_or(0),
                    }
                }
                "Pack" => {
                    if d.attr_int("axis").unwrap_or(0) != 0 {
                        return Err(node_err(d, "Pack is supported on axis 0 only"));
                    }
                    Op::Pack
                }
                other => return Err(node_err(d, format!("unsupported op `{other}`"))),
            };
            let inputs = match &op {
                Op::Conv { .. } | Op::MatMul { .. } => vec![inputs_named[0]],
                _ => inputs_named.clone(),
            }
            .iter()
            .map(|n| index[*n])
            .collect();
            index.insert(d.name.clone(), nodes.len());
            nodes.push(Node { name: d.name.clone(), tf_op: d.op.clone(), op, inputs });
        }
        let input = input.ok_or_else(|| TfjsError::Format { path: "<model>".into(), reason: "no Placeholder input".into() })?;
        let parameters = model.weights_manifest.iter().flat_map(|g| &g.weights).map(|w| w.shape.iter().product::<usize>()).sum();
        Ok(GraphModel { nodes, index, input, input_shape, parameters, device: device.clone() })
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
            Op::Conv { burn, .. } => burn.as_ref().map(|b| b.weight.clone()),
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
        let mut consumed = vec![false; self.nodes.len()];
        for n in &self.nodes {
            for &i in &n.inputs {
                consumed[i] = true;
            }
        }
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| !consumed[*i] && !matches!(n.op, Op::Const(_) | Op::Folded | Op::Input))
            .map(|(_, n)| n.name.as_str())
            .collect()
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
            Op::Input | Op::Folded => unreachable!("not evaluated"),
            Op::Const(v) => v.clone(),
            Op::Conv { burn, kernel, stride, dilation, padding, groups, act, .. } => {
                let BurnConv { weight, stem, bias } = burn.as_ref().ok_or("graph loaded for the host kernels only")?;
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
            Op::Binary(op) => binary(*op, arg(0)?, arg(1)?)?,
            Op::Relu => map_float(arg(0)?, relu, relu, relu, relu)?,
            Op::Relu6 => map_float(arg(0)?, |t| relu(t).clamp_max(6.0), |t| relu(t).clamp_max(6.0), |t| relu(t).clamp_max(6.0), |t| relu(t).clamp_max(6.0))?,
            Op::Sigmoid => map_float(arg(0)?, sigmoid, sigmoid, sigmoid, sigmoid)?,
            Op::Identity => arg(0)?,
            Op::Softmax => match arg(0)? {
                Value::F2(t) => Value::F2(softmax(t, 1)),
                Value::F3(t) => Value::F3(softmax(t, 2)),
                Value::Act(t) => Value::Act(softmax(t, 1)),
                v => return Err(format!("Softmax on {:?}", v.tf_shape())),
            },
            Op::Mean { keep_dims } => {
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
            Op::MaxPool { kernel, stride, padding } => {
                let x = act4(arg(0)?)?;
                let [_, _, h, w] = x.dims();
                let pads = match padding {
                    Padding::Valid => [(0, 0), (0, 0)],
                    Padding::Same => [same_pad(h, kernel[0], stride[0], 1), same_pad(w, kernel[1], stride[1], 1)],
                };
                Value::Act(max_pool(x, *kernel, *stride, pads))
            }
            Op::Reshape => {
                let src = arg(0)?;
                let from = src.tf_shape();
                let shape = reshape_target(&from, &ints(&arg(1)?)?)?;
                let flat = to_tf_rank1(src)?;
                from_tf_rank1(flat, &shape)?
            }
            Op::Pad => {
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
            Op::Concat => {
                let (axis_v, parts) = args.split_last().ok_or("Concat without inputs")?;
                let axis = ints(axis_v)?.first().copied().ok_or("Concat without axis")?;
                concat(parts, axis)?
            }
            Op::Shape => {
                let s = arg(0)?.tf_shape();
                Value::Ints { shape: vec![s.len()], data: s.iter().map(|&v| v as i64).collect() }
            }
            Op::StridedSlice { shrink, begin_mask, end_mask } => {
                let (data, b, e, s) = (ints(&arg(0)?)?, ints(&arg(1)?)?, ints(&arg(2)?)?, ints(&arg(3)?)?);
                let (shape, data) = strided_slice(&data, &b, &e, &s, *shrink, *begin_mask, *end_mask)?;
                Value::Ints { shape, data }
            }
            Op::Pack => {
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

/// The shape `want` (one entry may be -1) means for a value of shape `from`.
pub(crate) fn reshape_target(from: &[usize], want: &[i64]) -> std::result::Result<Vec<usize>, String> {
    let total: usize = from.iter().product();
    let known: i64 = want.iter().filter(|&&v| v != -1).product();
    let shape: Vec<usize> = want.iter().map(|&v| if v == -1 { total / known.max(1) as usize } else { v.max(0) as usize }).collect();
    if shape.iter().product::<usize>() != total {
        return Err(format!("cannot reshape {from:?} to {want:?}"));
    }
    Ok(shape)
}

/// TF's StridedSlice on a 1-D int tensor with stride 1 (shape arithmetic): shape and values.
pub(crate) fn strided_slice(
    data: &[i64],
    b: &[i64],
    e: &[i64],
    s: &[i64],
    shrink: i64,
    begin_mask: i64,
    end_mask: i64,
) -> std::result::Result<(Vec<usize>, Vec<i64>), String> {
    if b.len() != 1 || e.len() != 1 || s.first() != Some(&1) {
        return Err("StridedSlice is supported on 1-D int tensors with stride 1".into());
    }
    let n = data.len() as i64;
    let fix = |v: i64| if v < 0 { (v + n).max(0) } else { v.min(n) };
    let start = if begin_mask & 1 != 0 { 0 } else { fix(b[0]) };
    let stop = if shrink & 1 != 0 {
        start + 1
    } else if end_mask & 1 != 0 {
        n
    } else {
        fix(e[0])
    };
    let out: Vec<i64> = data[start.min(n) as usize..stop.clamp(start, n) as usize].to_vec();
    Ok(if shrink & 1 != 0 { (vec![], out) } else { (vec![out.len()], out) })
}

/// A convolution node as a facegate-kernels layer, where it has a form there.
fn host_conv(
    d: &NodeDef,
    k: &[f32],
    [kh, kw, cin, cout]: [usize; 4],
    depthwise: bool,
    bias: Option<Vec<f32>>,
    act: Act,
) -> Result<Option<Box<facegate_kernels::Conv2d>>> {
    use facegate_kernels::{Activation, Conv2d, ConvKind};
    let dil = d.attr_ints("dilations").unwrap_or(vec![1, 1, 1, 1]);
    let strides = d.attr_ints("strides").unwrap_or(vec![1, 1, 1, 1]);
    if dil.iter().any(|&v| v != 1) || strides.len() != 4 || (depthwise && cout != 1) {
        return Ok(None);
    }
    let act = match act {
        Act::None => Activation::None,
        Act::Relu => Activation::Relu,
        Act::Relu6 => Activation::Relu6,
    };
    let (kind, cout) = if depthwise { (ConvKind::Depthwise, cin) } else { (ConvKind::Dense, cout) };
    let stride = [strides[1] as usize, strides[2] as usize];
    Conv2d::new(kind, [kh, kw], stride, cin, cout, k.to_vec(), bias, act).map(|c| Some(Box::new(c))).map_err(|e| node_err(d, e.0))
}

fn padding(d: &NodeDef) -> Result<Padding> {
    match d.attr_string("padding").as_deref() {
        Some("SAME") => Ok(Padding::Same),
        Some("VALID") => Ok(Padding::Valid),
        other => Err(node_err(d, format!("unsupported padding {other:?}"))),
    }
}

/// TF 'SAME': output = ceil(in / stride); the odd pixel of padding goes to the end.
pub fn same_pad(input: usize, kernel: usize, stride: usize, dilation: usize) -> (usize, usize) {
    let k = (kernel - 1) * dilation + 1;
    let out = input.div_ceil(stride);
    let total = ((out.max(1) - 1) * stride + k).saturating_sub(input);
    (total / 2, total - total / 2)
}

fn rank1(data: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = data.len();
    Tensor::from_data(TensorData::new(data, [n]), device)
}

/// The bias and activation a fused op adds.
fn fused(d: &NodeDef, inputs: &[&str], consts: &HashMap<String, ConstData>) -> Result<(Option<Vec<f32>>, Act)> {
    let ops = d.attr_strings("fused_ops");
    let mut bias = None;
    let mut act = Act::None;
    for (i, op) in ops.iter().enumerate() {
        match op.as_str() {
            "BiasAdd" if i == 0 => {
                let name = inputs.get(2).ok_or_else(|| node_err(d, "BiasAdd without bias input"))?;
                match consts.get(*name) {
                    Some(ConstData::F32 { data, .. }) => bias = Some(data.clone()),
                    _ => return Err(node_err(d, format!("bias `{name}` is not a float constant"))),
                }
            }
            "Relu" => act = Act::Relu,
            "Relu6" => act = Act::Relu6,
            other => return Err(node_err(d, format!("unsupported fused op `{other}`"))),
        }
    }
    Ok((bias, act))
}

/// A constant that needs no burn tensor: int tensors and float scalars.
fn host_const(c: &ConstData) -> Option<Value> {
    match c {
        ConstData::I32 { shape, data } => Some(Value::Ints { shape: shape.clone(), data: data.iter().map(|&v| v as i64).collect() }),
        ConstData::F32 { shape, data } if data.len() == 1 && shape.iter().all(|&s| s == 1) => Some(Value::Scalar(data[0])),
        ConstData::F32 { .. } => None,
    }
}

/// A float tensor constant on burn (what [`host_const`] leaves).
fn const_value(c: &ConstData, device: &Device) -> Value {
    match c {
        ConstData::I32 { .. } => unreachable!("int constants are host values"),
        ConstData::F32 { shape, data } => match shape.len() {
            0 => Value::Scalar(data[0]),
            1 => Value::F1(Tensor::from_data(TensorData::new(data.clone(), [data.len()]), device)),
            2 => Value::F2(Tensor::from_data(TensorData::new(data.clone(), [shape[0], shape[1]]), device)),
            3 => Value::F3(Tensor::from_data(TensorData::new(data.clone(), [shape[0], shape[1], shape[2]]), device)),
            _ => Value::Act(Tensor::<4>::from_data(TensorData::new(data.clone(), [shape[0], shape[1], shape[2], shape[3]]), device).permute([0, 3, 1, 2])),
        },
    }
}

/// Orders nodes so every node comes after its inputs.
fn topo_sort(defs: &[NodeDef]) -> Result<Vec<&NodeDef>> {
    let by_name: HashMap<&str, usize> = defs.iter().enumerate().map(|(i, d)| (d.name.as_str(), i)).collect();
    let mut state = vec![0u8; defs.len()]; // 0 new, 1 visiting, 2 done
    let mut order = Vec::with_capacity(defs.len());
    for start in 0..defs.len() {
        let mut stack = vec![(start, false)];
        while let Some((i, expanded)) = stack.pop() {
            if expanded {
                state[i] = 2;
                order.push(&defs[i]);
                continue;
            }
            match state[i] {
                2 => continue,
                1 => return Err(node_err(&defs[i], "graph has a cycle")),
                _ => {}
            }
            state[i] = 1;
            stack.push((i, true));
            for inp in defs[i].data_inputs() {
                match by_name.get(inp) {
                    Some(&j) if state[j] == 0 => stack.push((j, false)),
                    Some(&j) if state[j] == 1 => return Err(node_err(&defs[i], "graph has a cycle")),
                    Some(_) => {}
                    None => return Err(node_err(&defs[i], format!("unknown input `{inp}`"))),
                }
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_puts_the_odd_pixel_at_the_end() {
        // 224 -> 112 with a 3x3 stride-2 kernel: TF pads 0 before, 1 after.
        assert_eq!(same_pad(224, 3, 2, 1), (0, 1));
        assert_eq!(same_pad(225, 3, 2, 1), (1, 1));
        assert_eq!(same_pad(16, 5, 1, 1), (2, 2));
        assert_eq!(same_pad(256, 2, 2, 1), (0, 0));
    }
}
