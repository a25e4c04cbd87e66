//! The IR on facegate-kernels: NHWC maps for rank-4 values of one image, ONNX's row-major
//! order for the rest, so reshapes permute only where a map meets a flat tensor.

use super::OnnxError;
use super::ir::{Graph, Op, ValueId};
use facegate_kernels::{Activation, Conv2d, ConvKind, Map, Pads};
use std::collections::HashMap;

/// A value during a run.
#[derive(Debug, Clone)]
enum Val {
    Map(Map),
    /// Row-major in ONNX's layout.
    Flat(Vec<f32>),
}

/// Rank-4 values of one image live as NHWC maps.
fn is_map(shape: &[usize]) -> bool {
    shape.len() == 4 && shape[0] == 1
}

#[derive(Debug, Clone)]
enum Step {
    Conv {
        conv: Conv2d,
        pads: Pads,
    },
    /// Per channel (channels innermost, as compiled), or one value for all.
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    PRelu {
        slope: Vec<f32>,
    },
    Relu,
    Sigmoid,
    Add,
    Mul,
    /// `inputs[map]` is the map, the other its `[1, C, 1, 1]` gate.
    Gate {
        map: usize,
    },
    GlobalAveragePool,
    Reshape,
    Gemm {
        weight: Vec<f32>,
        bias: Vec<f32>,
        k: usize,
    },
}

#[derive(Clone)]
pub(crate) struct Plan {
    pub source: String,
    steps: Vec<Step>,
    step_inputs: Vec<Vec<ValueId>>,
    step_output: Vec<ValueId>,
    step_names: Vec<(String, String)>,
    /// The step that writes each value (None: the input).
    producer: Vec<Option<usize>>,
    shapes: Vec<Vec<usize>>,
    input: ValueId,
    pub names: HashMap<String, ValueId>,
    pub folded: HashMap<String, String>,
    pub outputs: Vec<String>,
    pub parameter_count: usize,
    /// Multiply-accumulates of one image through every convolution and Gemm.
    pub macs: u64,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the weights: millions of numbers.
        f.debug_struct("OnnxModel")
            .field("source", &self.source)
            .field("input", &self.shapes[self.input])
            .field("steps", &self.steps.len())
            .field("outputs", &self.outputs)
            .field("parameters", &self.parameter_count)
            .finish()
    }
}

/// NCHW [1, c, h, w] to a map.
fn to_map(shape: &[usize], data: &[f32]) -> Map {
    let (c, h, w) = (shape[1], shape[2], shape[3]);
    let mut out = vec![0f32; c * h * w];
    for ch in 0..c {
        for (p, &v) in data[ch * h * w..][..h * w].iter().enumerate() {
            out[p * c + ch] = v;
        }
    }
    Map { h, w, c, data: out }
}

fn to_nchw(m: &Map) -> Vec<f32> {
    let (hw, c) = (m.h * m.w, m.c);
    let mut out = vec![0f32; hw * c];
    for (p, px) in m.data.chunks_exact(c.max(1)).enumerate() {
        for (ch, &v) in px.iter().enumerate() {
            out[ch * hw + p] = v;
        }
    }
    out
}

/// A per-axis vector as the executor applies it (channels innermost): `axis` must be the
/// channels of a map or the last axis of a flat tensor, unless the vector is one value.
fn innermost(shape: &[usize], axis: usize, len: usize) -> bool {
    len == 1 || if is_map(shape) { axis == 1 } else { axis + 1 == shape.len() }
}

