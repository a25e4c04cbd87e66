//! The activation map and the small values kernels take.

use crate::lanes::F4;

/// One image's activations, NHWC: `data[(y * w + x) * c + channel]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl Map {
    pub fn new(h: usize, w: usize, c: usize, data: Vec<f32>) -> crate::Result<Self> {
        if data.len() != h * w * c {
            return crate::err(format!("{} values for a {h}x{w}x{c} map", data.len()));
        }
        Ok(Self { h, w, c, data })
    }

    pub fn zeros(h: usize, w: usize, c: usize) -> Self {
        Self { h, w, c, data: vec![0.0; h * w * c] }
    }

    /// The channels of one pixel.
    pub fn pixel(&self, y: usize, x: usize) -> &[f32] {
        &self.data[(y * self.w + x) * self.c..][..self.c]
    }
}

/// The activation a layer ends in, applied in the same pass as its bias.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    None,
    Relu,
    Relu6,
}

impl Activation {
    /// Written as comparisons, not `f32::max`: wasm's `f32.max` treats NaN otherwise than
    /// Rust's `max`, so `max` compiles to a call to `fmaxf` per value there (a quarter of the
    /// frame), where comparisons vectorise. NaN becomes 0, as in every path below.
    pub fn apply(self, data: &mut [f32]) {
        match self {
            Activation::None => {}
            Activation::Relu => data.iter_mut().for_each(|v| *v = relu(*v)),
            Activation::Relu6 => data.iter_mut().for_each(|v| *v = relu6(*v)),
        }
    }

    /// `data = act(data + bias)`, the bias repeated along `data` (one value per channel; a
    /// residual map of `data`'s own length is added once).
    pub fn apply_with_bias(self, data: &mut [f32], bias: &[f32]) {
        let rows = data.chunks_exact_mut(bias.len().max(1));
        match self {
            Activation::None => rows.for_each(|r| r.iter_mut().zip(bias).for_each(|(v, b)| *v += b)),
            Activation::Relu => rows.for_each(|r| r.iter_mut().zip(bias).for_each(|(v, b)| *v = relu(*v + b))),
            Activation::Relu6 => rows.for_each(|r| r.iter_mut().zip(bias).for_each(|(v, b)| *v = relu6(*v + b))),
        }
    }

    #[inline(always)]
    pub(crate) fn lanes(self, v: F4) -> F4 {
        match self {
            Activation::None => v,
            Activation::Relu => v.at_least(0.0),
            Activation::Relu6 => v.at_least(0.0).at_most(6.0),
        }
    }
}

#[inline(always)]
fn relu(v: f32) -> f32 {
    if v > 0.0 { v } else { 0.0 }
}

#[inline(always)]
fn relu6(v: f32) -> f32 {
    if v > 6.0 {
        6.0
    } else if v > 0.0 {
        v
    } else {
        0.0
    }
}

/// Zero padding around a map: rows before and after, columns before and after. TF's 'SAME'
/// puts the odd pixel after, which is why the two sides are separate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pads {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

impl Pads {
    pub fn same(top: usize, left: usize) -> Self {
        Self { top, bottom: top, left, right: left }
    }

    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

/// Output length of a window of `span` cells sliding by `stride` over `len` cells padded by
/// `before` and `after` (0 when the window does not fit).
pub fn out_len(len: usize, before: usize, after: usize, span: usize, stride: usize) -> usize {
    let padded = len + before + after;
    if padded < span || stride == 0 { 0 } else { (padded - span) / stride + 1 }
}
