//! A kernel graph as a flat list of layers with every shape resolved, for a backend that
//! plans its buffers and dispatches ahead of time (the WebGPU build, `facegate-gpu`): the same
//! nodes, weights, padding and fused activations [`KernelGraph::run`] executes, in its order.
//!
//! Values are named by the node that made them; nodes that only rename a value (Identity,
//! Reshape: NHWC row-major data is unchanged by them) and the integer shape arithmetic around
//! the outputs leave no layer.

use super::error::{Result, TfjsError};
use super::kernel_graph::{KernelGraph, KernelOp, KernelValue, pads_for};
use super::schedule::Schedule;
use facegate_kernels::{Activation, Conv2d, Pads, out_len};

/// One step over float values; `x`, `y`, `a`, `b` and `parts` are value ids.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer<'g> {
    /// `y = conv(x)`, bias and activation inside; `x` is `h` x `w`.
    Conv {
        x: usize,
        y: usize,
        conv: &'g Conv2d,
        pads: Pads,
        h: usize,
        w: usize,
    },
    /// `y = act(a + b)` (a residual add and the ReLU after it); `node` is the node whose value
    /// `y` holds (the ReLU when it is fused).
    Add {
        a: usize,
        b: usize,
        y: usize,
        act: Activation,
        node: usize,
    },
    /// `y = act(x)`.
    Act {
        x: usize,
        y: usize,
        act: Activation,
    },
    MaxPool {
        x: usize,
        y: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        pads: Pads,
        hwc: [usize; 3],
    },
    /// Zero padding of rows, columns and channels (`channels`: before, after).
    Pad {
        x: usize,
        y: usize,
        pads: Pads,
        channels: (usize, usize),
        hwc: [usize; 3],
    },
    /// Row-major concatenation: for each of `outer` rows, `inner[k]` values of part k in turn.
    Concat {
        parts: Vec<usize>,
        y: usize,
        outer: usize,
        inner: Vec<usize>,
    },
}

/// What [`KernelGraph::layers`] returns: the layers, each value's shape (TF's, by id; empty
/// for ids that are not float values), the input's id and the outputs' ids and shapes (an
/// output may be a reshaped value) in request order.
#[derive(Debug, Clone)]
pub struct Layers<'g> {
    pub layers: Vec<Layer<'g>>,
    pub shapes: Vec<Vec<usize>>,
    pub input: usize,
    pub outputs: Vec<(usize, Vec<usize>)>,
}

impl KernelGraph {
    /// The name of the node that made value `id`.
    pub fn node_name(&self, id: usize) -> Option<&str> {
        self.names.get(id).map(String::as_str)
    }

