//! facegate's own networks, as backend-agnostic burn modules, and the weight file they ship in.

pub mod blocks;
pub mod padnet;
pub mod student;
pub mod weights;

pub use padnet::{PADNET_ARCH, PADNET_INPUT, PADNET_VIEW, PadNet, padnet_input};
pub use student::{STUDENT_ARCH, STUDENT_INPUT, STUDENT_VIEW, Student, StudentOutput, student_input};
pub use weights::{WeightsError, WeightsMeta};
