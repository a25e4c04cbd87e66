//! An imported ONNX graph ([`facegate_runtime::onnx::ir::Graph`]) lowered to burn, so that its weights
//! can be fine-tuned, and written back into the graph for the kernels ([`OnnxNet::to_graph`]).
//!
//! Every weight of the folded graph is a trainable [`Param`] (convolutions with their batch
//! norms folded, affine scale/shift, PReLU slopes, Gemm); the wiring is a plan kept beside the
//! parameters. The graph's shapes are batch 1; dim 0 is taken as the batch here. Every value is
//! held as a rank-4 tensor (lower ranks padded with trailing 1s, which keeps row-major order).

use burn::module::{Module, Param};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use facegate_runtime::onnx::ir::{Graph, Op, ValueId};

#[derive(Module, Debug)]
pub struct ConvLayer {
    /// ONNX's `[cout, cin / group, kh, kw]`.
    pub weight: Param<Tensor<4>>,
    pub bias: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
pub struct AffineLayer {
    pub scale: Param<Tensor<1>>,
    pub shift: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
pub struct GemmLayer {
    /// `[k, n]`.
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Conv { stride: [usize; 2], pads: [usize; 4], group: usize },
    Affine { axis: usize },
    PRelu { axis: usize },
    Relu,
    Sigmoid,
    Add,
    Mul,
    Gap,
    Reshape,
    Gemm,
}

/// One node: what it does, which parameter set (index into its kind's `Vec`), its inputs and
/// its output value, and the output's shape padded to rank 4 (batch 1).
#[derive(Debug, Clone)]
pub struct Step {
    kind: Kind,
    index: usize,
    inputs: Vec<ValueId>,
    output: ValueId,
    shape: [usize; 4],
}

/// The graph's wiring: its steps in topological order, the input and output values.
#[derive(Debug, Clone)]
pub struct Plan {
    steps: Vec<Step>,
    input: ValueId,
    output: ValueId,
    output_rank: usize,
    values: usize,
}

#[derive(Module, Debug)]
pub struct OnnxNet {
    pub convs: Vec<ConvLayer>,
    pub affines: Vec<AffineLayer>,
    pub prelus: Vec<Param<Tensor<1>>>,
    pub gemms: Vec<GemmLayer>,
    #[module(skip)]
    plan: Plan,
}

fn pad4(shape: &[usize]) -> Result<[usize; 4], String> {
    if shape.is_empty() || shape.len() > 4 {
        return Err(format!("shape {shape:?}: ranks 1 to 4 only"));
    }
    let mut s = [1; 4];
    s[..shape.len()].copy_from_slice(shape);
    Ok(s)
}

fn param1(v: &[f32], device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), device))
}

fn values<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    p.val().into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 parameters")
}

/// `v` (length 1 or the axis' length) shaped to broadcast along `axis` of a rank-4 tensor.
fn along(v: Tensor<1>, axis: usize) -> Tensor<4> {
    let mut s = [1; 4];
    s[axis] = v.dims()[0];
    v.reshape(s)
}

