//! Runs TensorFlow.js graph models (`model.json` + weight shards) on burn tensors.
//!
//! The teachers facegate distils from ship only as TF.js graphs; rather than one hand-written
//! module per teacher, the graph itself is the module definition, and weights are looked up
//! by node name. TF semantics that differ from burn's defaults (asymmetric 'SAME' padding,
//! NHWC flatten order, ReLU6 spelled as Relu/Minimum/Maximum) are reproduced here once.

mod error;
mod graph;
mod host;
mod lowering;
mod manifest;
mod ops;
mod schedule;
mod weights;

pub use error::{Result, TfjsError};
pub use graph::{GraphModel, Value, same_pad};
pub use host::{HostGraph, HostValue};
