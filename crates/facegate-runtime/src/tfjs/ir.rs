//! A TF.js graph model parsed into typed nodes, weights in TF's own layout: the one parse both
//! runners start from. [`crate::tfjs::KernelGraph`] compiles it for facegate-kernels (what the
//! browser runs); training lowers it to burn (`facegate-tfjs`). No tensor library here, so
//! what ships links none.

use super::error::{Result, TfjsError};
use super::manifest::{ModelJson, NodeDef};
use super::weights::{ConstData, decode_weight};
use std::collections::{HashMap, HashSet};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Padding {
    Same,
    Valid,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Act {
    None,
    Relu,
    Relu6,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
}

/// A convolution with its weights folded in (TF's `[kh, kw, in, out]` kernel; depthwise:
/// `[kh, kw, in, multiplier]`), with the bias and activation a fused op adds.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvSpec {
    pub kernel_data: Vec<f32>,
    /// `[kh, kw, cin, cout]` as stored (depthwise: cout is the channel multiplier).
    pub shape: [usize; 4],
    pub depthwise: bool,
    pub bias: Option<Vec<f32>>,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub padding: Padding,
    pub act: Act,
}

impl ConvSpec {
    pub fn kernel(&self) -> [usize; 2] {
        [self.shape[0], self.shape[1]]
    }

