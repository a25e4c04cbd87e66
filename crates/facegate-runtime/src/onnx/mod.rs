//! ONNX models on facegate's own float32 kernels: the SFace recogniser and the MiniFASNet
//! anti-spoofing teacher, run natively with parity to onnxruntime.
//!
//! Loading parses the protobuf once ([`proto`], by hand: no generated code, no new
//! dependency), computes every constant (dequantised weights, shape arithmetic, batch norms
//! folded into their convolutions) into an [`ir::Graph`], and refuses an unsupported op at
//! load time, naming it. [`OnnxModel::run`] then evaluates only the nodes the requested
//! outputs need, NHWC inside, and returns ONNX's NCHW layout.

mod exec;
mod import;
pub mod ir;
mod proto;

use std::path::{Path, PathBuf};

pub use import::import;

/// A tensor in ONNX's layout (NCHW for images), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Corrupt, truncated or self-contradicting model file.
    #[error("{path}: not a model this loader can read: {reason}")]
    Format { path: String, reason: String },
    #[error("{path}: node '{node}' uses {op}, which facegate's ONNX runtime does not support")]
    Unsupported { path: String, node: String, op: String },
    /// A kernel refused its arguments at run time.
    #[error("node '{node}' ({op}): {reason}")]
    Node { node: String, op: String, reason: String },
    #[error("the input has {got} values, the model takes {want} (1 x C x H x W)")]
    Input { want: usize, got: usize },
    /// A requested name that has no run-time value (unknown, or computed or folded at load).
    #[error("no value '{name}' to return: {reason}")]
    UnknownOutput { name: String, reason: String },
}

/// A loaded, folded ONNX model, ready to run one image at a time.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    plan: exec::Plan,
}

impl OnnxModel {
    pub fn load(path: &Path) -> Result<Self, OnnxError> {
        let bytes = std::fs::read(path).map_err(|source| OnnxError::Io { path: path.to_path_buf(), source })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// `name` stands for the file in errors.
    pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Self, OnnxError> {
        Self::from_graph(&import(bytes, name)?)
    }

    /// Compiles an imported graph for the kernels (weights to their layouts).
    pub fn from_graph(graph: &ir::Graph) -> Result<Self, OnnxError> {
        Ok(Self { plan: exec::Plan::compile(graph)? })
    }

    /// `[C, H, W]` of the image input (batch 1).
    pub fn input_chw(&self) -> [usize; 3] {
        self.plan.input_chw()
    }

    /// The graph's declared outputs.
    pub fn output_names(&self) -> Vec<&str> {
        self.plan.outputs.iter().map(String::as_str).collect()
    }

    /// Float values of the constants the model computes with, after dequantisation and
    /// before batch norms are folded (each BatchNormalization's four vectors count).
    pub fn parameter_count(&self) -> usize {
        self.plan.parameter_count
    }

    /// Multiply-accumulates per image (convolutions and Gemm; batch norms are folded in).
    pub fn macs(&self) -> u64 {
        self.plan.macs
    }

    /// One image, NCHW `[1, C, H, W]` row-major; returns the named tensors (graph outputs or
    /// any intermediate node output), in ONNX layout, in request order. Only the nodes they
    /// depend on run.
    pub fn run(&self, input: &[f32], outputs: &[&str]) -> Result<Vec<Tensor>, OnnxError> {
        self.plan.run(input, outputs)
    }
}
