//! facegate's engine, independent of any browser API: the wasm crate binds it to JavaScript,
//! native tests drive it directly. Data flows one way:
//! camera frame -> detect -> crop -> student -> decision.

mod engine;
mod error;
pub mod readback;
mod template;

pub use engine::{Decision, Engine, Face, MAX_SCORED_FACES, PERSON_SCORE, Quality, Thresholds, Verification, frame_from_rgba};
pub use error::EngineError;
pub use facegate_face::RgbImage;
pub use readback::Readback;
pub use template::{TEMPLATE_VERSION, Template, average, cosine};
