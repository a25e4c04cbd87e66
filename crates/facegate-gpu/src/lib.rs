//! The WebGPU build's program (issue #23): the detector and the student lowered to facegate's
//! own WGSL kernels (`kernels.wgsl`), with the face selection and the crops between them on the
//! GPU too, so a frame costs one upload, one command buffer and one readback. A native tool
//! (`facegate-gpu program`) writes the program and its weights into the npm package at build
//! time; nothing here is linked into the default (SIMD) wasm, which stays as it was.
//!
//! What runs after the readback (decoding the kept faces, quality, decisions, templates) is
//! facegate-engine's, in the default wasm, on the CPU: one implementation for both builds.

pub mod expect;
pub mod lower;
pub mod program;

pub use lower::lower;
pub use program::Program;
