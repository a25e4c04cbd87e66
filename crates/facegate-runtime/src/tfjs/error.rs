use std::path::PathBuf;

/// Everything that can go wrong between a `model.json` on disk and a result tensor.
#[derive(Debug, thiserror::Error)]
pub enum TfjsError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a TensorFlow.js graph model: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("weight `{name}`: {reason}")]
    Weight { name: String, reason: String },
    #[error("node `{node}` ({op}): {reason}")]
    Node { node: String, op: String, reason: String },
    #[error("no node named `{0}` in the graph")]
    UnknownNode(String),
    #[error("input must be [N, {h}, {w}, {c}] (NHWC), got {got:?}")]
    InputShape { h: usize, w: usize, c: usize, got: Vec<usize> },
}

pub type Result<T> = std::result::Result<T, TfjsError>;