    /// The layers computing `outputs` from an input of `hwc`, with every shape resolved.
    pub fn layers(&self, hwc: [usize; 3], outputs: &[&str]) -> Result<Layers<'_>> {
        let inputs: Vec<&[usize]> = self.inputs.iter().map(Vec::as_slice).collect();
        let plan = Schedule::new(&self.index, &inputs, outputs)?;
        let n = self.ops.len();
        // Float values carry their shape only; integer ones (shape arithmetic) their values.
        let mut shapes: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut ints: Vec<Option<KernelValue>> = vec![None; n];
        // The value a node stands for: itself, or what it renames.
        let mut alias: Vec<usize> = (0..n).collect();
        let mut fused = vec![false; n];
        let mut layers = Vec::new();
        for i in (0..n).filter(|&i| plan.needed[i]) {
            let node_err = |reason: String| TfjsError::Node { node: self.names[i].clone(), op: self.tf_ops[i].clone(), reason };
            // Shapes by node (a reshaped value has its own), buffers by the value renamed.
            let nodes = &self.inputs[i];
            let ins: Vec<usize> = nodes.iter().map(|&j| alias[j]).collect();
            let hwc_of = |k: usize| -> std::result::Result<[usize; 3], String> {
                match nodes.get(k).map(|&j| shapes[j].as_slice()) {
                    Some(&[1, h, w, c]) => Ok([h, w, c]),
                    other => Err(format!("expected a rank-4 activation of one image, got {other:?}")),
                }
            };
            let int_arg = |k: usize| ins.get(k).and_then(|&j| ints[j].as_ref()).ok_or_else(|| format!("input {k} is not an int tensor"));
            match &self.ops[i] {
                KernelOp::Input => shapes[i] = vec![1, hwc[0], hwc[1], hwc[2]],
                KernelOp::Folded => {}
                KernelOp::Const(v) => ints[i] = Some(v.clone()),
                KernelOp::Conv { conv, padding } => {
                    let [h, w, _] = hwc_of(0).map_err(node_err)?;
                    let pads = pads_for(*padding, h, w, conv.kernel(), conv.stride());
                    let (oh, ow) = conv.out_size(h, w, pads);
                    shapes[i] = vec![1, oh, ow, conv.channels().1];
                    layers.push(Layer::Conv { x: ins[0], y: i, conv, pads, h, w });
                }
                KernelOp::Add => {
                    if ins.len() != 2 || shapes[nodes[0]] != shapes[nodes[1]] {
                        return Err(node_err("Add of two values of one shape".into()));
                    }
                    shapes[i] = shapes[nodes[0]].clone();
                    let (act, node) = match self.then_act[i].filter(|_| !plan.targets.contains(&i)) {
                        Some((r, act)) => {
                            fused[r] = true;
                            (act, r)
                        }
                        None => (Activation::None, i),
                    };
                    layers.push(Layer::Add { a: ins[0], b: ins[1], y: i, act, node });
                }
                KernelOp::Relu | KernelOp::Relu6 if fused[i] => {
                    alias[i] = ins[0];
                    shapes[i] = shapes[nodes[0]].clone();
                }
                KernelOp::Relu | KernelOp::Relu6 => {
                    shapes[i] = shapes[nodes[0]].clone();
                    let act = if matches!(self.ops[i], KernelOp::Relu) { Activation::Relu } else { Activation::Relu6 };
                    layers.push(Layer::Act { x: ins[0], y: i, act });
                }
                KernelOp::Identity => {
                    alias[i] = ins[0];
                    shapes[i] = shapes[nodes[0]].clone();
                }
                KernelOp::MaxPool { kernel, stride, padding } => {
                    let [h, w, c] = hwc_of(0).map_err(node_err)?;
                    let pads = pads_for(*padding, h, w, *kernel, *stride);
                    shapes[i] = vec![1, out_len(h, pads.top, pads.bottom, kernel[0], stride[0]), out_len(w, pads.left, pads.right, kernel[1], stride[1]), c];
                    layers.push(Layer::MaxPool { x: ins[0], y: i, kernel: *kernel, stride: *stride, pads, hwc: [h, w, c] });
                }
                KernelOp::Pad => {
                    let [h, w, c] = hwc_of(0).map_err(node_err)?;
                    let p = int_arg(1).and_then(|v| v.ints().map(<[i64]>::to_vec)).map_err(node_err)?;
                    let [0, 0, top, bottom, left, right, c0, c1] = p[..] else { return Err(node_err(format!("Pad {p:?} of a batch of one"))) };
                    let u = |v: i64| usize::try_from(v).map_err(|_| node_err(format!("negative padding {p:?}")));
                    let pads = Pads { top: u(top)?, bottom: u(bottom)?, left: u(left)?, right: u(right)? };
                    let channels = (u(c0)?, u(c1)?);
                    shapes[i] = vec![1, h + pads.top + pads.bottom, w + pads.left + pads.right, c + channels.0 + channels.1];
                    layers.push(Layer::Pad { x: ins[0], y: i, pads, channels, hwc: [h, w, c] });
                }
                KernelOp::Reshape => {
                    let want = int_arg(1).and_then(|v| v.ints().map(<[i64]>::to_vec)).map_err(node_err)?;
                    shapes[i] = super::ir::reshape_target(&shapes[nodes[0]], &want).map_err(node_err)?;
                    // Same data, new shape: the buffer is its input's.
                    alias[i] = ins[0];
                }
                KernelOp::Concat => {
                    let (axis, parts) = ins.split_last().ok_or_else(|| node_err("Concat without inputs".into()))?;
                    let axis =
                        *ints[*axis].as_ref().and_then(|v| v.ints().ok()).and_then(|a| a.first()).ok_or_else(|| node_err("Concat without axis".into()))?;
                    let parts_at = &nodes[..nodes.len() - 1];
                    let first = shapes[parts_at[0]].clone();
                    let rank = first.len() as i64;
                    let axis = if axis < 0 { axis + rank } else { axis };
                    if !(0..rank).contains(&axis) {
                        return Err(node_err(format!("Concat axis {axis} of rank {rank}")));
                    }
                    let axis = axis as usize;
                    let mut shape = first.clone();
                    shape[axis] = parts_at.iter().map(|&p| shapes[p].get(axis).copied().unwrap_or(0)).sum();
                    if parts_at.iter().any(|&p| shapes[p].len() != first.len() || (0..first.len()).any(|d| d != axis && shapes[p][d] != first[d])) {
                        return Err(node_err(format!("Concat of unequal shapes along {axis}")));
                    }
                    let inner = parts_at.iter().map(|&p| shapes[p][axis..].iter().product()).collect();
                    layers.push(Layer::Concat { parts: parts.to_vec(), y: i, outer: first[..axis].iter().product(), inner });
                    shapes[i] = shape;
                }
                KernelOp::Shape => {
                    let s = &shapes[nodes[0]];
                    ints[i] = Some(KernelValue::Ints { shape: vec![s.len()], data: s.iter().map(|&v| v as i64).collect() });
                }
                op @ (KernelOp::StridedSlice { .. } | KernelOp::Pack) => {
                    let args = ins
                        .iter()
                        .map(|&j| ints[j].clone().ok_or_else(|| node_err("shape arithmetic on a float tensor".into())))
                        .collect::<Result<Vec<_>>>()?;
                    ints[i] = Some(self.eval(op, args).map_err(node_err)?);
                }
            }
        }
        let outputs = plan.targets.iter().map(|&t| (alias[t], shapes[t].clone())).collect();
        Ok(Layers { layers, shapes, input: self.input, outputs })
    }
}