    /// Groups of the convolution: one per input channel for a depthwise one.
    pub fn groups(&self) -> usize {
        if self.depthwise { self.shape[2] } else { 1 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum IrOp {
    Input,
    /// A stored constant read as data (biases, shapes, axes).
    Const(ConstData),
    /// A constant that only feeds the weights of another op; never evaluated.
    Folded,
    Conv(ConvSpec),
    /// `x @ weight` (`weight` of `shape` as stored; `transpose_b`: TF's attribute) plus bias.
    MatMul {
        weight: Vec<f32>,
        shape: [usize; 2],
        transpose_b: bool,
        bias: Option<Vec<f32>>,
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

#[derive(Debug, Clone, PartialEq)]
pub struct IrNode {
    pub name: String,
    /// The TF op name, for error messages.
    pub tf_op: String,
    pub op: IrOp,
    /// Data inputs that are evaluated (weights folded into the op are not listed).
    pub inputs: Vec<usize>,
}

/// The parsed graph: nodes in topological order.
#[derive(Debug, Clone, PartialEq)]
pub struct TfGraph {
    pub nodes: Vec<IrNode>,
    pub index: HashMap<String, usize>,
    pub input: usize,
    /// Input shape as the graph declares it (`None` where it is dynamic): [N, H, W, C].
    pub input_shape: [Option<usize>; 4],
    /// Stored values in the weights manifest (for size reports).
    pub parameters: usize,
}

fn node_err(n: &NodeDef, reason: impl Into<String>) -> TfjsError {
    TfjsError::Node { node: n.name.clone(), op: n.op.clone(), reason: reason.into() }
}

impl TfGraph {
    /// Loads `model.json` and its weight shards from the same folder.
    pub fn load(model_json: &Path) -> Result<Self> {
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
        let shards: Vec<&[u8]> = shards.iter().map(Vec::as_slice).collect();
        Self::from_parts(&model, &shards).map_err(|e| match e {
            TfjsError::Format { reason, .. } => TfjsError::Format { path: model_json.to_path_buf(), reason },
            e => e,
        })
    }

    /// From `model.json`'s bytes and its shards' (one per weight group): how the browser
    /// build embeds a model without a file system.
    pub fn from_bytes(model_json: &[u8], shards: &[&[u8]]) -> Result<Self> {
        let model: ModelJson = serde_json::from_slice(model_json).map_err(|e| TfjsError::Format { path: "<embedded>".into(), reason: e.to_string() })?;
        Self::from_parts(&model, shards)
    }

    fn from_parts(model: &ModelJson, shards: &[&[u8]]) -> Result<Self> {
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
                    IrOp::Input
                }
                "Const" if used_as_data.contains(d.name.as_str()) => IrOp::Const(get_const(&d.name)?.clone()),
                "Const" => IrOp::Folded,
                "Conv2D" | "_FusedConv2D" | "DepthwiseConv2dNative" => {
                    let depthwise = d.op == "DepthwiseConv2dNative";
                    let (shape, k) = match get_const(inputs_named.get(1).copied().unwrap_or(""))? {
                        ConstData::F32 { shape, data } if shape.len() == 4 => ([shape[0], shape[1], shape[2], shape[3]], data.clone()),
                        _ => return Err(node_err(d, "kernel must be a rank-4 float constant")),
                    };
                    if d.attr_string("data_format").is_some_and(|f| f != "NHWC") {
                        return Err(node_err(d, "only NHWC is supported"));
                    }
                    let (bias, act) = fused(d, &inputs_named, &consts)?;
                    let strides = d.attr_ints("strides").unwrap_or(vec![1, 1, 1, 1]);
                    let dil = d.attr_ints("dilations").unwrap_or(vec![1, 1, 1, 1]);
                    if strides.len() != 4 || dil.len() != 4 {
                        return Err(node_err(d, "strides/dilations must have 4 entries"));
                    }
                    IrOp::Conv(ConvSpec {
                        kernel_data: k,
                        shape,
                        depthwise,
                        bias,
                        stride: [strides[1] as usize, strides[2] as usize],
                        dilation: [dil[1] as usize, dil[2] as usize],
                        padding: padding(d)?,
                        act,
                    })
                }
                "_FusedMatMul" | "MatMul" => {
                    let (shape, k) = match get_const(inputs_named.get(1).copied().unwrap_or(""))? {
                        ConstData::F32 { shape, data } if shape.len() == 2 => ([shape[0], shape[1]], data.clone()),
                        _ => return Err(node_err(d, "kernel must be a rank-2 float constant")),
                    };
                    if d.attr_bool("transpose_a") == Some(true) {
                        return Err(node_err(d, "transpose_a is not supported"));
                    }
                    let (bias, act) = fused(d, &inputs_named, &consts)?;
                    IrOp::MatMul { weight: k, shape, transpose_b: d.attr_bool("transpose_b") == Some(true), bias, act }
                }
                "Add" | "AddV2" | "BiasAdd" => IrOp::Binary(BinOp::Add),
                "Sub" => IrOp::Binary(BinOp::Sub),
                "Mul" => IrOp::Binary(BinOp::Mul),
                "RealDiv" | "Div" => IrOp::Binary(BinOp::Div),
                "Minimum" => IrOp::Binary(BinOp::Min),
                "Maximum" => IrOp::Binary(BinOp::Max),
                "Relu" => IrOp::Relu,
                "Relu6" => IrOp::Relu6,
                "Sigmoid" => IrOp::Sigmoid,
                "Identity" => IrOp::Identity,
                "Softmax" => IrOp::Softmax,
                "Mean" => IrOp::Mean { keep_dims: d.attr_bool("keep_dims").unwrap_or(false) },
                "MaxPool" => {
                    let k = d.attr_ints("ksize").unwrap_or_default();
                    let s = d.attr_ints("strides").unwrap_or_default();
                    if k.len() != 4 || s.len() != 4 {
                        return Err(node_err(d, "ksize/strides must have 4 entries"));
                    }
                    IrOp::MaxPool { kernel: [k[1] as usize, k[2] as usize], stride: [s[1] as usize, s[2] as usize], padding: padding(d)? }
                }
                "Reshape" => IrOp::Reshape,
                "Pad" => IrOp::Pad,
                "ConcatV2" => IrOp::Concat,
                "Shape" => IrOp::Shape,
                "StridedSlice" => {
                    for m in ["ellipsis_mask", "new_axis_mask"] {
                        if d.attr_int(m).unwrap_or(0) != 0 {
                            return Err(node_err(d, format!("{m} is not supported")));
                        }
                    }
                    IrOp::StridedSlice {
                        shrink: d.attr_int("shrink_axis_mask").unwrap_or(0),
                        begin_mask: d.attr_int("begin_mask").unwrap_or(0),
                        end_mask: d.attr_int("end_mask").unwrap_or(0),
                    }
                }
                "Pack" => {
                    if d.attr_int("axis").unwrap_or(0) != 0 {
                        return Err(node_err(d, "Pack is supported on axis 0 only"));
                    }
                    IrOp::Pack
                }
                other => return Err(node_err(d, format!("unsupported op `{other}`"))),
            };
            let inputs = match &op {
                IrOp::Conv(_) | IrOp::MatMul { .. } => vec![inputs_named[0]],
                _ => inputs_named.clone(),
            }
            .iter()
            .map(|n| index[*n])
            .collect();
            index.insert(d.name.clone(), nodes.len());
            nodes.push(IrNode { name: d.name.clone(), tf_op: d.op.clone(), op, inputs });
        }
        let input = input.ok_or_else(|| TfjsError::Format { path: "<model>".into(), reason: "no Placeholder input".into() })?;
        let parameters = model.weights_manifest.iter().flat_map(|g| &g.weights).map(|w| w.shape.iter().product::<usize>()).sum();
        Ok(TfGraph { nodes, index, input, input_shape, parameters })
    }

    /// [H, W, C] the graph expects, where it declares them.
    pub fn input_hwc(&self) -> [Option<usize>; 3] {
        [self.input_shape[1], self.input_shape[2], self.input_shape[3]]
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
            .filter(|(i, n)| !consumed[*i] && !matches!(n.op, IrOp::Const(_) | IrOp::Folded | IrOp::Input))
            .map(|(_, n)| n.name.as_str())
            .collect()
    }
}

/// The shape `want` (one entry may be -1) means for a value of shape `from`.
pub fn reshape_target(from: &[usize], want: &[i64]) -> std::result::Result<Vec<usize>, String> {
    let total: usize = from.iter().product();
    let known: i64 = want.iter().filter(|&&v| v != -1).product();
    let shape: Vec<usize> = want.iter().map(|&v| if v == -1 { total / known.max(1) as usize } else { v.max(0) as usize }).collect();
    if shape.iter().product::<usize>() != total {
        return Err(format!("cannot reshape {from:?} to {want:?}"));
    }
    Ok(shape)
}

/// TF's StridedSlice on a 1-D int tensor with stride 1 (shape arithmetic): shape and values.
pub fn strided_slice(
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
