//! Float32 inference kernels for the two networks the browser runs (the face detector and the
//! student), on NHWC maps of one image.
//!
//! Why not burn-flex, which trains them: its kernels branch on the element type at run time,
//! so every op links its float64, float16, bfloat16 and quantised paths, about 1 MB of wasm
//! for the dozen float32 ops inference needs; and NHWC, TF.js's own layout, lets the
//! depthwise and element-wise loops run along contiguous channels, which SIMD128 vectorises.
//! Parity with burn and with TF.js is tested where the networks are defined (facegate-tfjs,
//! facegate-nets).

mod conv;
mod lanes;
mod map;
mod ops;

pub use conv::{Conv2d, ConvKind};
pub use map::{Activation, Map, Pads, out_len};
pub use ops::{add_in_place, affine, linear, max_pool, mean_window, pad, prelu, scale_channels, sigmoid};

/// A kernel's arguments that do not fit together: a programming error in the network's
/// definition, reported instead of panicking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError(pub String);

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KernelError {}

pub type Result<T> = std::result::Result<T, KernelError>;

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(KernelError(msg.into()))
}
