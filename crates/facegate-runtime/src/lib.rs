//! What the browser runs, and nothing it does not: the face detector's TF.js graph on
//! facegate-kernels, the student's kernels read from its weight file, and ONNX graphs on the
//! same kernels (the teachers; not in the browser yet). No tensor library:
//! training (on burn) sits on the other side of this crate, so the wasm build cannot link one.

pub mod onnx;
pub mod student;
pub mod tfjs;
