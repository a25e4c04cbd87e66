//! The networks' outputs for one frame when they ran elsewhere: the WebGPU build runs the
//! detector, its suppression, the crops and the student on the GPU and reads back this one
//! buffer per frame. Its layout is defined here, once; `facegate-gpu` writes its program
//! against these offsets, and the engine turns the buffer into faces with the same code the
//! CPU path takes ([`Detector::decode`](facegate_face::Detector::decode), [`fuse_mirror`]).

use crate::engine::MAX_SCORED_FACES;
use crate::error::EngineError;
use facegate_face::ROW;
use facegate_runtime::student::{EMBEDDING, fuse_mirror, p_live};

/// Faces the detector's suppression keeps at most (`DetectorConfig::default().max_faces`).
pub const MAX_KEPT: usize = 10;
/// Student passes per frame at most: each scored face, and the mirror image of the face a
/// decision is made on.
pub const SLOTS: usize = MAX_SCORED_FACES + 1;
/// One pass's raw outputs: the embedding before unit scaling, then the liveness logit.
pub const HEAD: usize = EMBEDDING + 1;

/// Offsets (in f32 values) of the buffer's fields. Counts and indices are stored as floats.
pub mod at {
    use super::*;
    /// Faces kept, K <= MAX_KEPT.
    pub const KEPT: usize = 0;
    /// Faces scored, S <= MAX_SCORED_FACES.
    pub const SCORED: usize = 1;
    /// 1 when slot S holds the mirror image of scored face 0.
    pub const MIRROR: usize = 2;
    /// 1 when a scored face's landmarks could not be aligned (its crop is not the CPU's).
    pub const DEGENERATE: usize = 3;
    /// K rows of (anchor index, the detector's ROW values), best first.
    pub const ROWS: usize = 4;
    /// S kept-face indices, in scoring order.
    pub const SCORED_LIST: usize = ROWS + MAX_KEPT * (1 + ROW);
    /// SLOTS x HEAD raw student outputs.
    pub const HEADS: usize = SCORED_LIST + MAX_SCORED_FACES;
    /// The buffer's length.
    pub const LEN: usize = HEADS + SLOTS * HEAD;
}

/// The networks' outputs for one frame: read back from the GPU and checked
/// ([`Readback::parse`]), or filled by the engine's own kernels.
#[derive(Debug, Clone, PartialEq)]
pub struct Readback {
    /// (anchor index, row) of each kept face, best first.
    pub rows: Vec<(usize, Vec<f32>)>,
    /// Kept-face indices the student scored, in order.
    pub(crate) scored: Vec<usize>,
    /// Raw (embedding, logit) per crop slot: the scored faces', then the mirror's.
    pub(crate) heads: Vec<(Vec<f32>, f32)>,
    /// The slot after the scored faces is the mirror image of scored face 0.
    pub(crate) mirror: bool,
    /// A scored face's landmarks could not be aligned: its crop is not the CPU's.
    pub(crate) degenerate: bool,
}

impl Readback {
    /// Checks every count and index; a buffer from another program, truncated or corrupt, is a
    /// `MODEL` error, never a panic.
    pub fn parse(v: &[f32]) -> Result<Self, EngineError> {
        // A buffer of another program or a corrupt one: the engine's own build is out of step
        // with its GPU program, not something a caller can fix, so one message says it.
        let bad = || EngineError::Model(format!("GPU readback: not the {}-value layout of this engine", at::LEN));
        if v.len() != at::LEN {
            return Err(bad());
        }
        let count = |k: usize, max: usize| -> Result<usize, EngineError> {
            let x = v[k];
            if x.is_finite() && x.fract() == 0.0 && (0.0..=max as f32).contains(&x) { Ok(x as usize) } else { Err(bad()) }
        };
        let (kept, scored) = (count(at::KEPT, MAX_KEPT)?, count(at::SCORED, MAX_SCORED_FACES)?);
        let (mirror, degenerate) = (count(at::MIRROR, 1)? == 1, count(at::DEGENERATE, 1)? == 1);
        // Plain loops: iterator adapters collecting into `Result` add kilobytes of wasm here.
        let mut rows = Vec::with_capacity(kept);
        for k in 0..kept {
            let at = at::ROWS + k * (1 + ROW);
            rows.push((count(at, u16::MAX as usize)?, v[at + 1..at + 1 + ROW].to_vec()));
        }
        let mut list = Vec::with_capacity(scored);
        for k in 0..scored {
            list.push(count(at::SCORED_LIST + k, kept.saturating_sub(1))?);
        }
        let mut heads = Vec::with_capacity(SLOTS);
        for k in 0..SLOTS {
            let at = at::HEADS + k * HEAD;
            heads.push((v[at..at + EMBEDDING].to_vec(), v[at + EMBEDDING]));
        }
        Ok(Self { rows, scored: list, heads, mirror, degenerate })
    }

