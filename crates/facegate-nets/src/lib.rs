//! facegate's own networks, as backend-agnostic burn modules, and the weight file they ship in.

pub mod padnet;
pub mod weights;

pub use padnet::{PADNET_ARCH, PADNET_INPUT, PadNet, padnet_input};
pub use weights::{WeightsError, WeightsMeta};
