//! The imported graph: the run-time ops left after folding, as a typed list in ONNX's
//! layout and semantics (NCHW, weights as ONNX stores them).
//!
//! Kept apart from the executor ([`super::OnnxModel`]) so that another back end, such as a
//! burn lowering for training, can start from the same folded graph.

use std::collections::HashMap;

/// Index of a run-time value in [`Graph::values`].
pub type ValueId = usize;

/// A value computed at run time: its first name and its static shape (batch 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub name: String,
    pub shape: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2-D convolution, dense (`group` 1) or depthwise (`group` = channels, one filter each).
    /// `weight`: ONNX's `[cout, cin / group, kh, kw]`; `pads`: `[top, left, bottom, right]`.
    /// A BatchNormalization right after it is already folded in.
    Conv {
        weight: Vec<f32>,
        bias: Vec<f32>,
        kernel: [usize; 2],
        stride: [usize; 2],
        pads: [usize; 4],
        group: usize,
    },
    /// `x * scale + shift` along `axis` (vectors of that axis' length, or of length 1 for all
    /// values): a BatchNormalization not after a convolution, or Add/Sub/Mul by a constant.
    Affine {
        axis: usize,
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    /// `x > 0 ? x : x * slope`, `slope` along `axis` (or length 1).
    PRelu {
        axis: usize,
        slope: Vec<f32>,
    },
    Relu,
    Sigmoid,
    /// Two run-time values of one shape.
    Add,
    /// Two run-time values of one shape, or a `[1, C, H, W]` map and a `[1, C, 1, 1]` gate
    /// in either order (squeeze-excitation).
    Mul,
    /// `[1, C, H, W]` to `[1, C, 1, 1]`.
    GlobalAveragePool,
    /// To the output value's shape, keeping ONNX's row-major (NCHW) order.
    Reshape,
    /// `y [m, n] = x [m, k] . weight [k, n] + bias [n]` (Gemm's alpha, beta and transposes
    /// applied at load).
    Gemm {
        weight: Vec<f32>,
        bias: Vec<f32>,
        k: usize,
        n: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The ONNX node's name (or `#index` for an unnamed one), for errors.
    pub name: String,
    /// The ONNX op type it came from (the convolution's, when a BatchNormalization was folded).
    pub onnx_op: String,
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub output: ValueId,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// The file or name the graph was loaded from, for errors.
    pub source: String,
    pub values: Vec<Value>,
    /// The image input, `[1, C, H, W]`.
    pub input: ValueId,
    /// In topological order.
    pub nodes: Vec<Node>,
    /// The graph's declared outputs.
    pub outputs: Vec<String>,
    /// Every name that has a run-time value, aliases (Identity, Dropout, a folded
    /// BatchNormalization's output) included.
    pub names: HashMap<String, ValueId>,
    /// Names that have no run-time value, with the reason (computed at load, or folded into
    /// another op).
    pub folded: HashMap<String, String>,
    /// Float values of the constants the run-time ops read, after dequantisation and before
    /// folding (a BatchNormalization's four vectors count).
    pub parameter_count: usize,
}

impl Graph {
    /// `[C, H, W]` of the image input.
    pub fn input_chw(&self) -> [usize; 3] {
        let s = &self.values[self.input].shape;
        [s[1], s[2], s[3]]
    }
}
