//! TensorFlow.js graph models (`model.json` + weight shards): parsed once into a typed graph
//! ([`TfGraph`]) and run on facegate-kernels ([`KernelGraph`]); training lowers the same
//! parse to burn in `facegate-tfjs`.

mod error;
mod ir;
mod kernel_graph;
mod layers;
mod manifest;
pub mod schedule;
mod weights;

pub use error::{Result, TfjsError};
pub use ir::{Act, BinOp, ConvSpec, IrNode, IrOp, Padding, TfGraph, reshape_target, same_pad, strided_slice};
pub use kernel_graph::{KernelGraph, KernelValue};
pub use layers::{Layer, Layers};
pub use manifest::float16_weights;
pub use weights::ConstData;