#[cfg(test)]
mod tests {
    use facegate_kernels::{Activation, ConvKind};

    use super::*;

    /// A tiny graph with every layer kind: conv, residual add + ReLU, max pooling, channel
    /// padding, reshape and concat, with their shapes (`facegate-gpu` replays the list against
    /// [`KernelGraph::run`] on the real detector).
    #[test]
    fn layers_replay_the_graph() {
        let graph = crate::tfjs::TfGraph::from_bytes(TINY_JSON.as_bytes(), &[&tiny_weights()]).unwrap();
        let graph = KernelGraph::compile(graph).unwrap();
        let l = graph.layers([4, 4, 2], &["out"]).unwrap();
        let kinds: Vec<&str> = l
            .layers
            .iter()
            .map(|l| match l {
                Layer::Conv { conv, .. } if conv.kind() == ConvKind::Depthwise => "dw",
                Layer::Conv { .. } => "conv",
                Layer::Add { act: Activation::Relu, .. } => "add+relu",
                Layer::Add { .. } => "add",
                Layer::Act { .. } => "act",
                Layer::MaxPool { .. } => "pool",
                Layer::Pad { .. } => "pad",
                Layer::Concat { .. } => "concat",
            })
            .collect();
        assert_eq!(kinds, ["conv", "dw", "add+relu", "pool", "pad", "concat"]);
        assert_eq!(l.outputs[0].1, vec![1, 8, 3]);
        let Layer::Pad { channels, hwc, .. } = &l.layers[4] else { panic!() };
        assert_eq!((*channels, *hwc), ((0, 2), [2, 2, 2]));
        let Layer::Concat { outer, inner, .. } = &l.layers[5] else { panic!() };
        assert_eq!((*outer, inner.clone()), (8, vec![1, 2]));
        assert!(graph.layers([4, 4, 2], &["nope"]).is_err());
    }

