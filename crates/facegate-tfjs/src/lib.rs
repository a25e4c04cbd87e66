//! Runs TensorFlow.js graph models (`model.json` + weight shards) on burn tensors: the
//! teachers training distils from, differentiable where training needs it.
//!
//! The teachers ship only as TF.js graphs; rather than one hand-written module per teacher,
//! the graph itself is the module definition, and weights are looked up by node name. The
//! parse is facegate-runtime's (shared with the browser's kernel graph); TF semantics that
//! differ from burn's defaults (asymmetric 'SAME' padding, NHWC flatten order, ReLU6 spelled as
//! Relu/Minimum/Maximum) are reproduced here once.

mod graph;
mod lowering;
mod ops;

pub use facegate_runtime::tfjs::{KernelGraph, KernelValue, Result, TfGraph, TfjsError, same_pad};
pub use graph::{GraphModel, Value};