impl Plan {
    pub fn compile(g: &Graph) -> Result<Self, OnnxError> {
        let unsupported = |node: &str, op: String| OnnxError::Unsupported { path: g.source.clone(), node: node.to_string(), op };
        let shapes: Vec<Vec<usize>> = g.values.iter().map(|v| v.shape.clone()).collect();
        let mut producer = vec![None; shapes.len()];
        let mut steps = Vec::with_capacity(g.nodes.len());
        let mut macs = 0u64;
        for (i, n) in g.nodes.iter().enumerate() {
            producer[n.output] = Some(i);
            let xs = &shapes[n.inputs[0]];
            let step = match &n.op {
                Op::Conv { weight, bias, kernel, stride, pads, group } => {
                    let (cout, cin) = (shapes[n.output][1], xs[1]);
                    let [kh, kw] = *kernel;
                    let per = cin / group.max(&1) * kh * kw;
                    if weight.len() != cout * per || (*group != 1 && (*group != cin || cin != cout)) {
                        return Err(unsupported(&n.name, format!("Conv ({} weights, group {group}, {cin} -> {cout} channels)", weight.len())));
                    }
                    macs += (shapes[n.output].iter().product::<usize>() * per) as u64;
                    let (kind, w) = if *group == 1 {
                        // [cout, cin, kh, kw] -> [kh, kw, cin, cout]
                        let mut w = vec![0f32; weight.len()];
                        for o in 0..cout {
                            for ci in 0..cin {
                                for t in 0..kh * kw {
                                    w[(t * cin + ci) * cout + o] = weight[o * per + ci * kh * kw + t];
                                }
                            }
                        }
                        (ConvKind::Dense, w)
                    } else {
                        // [c, 1, kh, kw] -> [kh, kw, c]
                        let mut w = vec![0f32; weight.len()];
                        for ch in 0..cout {
                            for t in 0..kh * kw {
                                w[t * cout + ch] = weight[ch * kh * kw + t];
                            }
                        }
                        (ConvKind::Depthwise, w)
                    };
                    let conv = Conv2d::new(kind, *kernel, *stride, cin, cout, w, Some(bias.clone()), Activation::None)
                        .map_err(|e| unsupported(&n.name, format!("Conv ({})", e.0)))?;
                    let [top, left, bottom, right] = *pads;
                    Step::Conv { conv, pads: Pads { top, bottom, left, right } }
                }
                Op::Affine { axis, scale, shift } => {
                    if !innermost(xs, *axis, scale.len()) {
                        return Err(unsupported(&n.name, format!("{} along axis {axis} of {xs:?}", n.onnx_op)));
                    }
                    Step::Affine { scale: scale.clone(), shift: shift.clone() }
                }
                Op::PRelu { axis, slope } => {
                    if !innermost(xs, *axis, slope.len()) {
                        return Err(unsupported(&n.name, format!("PRelu along axis {axis} of {xs:?}")));
                    }
                    Step::PRelu { slope: slope.clone() }
                }
                Op::Relu => Step::Relu,
                Op::Sigmoid => Step::Sigmoid,
                Op::Add => Step::Add,
                Op::Mul => {
                    let (a, b) = (&shapes[n.inputs[0]], &shapes[n.inputs[1]]);
                    if a == b {
                        Step::Mul
                    } else if !is_map(a) || !is_map(b) {
                        return Err(unsupported(&n.name, format!("Mul of {a:?} by {b:?}")));
                    } else {
                        Step::Gate { map: if a[2] * a[3] >= b[2] * b[3] { 0 } else { 1 } }
                    }
                }
                Op::GlobalAveragePool => {
                    if !is_map(xs) {
                        return Err(unsupported(&n.name, format!("GlobalAveragePool of {xs:?} (batch 1 only)")));
                    }
                    Step::GlobalAveragePool
                }
                Op::Reshape => Step::Reshape,
                Op::Gemm { weight, bias, k, .. } => {
                    macs += weight.len() as u64;
                    Step::Gemm { weight: weight.clone(), bias: bias.clone(), k: *k }
                }
            };
            steps.push(step);
        }
        if !is_map(&shapes[g.input]) {
            return Err(unsupported(&g.values[g.input].name, format!("input of shape {:?} (one image, [1, C, H, W])", shapes[g.input])));
        }
        Ok(Self {
            source: g.source.clone(),
            steps,
            step_inputs: g.nodes.iter().map(|n| n.inputs.clone()).collect(),
            step_output: g.nodes.iter().map(|n| n.output).collect(),
            step_names: g.nodes.iter().map(|n| (n.name.clone(), n.onnx_op.clone())).collect(),
            producer,
            shapes,
            input: g.input,
            names: g.names.clone(),
            folded: g.folded.clone(),
            outputs: g.outputs.clone(),
            parameter_count: g.parameter_count,
            macs,
        })
    }