    const TINY_JSON: &str = r#"{"format":"graph-model","modelTopology":{"node":[
      {"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"1"},{"size":"4"},{"size":"4"},{"size":"2"}]}},"dtype":{"type":"DT_FLOAT"}}},
      {"name":"k1","op":"Const","attr":{"value":{"tensor":{"dtype":"DT_FLOAT","tensorShape":{"dim":[{"size":"3"},{"size":"3"},{"size":"2"},{"size":"2"}]}}},"dtype":{"type":"DT_FLOAT"}}},
      {"name":"b1","op":"Const","attr":{"value":{"tensor":{"dtype":"DT_FLOAT","tensorShape":{"dim":[{"size":"2"}]}}},"dtype":{"type":"DT_FLOAT"}}},
      {"name":"c1","op":"_FusedConv2D","input":["x","k1","b1"],"attr":{"strides":{"list":{"i":["1","1","1","1"]}},"padding":{"s":"U0FNRQ=="},"fused_ops":{"list":{"s":["Qmlhc0FkZA=="]}},"num_args":{"i":"1"},"dilations":{"list":{"i":["1","1","1","1"]}},"data_format":{"s":"TkhXQw=="}}},
      {"name":"k2","op":"Const","attr":{"value":{"tensor":{"dtype":"DT_FLOAT","tensorShape":{"dim":[{"size":"3"},{"size":"3"},{"size":"2"},{"size":"1"}]}}},"dtype":{"type":"DT_FLOAT"}}},
      {"name":"d1","op":"DepthwiseConv2dNative","input":["c1","k2"],"attr":{"strides":{"list":{"i":["1","1","1","1"]}},"padding":{"s":"U0FNRQ=="},"dilations":{"list":{"i":["1","1","1","1"]}},"data_format":{"s":"TkhXQw=="}}},
      {"name":"a1","op":"AddV2","input":["d1","x"]},
      {"name":"r1","op":"Relu","input":["a1"]},
      {"name":"m1","op":"MaxPool","input":["r1"],"attr":{"ksize":{"list":{"i":["1","2","2","1"]}},"strides":{"list":{"i":["1","2","2","1"]}},"padding":{"s":"VkFMSUQ="},"data_format":{"s":"TkhXQw=="}}},
      {"name":"pp","op":"Const","attr":{"value":{"tensor":{"dtype":"DT_INT32","tensorShape":{"dim":[{"size":"4"},{"size":"2"}]}}},"dtype":{"type":"DT_INT32"}}},
      {"name":"p1","op":"Pad","input":["m1","pp"]},
      {"name":"s1","op":"Const","attr":{"value":{"tensor":{"dtype":"DT_INT32","tensorShape":{"dim":[{"size":"3"}]}}},"dtype":{"type":"DT_INT32"}}},
      {"name":"q1","op":"Reshape","input":["m1","s1"]},
      {"name":"s2","op":"Const","attr":{"value":{"tensor":{"dtype":"DT_INT32","tensorShape":{"dim":[{"size":"3"}]}}},"dtype":{"type":"DT_INT32"}}},
      {"name":"q2","op":"Reshape","input":["p1","s2"]},
      {"name":"ax","op":"Const","attr":{"value":{"tensor":{"dtype":"DT_INT32","tensorShape":{}}},"dtype":{"type":"DT_INT32"}}},
      {"name":"out","op":"ConcatV2","input":["q1","q2","ax"]}
    ]},"weightsManifest":[{"paths":["w.bin"],"weights":[
      {"name":"k1","shape":[3,3,2,2],"dtype":"float32"},{"name":"b1","shape":[2],"dtype":"float32"},
      {"name":"k2","shape":[3,3,2,1],"dtype":"float32"},
      {"name":"pp","shape":[4,2],"dtype":"int32"},{"name":"s1","shape":[3],"dtype":"int32"},{"name":"s2","shape":[3],"dtype":"int32"},{"name":"ax","shape":[],"dtype":"int32"}
    ]}]}"#;

    fn tiny_weights() -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..36 + 2 + 18 {
            out.extend_from_slice(&((i as f32 * 0.37).sin()).to_le_bytes());
        }
        for v in [0i32, 0, 0, 0, 0, 0, 0, 2, 1, 8, 1, 1, 8, 2, 2] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }
}
