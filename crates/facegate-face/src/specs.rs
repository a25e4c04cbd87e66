//! Every crop a model here reads, in one place: the geometry training, evaluation and the
//! browser share. A weight file names its own crop ([`CropSpec::of`]); these are the crops
//! the recipes cut before there is a file.

use crate::crop::{Alignment, CropSpec};
use facegate_runtime::student::{STUDENT_INPUT, STUDENT_VIEW};

/// The student's view: the ArcFace crop in the centre, `STUDENT_VIEW` times wider.
pub const STUDENT: CropSpec = CropSpec::Aligned { size: STUDENT_INPUT, view: STUDENT_VIEW };

/// Face-box sides MiniFAS's view spans. Its authors widen their detector's box 1.5x; the
/// short-range detector's box is tighter, and on the cross-camera protocol's dev sets (only)
/// 2.0 did best: pad-frames dev AUC 0.81/0.81/0.43 at 1.5, 0.97/0.96/0.40 at 2.0, 0.82/0.83/0.27
/// at 2.7 (docs/teachers.md).
pub const MINIFAS_VIEW: f64 = 2.0;
/// MiniFAS's input: its view, squared and border-reflected, 128 px.
pub const MINIFAS: CropSpec = CropSpec::Reflected { size: 128, view: MINIFAS_VIEW };

/// Face-box sides the PadNet teacher's view spans (paper and screen edges in view).
pub const PADNET_VIEW: f64 = 1.5;

/// The cached context crop of the PadNet recipe spans this many face-box sides: room for its
/// view with scale and shift jitter around it (the centre `1 / CONTEXT_VIEW` is the box).
pub const CONTEXT_VIEW: f64 = 2.0;
/// Context crops are cut at this size: the PadNet view's window is then 168 px, a little more
/// than its 128 px input, so the network never sees upsampled pixels.
pub const CONTEXT_SIZE: usize = 224;
/// The context crop, as the face cache cuts it.
pub const CONTEXT: CropSpec = CropSpec::Box { size: CONTEXT_SIZE, view: CONTEXT_VIEW, alignment: Alignment::None };