    pub fn input_chw(&self) -> [usize; 3] {
        let s = &self.shapes[self.input];
        [s[1], s[2], s[3]]
    }

    pub fn run(&self, input: &[f32], outputs: &[&str]) -> Result<Vec<super::Tensor>, OnnxError> {
        let want: usize = self.input_chw().iter().product();
        if input.len() != want {
            return Err(OnnxError::Input { want, got: input.len() });
        }
        let targets: Vec<ValueId> = outputs
            .iter()
            .map(|&name| {
                self.names.get(name).copied().ok_or_else(|| OnnxError::UnknownOutput {
                    name: name.to_string(),
                    reason: self.folded.get(name).cloned().unwrap_or_else(|| format!("no value of that name in {}", self.source)),
                })
            })
            .collect::<Result<_, _>>()?;
        // The steps the targets need, and the last step that reads each value.
        let mut needed = vec![false; self.steps.len()];
        let mut stack: Vec<usize> = targets.iter().filter_map(|&t| self.producer[t]).collect();
        while let Some(s) = stack.pop() {
            if !std::mem::replace(&mut needed[s], true) {
                stack.extend(self.step_inputs[s].iter().filter_map(|&v| self.producer[v]));
            }
        }
        let mut last_use = vec![0usize; self.shapes.len()];
        for s in (0..self.steps.len()).filter(|&s| needed[s]) {
            for &v in &self.step_inputs[s] {
                last_use[v] = last_use[v].max(s);
            }
        }
        for &t in &targets {
            last_use[t] = usize::MAX;
        }
        let mut values: Vec<Option<Val>> = vec![None; self.shapes.len()];
        values[self.input] = Some(Val::Map(to_map(&self.shapes[self.input], input)));
        for s in (0..self.steps.len()).filter(|&s| needed[s]) {
            let ins = &self.step_inputs[s];
            let out = self.step(s, ins, &mut values, &last_use).map_err(|reason| {
                let (node, op) = self.step_names[s].clone();
                OnnxError::Node { node, op, reason }
            })?;
            for &v in ins {
                if last_use[v] == s {
                    values[v] = None;
                }
            }
            values[self.step_output[s]] = Some(out);
        }
        Ok(targets
            .iter()
            .map(|&t| {
                let shape = self.shapes[t].clone();
                let data = match values[t].as_ref().expect("targets are evaluated") {
                    Val::Map(m) => to_nchw(m),
                    Val::Flat(v) => v.clone(),
                };
                super::Tensor { shape, data }
            })
            .collect())
    }

