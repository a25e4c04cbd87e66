//! The graph run on facegate-kernels: how the browser runs its face detector.
//!
//! Inference only, one image at a time, for the ops a face detector is made of (convolutions,
//! residual adds, ReLU, max pooling, padding, and the shape arithmetic around its outputs).
//! Values stay in TF's NHWC order, so reshapes and flattening need no permutation. The graph
//! is compiled from the parsed [`TfGraph`] training also lowers to burn (same nodes, weights,
//! padding rules); a graph with an op outside this set is refused when compiled, never at run
//! time.

use super::error::{Result, TfjsError};
use super::ir::{Act, BinOp, ConvSpec, IrNode, IrOp, Padding, TfGraph, reshape_target, same_pad, strided_slice};
use super::schedule::Schedule;
use super::weights::ConstData;
use facegate_kernels::{Map, Pads, add_in_place, max_pool, pad};
use std::collections::HashMap;

/// A value on a kernel graph's edge, in TF's layout.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelValue {
    /// A rank-4 float tensor of one image: [1, h, w, c].
    Map(Map),
    /// Any other float tensor, row-major.
    Dense {
        shape: Vec<usize>,
        data: Vec<f32>,
    },
    Ints {
        shape: Vec<usize>,
        data: Vec<i64>,
    },
}

impl KernelValue {
    pub fn tf_shape(&self) -> Vec<usize> {
        match self {
            KernelValue::Map(m) => vec![1, m.h, m.w, m.c],
            KernelValue::Dense { shape, .. } | KernelValue::Ints { shape, .. } => shape.clone(),
        }
    }

    /// Row-major values in TF's layout.
    pub fn into_tf_vec(self) -> Vec<f32> {
        match self {
            KernelValue::Map(m) => m.data,
            KernelValue::Dense { data, .. } => data,
            KernelValue::Ints { data, .. } => data.into_iter().map(|v| v as f32).collect(),
        }
    }

    /// A float tensor of the given shape: rank 4 with one image is a map.
    fn float(shape: Vec<usize>, data: Vec<f32>) -> Self {
        match shape[..] {
            [1, h, w, c] => KernelValue::Map(Map { h, w, c, data }),
            _ => KernelValue::Dense { shape, data },
        }
    }

    pub(super) fn ints(&self) -> std::result::Result<&[i64], String> {
        match self {
            KernelValue::Ints { data, .. } => Ok(data),
            v => Err(format!("expected an int tensor, got shape {:?}", v.tf_shape())),
        }
    }