impl OnnxNet {
    /// The graph's first declared output, with every weight trainable.
    pub fn new(graph: &Graph, device: &Device) -> Result<Self, String> {
        let out_name = graph.outputs.first().ok_or("graph without outputs")?;
        let output = *graph.names.get(out_name).ok_or_else(|| format!("output `{out_name}` has no run-time value"))?;
        let (mut convs, mut affines, mut prelus, mut gemms) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut steps = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            let out_shape = &graph.values[node.output].shape;
            let shape = pad4(out_shape).map_err(|e| format!("node '{}': {e}", node.name))?;
            let (kind, index) = match &node.op {
                Op::Conv { weight, bias, kernel, stride, pads, group } => {
                    let cout = out_shape[1];
                    let cin = graph.values[node.inputs[0]].shape[1];
                    let w = Tensor::from_data(TensorData::new(weight.clone(), [cout, cin / group, kernel[0], kernel[1]]), device);
                    convs.push(ConvLayer { weight: Param::from_tensor(w), bias: param1(bias, device) });
                    (Kind::Conv { stride: *stride, pads: *pads, group: *group }, convs.len() - 1)
                }
                Op::Affine { axis, scale, shift } => {
                    affines.push(AffineLayer { scale: param1(scale, device), shift: param1(shift, device) });
                    (Kind::Affine { axis: *axis }, affines.len() - 1)
                }
                Op::PRelu { axis, slope } => {
                    prelus.push(param1(slope, device));
                    (Kind::PRelu { axis: *axis }, prelus.len() - 1)
                }
                Op::Gemm { weight, bias, k, n } => {
                    let w = Tensor::from_data(TensorData::new(weight.clone(), [*k, *n]), device);
                    gemms.push(GemmLayer { weight: Param::from_tensor(w), bias: param1(bias, device) });
                    (Kind::Gemm, gemms.len() - 1)
                }
                Op::Relu => (Kind::Relu, 0),
                Op::Sigmoid => (Kind::Sigmoid, 0),
                Op::Add => (Kind::Add, 0),
                Op::Mul => (Kind::Mul, 0),
                Op::GlobalAveragePool => (Kind::Gap, 0),
                Op::Reshape => (Kind::Reshape, 0),
            };
            steps.push(Step { kind, index, inputs: node.inputs.clone(), output: node.output, shape });
        }
        let output_rank = graph.values[output].shape.len();
        let plan = Plan { steps, input: graph.input, output, output_rank, values: graph.values.len() };
        Ok(Self { convs, affines, prelus, gemms, plan })
    }

    /// NCHW input (any batch) to the graph's output as `[batch, rest]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let batch = x.dims()[0];
        let mut vals: Vec<Option<Tensor<4>>> = vec![None; self.plan.values];
        vals[self.plan.input] = Some(x);
        let get = |vals: &Vec<Option<Tensor<4>>>, id: ValueId| vals[id].clone().expect("topological order");
        for s in &self.plan.steps {
            let a = get(&vals, s.inputs[0]);
            let y = match s.kind {
                Kind::Conv { stride, pads, group } => {
                    let c = &self.convs[s.index];
                    conv2d(
                        a,
                        c.weight.val(),
                        Some(c.bias.val()),
                        ConvOptions::new_with_padding(stride, [(pads[0], pads[2]), (pads[1], pads[3])], [1, 1], group),
                    )
                }
                Kind::Affine { axis } => {
                    let l = &self.affines[s.index];
                    a * along(l.scale.val(), axis) + along(l.shift.val(), axis)
                }
                Kind::PRelu { axis } => {
                    let slope = along(self.prelus[s.index].val(), axis);
                    relu(a.clone()) - relu(-a) * slope
                }
                Kind::Relu => relu(a),
                Kind::Sigmoid => sigmoid(a),
                Kind::Add => a + get(&vals, s.inputs[1]),
                Kind::Mul => a * get(&vals, s.inputs[1]),
                Kind::Gap => a.mean_dim(3).mean_dim(2),
                Kind::Reshape => {
                    let mut shape = s.shape;
                    shape[0] = batch;
                    a.reshape(shape)
                }
                Kind::Gemm => {
                    let g = &self.gemms[s.index];
                    let [k, n] = g.weight.dims();
                    let y = a.reshape([batch, k]).matmul(g.weight.val()) + g.bias.val().reshape([1, n]);
                    y.reshape([batch, n, 1, 1])
                }
            };
            vals[s.output] = Some(y);
        }
        let y = get(&vals, self.plan.output);
        let [_, c, h, w] = y.dims();
        debug_assert!(self.plan.output_rank <= 4);
        y.reshape([batch, c * h * w])
    }

    /// `base` (the graph this net was built from) with this net's weights.
    pub fn to_graph(&self, base: &Graph) -> Graph {
        let mut g = base.clone();
        assert_eq!(g.nodes.len(), self.plan.steps.len(), "to_graph: not the graph this net was built from");
        for (node, s) in g.nodes.iter_mut().zip(&self.plan.steps) {
            match &mut node.op {
                Op::Conv { weight, bias, .. } => {
                    let c = &self.convs[s.index];
                    *weight = values(&c.weight);
                    *bias = values(&c.bias);
                }
                Op::Affine { scale, shift, .. } => {
                    let l = &self.affines[s.index];
                    *scale = values(&l.scale);
                    *shift = values(&l.shift);
                }
                Op::PRelu { slope, .. } => *slope = values(&self.prelus[s.index]),
                Op::Gemm { weight, bias, .. } => {
                    let l = &self.gemms[s.index];
                    *weight = values(&l.weight);
                    *bias = values(&l.bias);
                }
                _ => {}
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use facegate_runtime::onnx::OnnxModel;
    use facegate_teachers::onnx::{OnnxKind, onnx_path};

    fn minifas() -> Graph {
        let path = onnx_path(OnnxKind::Minifas).unwrap();
        facegate_runtime::onnx::import(&std::fs::read(&path).unwrap(), &path.display().to_string()).unwrap()
    }

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = crate::rng::Rng(seed);
        (0..n).map(|_| rng.unit() as f32).collect()
    }

    #[test]
    fn onnx_net_matches_the_kernels_and_writes_back() {
        let graph = minifas();
        let device = Device::flex();
        let net = OnnxNet::new(&graph, &device).unwrap();
        let [c, h, w] = graph.input_chw();
        let model = OnnxModel::from_graph(&graph).unwrap();
        let out = graph.outputs[0].as_str();
        let images: Vec<Vec<f32>> = (0..2).map(|i| random(c * h * w, 7 + i)).collect();
        let flat: Vec<f32> = images.concat();
        let y = net.forward(Tensor::from_data(TensorData::new(flat, [2, c, h, w]), &device));
        let got = y.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let n = got.len() / 2;
        for (i, img) in images.iter().enumerate() {
            let want = model.run(img, &[out]).unwrap().swap_remove(0).data;
            assert_eq!(want.len(), n);
            let max = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (g, r) in got[i * n..(i + 1) * n].iter().zip(&want) {
                assert!((g - r).abs() <= 1e-4 + 1e-5 * max, "image {i}: burn {g} vs kernels {r} (max {max})");
            }
        }
        let back = net.to_graph(&graph);
        let again = OnnxModel::from_graph(&back).unwrap();
        for img in &images {
            assert_eq!(again.run(img, &[out]).unwrap(), model.run(img, &[out]).unwrap());
        }
        assert_eq!(back, graph);
    }
}