    /// The buffer [`parse`](Self::parse) reads (unused slots and rows zero).
    pub fn to_vec(&self) -> Vec<f32> {
        let mut v = vec![0f32; at::LEN];
        v[at::KEPT] = self.rows.len() as f32;
        v[at::SCORED] = self.scored.len() as f32;
        v[at::MIRROR] = self.mirror as u8 as f32;
        v[at::DEGENERATE] = self.degenerate as u8 as f32;
        for (k, (i, row)) in self.rows.iter().enumerate() {
            v[at::ROWS + k * (1 + ROW)] = *i as f32;
            v[at::ROWS + k * (1 + ROW) + 1..][..ROW].copy_from_slice(row);
        }
        for (k, s) in self.scored.iter().enumerate() {
            v[at::SCORED_LIST + k] = *s as f32;
        }
        for (slot, (e, logit)) in self.heads.iter().enumerate() {
            v[at::HEADS + slot * HEAD..][..EMBEDDING].copy_from_slice(e);
            v[at::HEADS + slot * HEAD + EMBEDDING] = *logit;
        }
        v
    }

    /// The rows as the detector's `decode` takes them.
    pub(crate) fn row_slices(rows: &[(usize, Vec<f32>)]) -> Vec<(usize, &[f32])> {
        rows.iter().map(|(i, r)| (*i, r.as_slice())).collect()
    }

    /// P(live) of each scored face and, for `target` (a position in `scored`), its fused
    /// embedding; `None` when the GPU scored other faces than `scored` (kept-face indices),
    /// did not mirror the target, or cut a degenerate crop: the caller then runs the student
    /// on the CPU, so a difference between the two builds never becomes a wrong answer.
    pub fn outputs(&self, scored: &[usize], target: Option<usize>) -> Option<(Vec<f32>, Option<Vec<f32>>)> {
        if self.degenerate || self.scored != scored {
            return None;
        }
        let scores = self.heads.get(..scored.len())?.iter().map(|(_, logit)| p_live(*logit)).collect();
        let embedding = match target {
            None => None,
            Some(0) if self.mirror => Some(fuse_mirror(&self.heads[0].0, &self.heads.get(scored.len())?.0)),
            Some(_) => return None,
        };
        Some((scores, embedding))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer(kept: usize, scored: &[usize], mirror: bool) -> Vec<f32> {
        let mut v = vec![0f32; at::LEN];
        v[at::KEPT] = kept as f32;
        v[at::SCORED] = scored.len() as f32;
        v[at::MIRROR] = mirror as u8 as f32;
        for k in 0..kept {
            v[at::ROWS + k * (1 + ROW)] = (100 + k) as f32;
        }
        for (k, &s) in scored.iter().enumerate() {
            v[at::SCORED_LIST + k] = s as f32;
        }
        for slot in 0..SLOTS {
            v[at::HEADS + slot * HEAD + slot] = 2.0;
            v[at::HEADS + slot * HEAD + EMBEDDING] = slot as f32;
        }
        v
    }

    #[test]
    fn the_layout_holds_what_the_detector_keeps() {
        assert_eq!(MAX_KEPT, facegate_face::DetectorConfig::default().max_faces);
    }

    #[test]
    fn parses_and_hands_out_the_scored_outputs() {
        let r = Readback::parse(&buffer(3, &[1, 0], true)).unwrap();
        assert_eq!(r.rows.iter().map(|r| r.0).collect::<Vec<_>>(), [100, 101, 102]);
        let (scores, e) = r.outputs(&[1, 0], Some(0)).unwrap();
        assert_eq!(scores, [0.5, p_live(1.0)]);
        // Slot 0 (own) and slot 2 (the mirror) are unit vectors along axes 0 and 2.
        let e = e.unwrap();
        assert!((e[0] - 0.5f32.sqrt()).abs() < 1e-6 && (e[2] - 0.5f32.sqrt()).abs() < 1e-6, "{:?}", &e[..3]);
        assert_eq!(r.outputs(&[1, 0], None).unwrap().1, None);
        // Other faces scored, a target other than the mirrored face: the CPU decides.
        assert!(r.outputs(&[0, 1], None).is_none());
        assert!(r.outputs(&[1, 0], Some(1)).is_none());
        assert!(Readback::parse(&buffer(1, &[0], false)).unwrap().outputs(&[0], Some(0)).is_none());
    }

    #[test]
    fn foreign_or_corrupt_buffers_are_model_errors() {
        let mut wrong = vec![buffer(3, &[0], false)[..at::LEN - 1].to_vec(), buffer(MAX_KEPT + 1, &[], false), buffer(2, &[2], false)];
        let mut nan = buffer(1, &[0], false);
        nan[at::SCORED] = f32::NAN;
        wrong.push(nan);
        let mut half = buffer(1, &[0], false);
        half[at::ROWS] = 1.5;
        wrong.push(half);
        for v in wrong {
            assert_eq!(Readback::parse(&v).unwrap_err().code(), "MODEL");
        }
    }
}