    fn map(self) -> std::result::Result<Map, String> {
        match self {
            KernelValue::Map(m) => Ok(m),
            v => Err(format!("expected a rank-4 activation of one image, got shape {:?}", v.tf_shape())),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) enum KernelOp {
    Input,
    Const(KernelValue),
    Folded,
    Conv { conv: facegate_kernels::Conv2d, padding: Padding },
    Add,
    Relu,
    Relu6,
    Identity,
    MaxPool { kernel: [usize; 2], stride: [usize; 2], padding: Padding },
    Pad,
    Reshape,
    Concat,
    Shape,
    StridedSlice { shrink: i64, begin_mask: i64, end_mask: i64 },
    Pack,
}

/// A [`TfGraph`] compiled for facegate-kernels.
#[derive(Debug, Clone)]
pub struct KernelGraph {
    pub(super) ops: Vec<KernelOp>,
    pub(super) inputs: Vec<Vec<usize>>,
    pub(super) names: Vec<String>,
    pub(super) tf_ops: Vec<String>,
    pub(super) index: HashMap<String, usize>,
    pub(super) input: usize,
    pub(super) input_shape: [Option<usize>; 4],
    outputs: Vec<String>,
    /// For a residual Add whose only reader is a ReLU: that node and its activation, applied
    /// in the Add's own pass (one pass over the map, not two) unless the Add is requested.
    pub(super) then_act: Vec<Option<(usize, facegate_kernels::Activation)>>,
}

fn compile_node(node: IrNode) -> std::result::Result<KernelOp, String> {
    Ok(match node.op {
        IrOp::Input => KernelOp::Input,
        IrOp::Folded => KernelOp::Folded,
        IrOp::Const(ConstData::I32 { shape, data }) => KernelOp::Const(KernelValue::Ints { shape, data: data.into_iter().map(i64::from).collect() }),
        IrOp::Const(ConstData::F32 { shape, .. }) => return Err(format!("float constant of shape {shape:?} as data")),
        IrOp::Conv(spec) => {
            let padding = spec.padding;
            KernelOp::Conv { conv: kernel_conv(spec)?, padding }
        }
        IrOp::Binary(BinOp::Add) => KernelOp::Add,
        IrOp::Relu => KernelOp::Relu,
        IrOp::Relu6 => KernelOp::Relu6,
        IrOp::Identity => KernelOp::Identity,
        IrOp::MaxPool { kernel, stride, padding } => KernelOp::MaxPool { kernel, stride, padding },
        IrOp::Pad => KernelOp::Pad,
        IrOp::Reshape => KernelOp::Reshape,
        IrOp::Concat => KernelOp::Concat,
        IrOp::Shape => KernelOp::Shape,
        IrOp::StridedSlice { shrink, begin_mask, end_mask } => KernelOp::StridedSlice { shrink, begin_mask, end_mask },
        IrOp::Pack => KernelOp::Pack,
        IrOp::MatMul { .. } | IrOp::Binary(_) | IrOp::Sigmoid | IrOp::Softmax | IrOp::Mean { .. } => return Err("not supported by facegate-kernels".into()),
    })
}

/// A convolution as a facegate-kernels layer (TF's layout, bias and activation inside), where
/// it has a form there: dilation 1, dense or depthwise with multiplier 1.
fn kernel_conv(spec: ConvSpec) -> std::result::Result<facegate_kernels::Conv2d, String> {
    use facegate_kernels::{Activation, Conv2d, ConvKind};
    let [kh, kw, cin, cout] = spec.shape;
    if spec.dilation != [1, 1] || (spec.depthwise && cout != 1) {
        return Err("dilated or channel-multiplying convolution".into());
    }
    let act = match spec.act {
        Act::None => Activation::None,
        Act::Relu => Activation::Relu,
        Act::Relu6 => Activation::Relu6,
    };
    let (kind, cout) = if spec.depthwise { (ConvKind::Depthwise, cin) } else { (ConvKind::Dense, cout) };
    Conv2d::new(kind, [kh, kw], spec.stride, cin, cout, spec.kernel_data, spec.bias, act).map_err(|e| e.0)
}

impl KernelGraph {
    /// `model.json` and its weight shards from the same folder, compiled.
    pub fn load(model_json: &std::path::Path) -> Result<Self> {
        Self::compile(TfGraph::load(model_json)?)
    }

    /// From bytes, as the browser build embeds a model: see [`TfGraph::from_bytes`].
    pub fn from_bytes(model_json: &[u8], shards: &[&[u8]]) -> Result<Self> {
        Self::compile(TfGraph::from_bytes(model_json, shards)?)
    }

    /// The graph for facegate-kernels, or the first node it cannot run.
    pub fn compile(graph: TfGraph) -> Result<Self> {
        let outputs: Vec<String> = graph.output_names().into_iter().map(String::from).collect();
        let TfGraph { nodes, index, input, input_shape, .. } = graph;
        let inputs: Vec<Vec<usize>> = nodes.iter().map(|n| n.inputs.clone()).collect();
        let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
        let tf_ops: Vec<String> = nodes.iter().map(|n| n.tf_op.clone()).collect();
        let mut ops = Vec::with_capacity(nodes.len());
        for node in nodes {
            let (name, op) = (node.name.clone(), node.tf_op.clone());
            ops.push(compile_node(node).map_err(|reason| TfjsError::Node { node: name, op, reason })?);
        }
        let mut readers = vec![Vec::new(); ops.len()];
        for (i, ins) in inputs.iter().enumerate() {
            for &j in ins {
                readers[j].push(i);
            }
        }
        let then_act = (0..ops.len())
            .map(|i| match (&ops[i], readers[i].as_slice()) {
                (KernelOp::Add, &[r]) if inputs[r] == [i] && !outputs.contains(&names[i]) => match ops[r] {
                    KernelOp::Relu => Some((r, facegate_kernels::Activation::Relu)),
                    KernelOp::Relu6 => Some((r, facegate_kernels::Activation::Relu6)),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        Ok(KernelGraph { ops, inputs, names, tf_ops, index, input, input_shape, outputs, then_act })
    }
}

pub(super) fn pads_for(padding: Padding, h: usize, w: usize, kernel: [usize; 2], stride: [usize; 2]) -> Pads {
    match padding {
        Padding::Valid => Pads::default(),
        Padding::Same => {
            let ((top, bottom), (left, right)) = (same_pad(h, kernel[0], stride[0], 1), same_pad(w, kernel[1], stride[1], 1));
            Pads { top, bottom, left, right }
        }
    }
}

impl KernelGraph {
    /// [H, W, C] the graph expects, where it declares them.
    pub fn input_hwc(&self) -> [Option<usize>; 3] {
        [self.input_shape[1], self.input_shape[2], self.input_shape[3]]
    }

    /// Names of nodes that nothing else consumes: the graph's outputs.
    pub fn output_names(&self) -> Vec<&str> {
        self.outputs.iter().map(String::as_str).collect()
    }

    /// Runs the graph on one NHWC image and returns the named nodes' values, in order. Only
    /// the nodes those outputs depend on are evaluated; a value's last reader takes it.
    pub fn run(&self, input: Map, outputs: &[&str]) -> Result<Vec<KernelValue>> {
        let [_, h, w, c] = self.input_shape;
        if [h, w, c].iter().zip([input.h, input.w, input.c]).any(|(want, got)| want.is_some_and(|v| v != got)) {
            return Err(TfjsError::InputShape { h: h.unwrap_or(0), w: w.unwrap_or(0), c: c.unwrap_or(0), got: vec![1, input.h, input.w, input.c] });
        }
        let inputs: Vec<&[usize]> = self.inputs.iter().map(Vec::as_slice).collect();
        let plan = Schedule::new(&self.index, &inputs, outputs)?;
        let mut values: Vec<Option<KernelValue>> = vec![None; self.ops.len()];
        let mut input = Some(KernelValue::Map(input));
        let kept = |j: usize| matches!(self.ops[j], KernelOp::Const(_));
        // ReLUs whose Add already applied them: they pass their input on.
        let mut applied = vec![false; self.ops.len()];
        for i in (0..self.ops.len()).filter(|&i| plan.needed[i]) {
            let ins = &self.inputs[i];
            let node_err = |reason| TfjsError::Node { node: self.names[i].clone(), op: self.tf_ops[i].clone(), reason };
            if let Some(out) = self.read_only(&self.ops[i], ins, &values) {
                values[i] = Some(out.map_err(node_err)?);
                for &j in ins {
                    if plan.last_reader(i, j) && !kept(j) {
                        values[j] = None;
                    }
                }
                continue;
            }
            let args = plan.args(i, ins, &mut values, kept);
            let out = if i == self.input {
                input.take().expect("single input")
            } else if applied[i] {
                args.into_iter().next().expect("the Add's value")
            } else if let Some((r, act)) = self.then_act[i].filter(|_| !plan.targets.contains(&i)) {
                applied[r] = true;
                add(args, act).map_err(node_err)?
            } else {
                self.eval(&self.ops[i], args).map_err(node_err)?
            };
            values[i] = Some(out);
        }
        Ok(plan.targets.iter().map(|&t| values[t].clone().expect("target evaluated")).collect())
    }

    /// Ops that only read their input map run on a borrow, so a map another node still needs
    /// (a residual branch) is not copied for them; None for the other ops.
    fn read_only(&self, op: &KernelOp, ins: &[usize], values: &[Option<KernelValue>]) -> Option<std::result::Result<KernelValue, String>> {
        let map = |k: usize| match ins.get(k).and_then(|&j| values[j].as_ref()) {
            Some(KernelValue::Map(m)) => Ok(m),
            Some(v) => Err(format!("expected a rank-4 activation of one image, got shape {:?}", v.tf_shape())),
            None => Err(format!("missing input {k}")),
        };
        Some(match op {
            KernelOp::Conv { conv, padding } => map(0).and_then(|x| {
                let pads = pads_for(*padding, x.h, x.w, conv.kernel(), conv.stride());
                conv.run(x, pads).map(KernelValue::Map).map_err(|e| e.0)
            }),
            KernelOp::MaxPool { kernel, stride, padding } => map(0).and_then(|x| {
                let pads = pads_for(*padding, x.h, x.w, *kernel, *stride);
                max_pool(x, *kernel, *stride, pads).map(KernelValue::Map).map_err(|e| e.0)
            }),
            KernelOp::Pad => map(0).and_then(|x| {
                let p = ins.get(1).and_then(|&j| values[j].as_ref()).ok_or("missing input 1")?;
                match p.ints()? {
                    [0, 0, top, bottom, left, right, c0, c1] if [top, bottom, left, right, c0, c1].iter().all(|v| **v >= 0) => {
                        let pads = Pads { top: *top as usize, bottom: *bottom as usize, left: *left as usize, right: *right as usize };
                        Ok(KernelValue::Map(pad(x, pads, (*c0 as usize, *c1 as usize))))
                    }
                    p => Err(format!("Pad {p:?} of a batch of one")),
                }
            }),
            _ => return None,
        })
    }

    pub(super) fn eval(&self, op: &KernelOp, mut args: Vec<KernelValue>) -> std::result::Result<KernelValue, String> {
        let mut arg = |i: usize| {
            args.get_mut(i).map(|v| std::mem::replace(v, KernelValue::Ints { shape: vec![], data: vec![] })).ok_or_else(|| format!("missing input {i}"))
        };
        Ok(match op {
            KernelOp::Input | KernelOp::Folded => unreachable!("not evaluated"),
            KernelOp::Conv { .. } | KernelOp::MaxPool { .. } | KernelOp::Pad => unreachable!("run on a borrow (read_only)"),
            KernelOp::Const(v) => v.clone(),
            KernelOp::Add => add(args, facegate_kernels::Activation::None)?,
            KernelOp::Relu | KernelOp::Relu6 => {
                let act = if matches!(op, KernelOp::Relu) { facegate_kernels::Activation::Relu } else { facegate_kernels::Activation::Relu6 };
                match arg(0)? {
                    KernelValue::Map(mut m) => {
                        act.apply(&mut m.data);
                        KernelValue::Map(m)
                    }
                    KernelValue::Dense { shape, mut data } => {
                        act.apply(&mut data);
                        KernelValue::Dense { shape, data }
                    }
                    v => return Err(format!("activation of an int tensor {:?}", v.tf_shape())),
                }
            }
            KernelOp::Identity => arg(0)?,
            KernelOp::Reshape => {
                let (x, want) = (arg(0)?, arg(1)?);
                let shape = reshape_target(&x.tf_shape(), want.ints()?)?;
                KernelValue::float(shape, x.into_tf_vec())
            }
            KernelOp::Concat => {
                let (axis, parts) = args.split_last().ok_or("Concat without inputs")?;
                let axis = *axis.ints()?.first().ok_or("Concat without axis")?;
                concat(parts, axis)?
            }
            KernelOp::Shape => {
                let s = arg(0)?.tf_shape();
                KernelValue::Ints { shape: vec![s.len()], data: s.iter().map(|&v| v as i64).collect() }
            }
            KernelOp::StridedSlice { shrink, begin_mask, end_mask } => {
                let (data, b, e, s) = (arg(0)?, arg(1)?, arg(2)?, arg(3)?);
                let (shape, data) = strided_slice(data.ints()?, b.ints()?, e.ints()?, s.ints()?, *shrink, *begin_mask, *end_mask)?;
                KernelValue::Ints { shape, data }
            }
            KernelOp::Pack => {
                let mut out = Vec::new();
                for a in &args {
                    out.extend_from_slice(a.ints()?);
                }
                KernelValue::Ints { shape: vec![out.len()], data: out }
            }
        })
    }
}

/// `act(a + b)` for a residual Add's two maps, in the first one's buffer.
fn add(args: Vec<KernelValue>, act: facegate_kernels::Activation) -> std::result::Result<KernelValue, String> {
    let mut args = args.into_iter();
    let (mut a, b) = match (args.next(), args.next()) {
        (Some(a), Some(b)) => (a.map()?, b.map()?),
        _ => return Err("Add of fewer than two inputs".into()),
    };
    add_in_place(&mut a, &b, act).map_err(|e| e.0)?;
    Ok(KernelValue::Map(a))
}

/// Row-major concatenation of float tensors along `axis` (negative counts from the end).
fn concat(parts: &[KernelValue], axis: i64) -> std::result::Result<KernelValue, String> {
    let shapes: Vec<Vec<usize>> = parts.iter().map(KernelValue::tf_shape).collect();
    let rank = shapes.first().ok_or("Concat of nothing")?.len();
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    if axis < 0 || axis as usize >= rank {
        return Err(format!("Concat axis {axis} of rank {rank}"));
    }
    let axis = axis as usize;
    let mut shape = shapes[0].clone();
    shape[axis] = 0;
    for s in &shapes {
        if s.len() != rank || s.iter().enumerate().any(|(i, &d)| i != axis && d != shapes[0][i]) {
            return Err(format!("Concat of {:?} and {s:?} along {axis}", shapes[0]));
        }
        shape[axis] += s[axis];
    }
    let outer: usize = shape[..axis].iter().product();
    let data: Vec<Vec<f32>> = parts.iter().map(|p| p.clone().into_tf_vec()).collect();
    let mut out = Vec::with_capacity(shape.iter().product());
    for o in 0..outer {
        for (d, s) in data.iter().zip(&shapes) {
            let inner: usize = s[axis..].iter().product();
            out.extend_from_slice(&d[o * inner..][..inner]);
        }
    }
    Ok(KernelValue::float(shape, out))
}