    fn step(&self, s: usize, ins: &[ValueId], values: &mut [Option<Val>], last_use: &[usize]) -> Result<Val, String> {
        fn get<'v>(values: &'v [Option<Val>], ins: &[ValueId], k: usize) -> Result<&'v Val, String> {
            values[ins[k]].as_ref().ok_or_else(|| format!("input {k} not evaluated"))
        }
        fn data(v: &mut Val) -> &mut Vec<f32> {
            match v {
                Val::Map(m) => &mut m.data,
                Val::Flat(d) => d,
            }
        }
        // The value of input k, moved out when this step is its last reader (and no other
        // input of the step is the same value), copied otherwise.
        let take = |values: &mut [Option<Val>], k: usize| -> Result<Val, String> {
            let v = ins[k];
            if last_use[v] == s && ins.iter().filter(|&&j| j == v).count() == 1 {
                values[v].take().ok_or_else(|| format!("input {k} not evaluated"))
            } else {
                get(values, ins, k).cloned()
            }
        };
        let kernel = |e: facegate_kernels::KernelError| e.0;
        Ok(match &self.steps[s] {
            Step::Conv { conv, pads } => match get(values, ins, 0)? {
                Val::Map(x) => Val::Map(conv.run(x, *pads).map_err(kernel)?),
                Val::Flat(_) => return Err("a convolution of a flat tensor".into()),
            },
            Step::Affine { scale, shift } => {
                let mut x = take(values, 0)?;
                facegate_kernels::affine(data(&mut x), scale, shift).map_err(kernel)?;
                x
            }
            Step::PRelu { slope } => {
                let mut x = take(values, 0)?;
                facegate_kernels::prelu(data(&mut x), slope).map_err(kernel)?;
                x
            }
            Step::Relu => {
                let mut x = take(values, 0)?;
                // Written out, not Activation::Relu, which maps NaN to 0: NaN input stays NaN.
                data(&mut x).iter_mut().for_each(|v| *v = if *v < 0.0 { 0.0 } else { *v });
                x
            }
            Step::Sigmoid => {
                let mut x = take(values, 0)?;
                facegate_kernels::sigmoid(data(&mut x));
                x
            }
            Step::Add | Step::Mul => {
                let mut a = take(values, 0)?;
                let b = get(values, ins, 1)?;
                let bd = match b {
                    Val::Map(m) => &m.data,
                    Val::Flat(d) => d,
                };
                let ad = data(&mut a);
                if ad.len() != bd.len() {
                    return Err(format!("operands of {} and {} values", ad.len(), bd.len()));
                }
                if matches!(self.steps[s], Step::Add) {
                    ad.iter_mut().zip(bd).for_each(|(x, y)| *x += y);
                } else {
                    ad.iter_mut().zip(bd).for_each(|(x, y)| *x *= y);
                }
                a
            }
            Step::Gate { map } => {
                let mut x = take(values, *map)?;
                let gate = match get(values, ins, 1 - map)? {
                    Val::Map(g) if g.h * g.w == 1 => g.data.clone(),
                    _ => return Err("the gate is not a [1, C, 1, 1] map".into()),
                };
                match &mut x {
                    Val::Map(m) => facegate_kernels::scale_channels(m, &gate).map_err(kernel)?,
                    Val::Flat(_) => return Err("a gated flat tensor".into()),
                }
                x
            }
            Step::GlobalAveragePool => match get(values, ins, 0)? {
                Val::Map(x) => {
                    let mean = facegate_kernels::mean_window(x, 0..x.h, 0..x.w).map_err(kernel)?;
                    Val::Map(Map { h: 1, w: 1, c: x.c, data: mean })
                }
                Val::Flat(_) => return Err("pooling a flat tensor".into()),
            },
            Step::Reshape => {
                let to = &self.shapes[self.step_output[s]];
                let flat = match take(values, 0)? {
                    Val::Map(m) => to_nchw(&m),
                    Val::Flat(d) => d,
                };
                if flat.len() != to.iter().product::<usize>() {
                    return Err(format!("reshape of {} values to {to:?}", flat.len()));
                }
                if is_map(to) { Val::Map(to_map(to, &flat)) } else { Val::Flat(flat) }
            }
            Step::Gemm { weight, bias, k } => {
                let x = match get(values, ins, 0)? {
                    Val::Flat(d) => d,
                    Val::Map(_) => return Err("a matrix product of a map".into()),
                };
                if *k == 0 || !x.len().is_multiple_of(*k) {
                    return Err(format!("{} values in rows of {k}", x.len()));
                }
                let mut out = Vec::with_capacity(x.len() / k * bias.len());
                for row in x.chunks_exact(*k) {
                    out.extend(facegate_kernels::linear(row, weight, bias).map_err(kernel)?);
                }
                Val::Flat(out)
            }
        })
    }
}
