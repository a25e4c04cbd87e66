//! What the teachers say about each training face, computed once and kept on disk next to
//! the student's crops: SFace's descriptor and two of its stage maps pooled to a 4x4 grid (on
//! the aligned 112x112 face), and the fine-tuned MiniFAS's live logit (on its reflected view).
//!
//! The file is keyed by the teachers' weight checksums and the crop cache's key, so a new
//! teacher or a new crop makes a stale file that is rebuilt rather than silently reused.

use crate::checkpoint::{TrainError, io, write_atomic};
use facegate_teachers::OnnxTeacher;
use half::f16;
use std::path::Path;

/// Stage maps are pooled to GRID x GRID cells.
pub const GRID: usize = 4;
/// SFace's stages aligned with the student's first two (strides 4 and 8): 28x28 and 14x14 on
/// its 112x112 input. Its last stage is summed up by the descriptor, which the embedding term
/// already matches.
pub const SFACE_STAGES: [&str; 2] = ["conv_6_relu", "conv_12_relu"];
pub const TEACHER_STAGE_CHANNELS: [usize; 2] = [256, 512];
/// SFace's descriptor.
pub const DESCRIPTOR: usize = 128;
const MAGIC: &[u8; 4] = b"FGT2";

/// Values per face of the teacher's pooled stage maps, stage by stage, each [C, GRID, GRID].
pub fn maps_len() -> usize {
    TEACHER_STAGE_CHANNELS.iter().sum::<usize>() * GRID * GRID
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Targets {
    pub key: String,
    /// SFace descriptors, n x DESCRIPTOR.
    pub descriptor: Vec<f32>,
    /// Anti-spoofing teacher live logits, n.
    pub pad_logit: Vec<f32>,
    /// n x maps_len(), SFace's stages on the aligned face.
    pub fr_maps: Vec<f16>,
}

/// One face's targets.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceTargets {
    pub descriptor: Vec<f32>,
    pub pad_logit: f32,
    pub maps: Vec<f16>,
}

impl FaceTargets {
    /// Runs the teachers: `sface` on its aligned crop, `pad` (MiniFAS or its fine-tuned
    /// weights) on its own view; crops HWC RGB 0..255 as each teacher's `crop_spec` cuts them.
    pub fn compute(sface: &OnnxTeacher, sface_crop: &[f32], pad: &OnnxTeacher, pad_crop: &[f32]) -> Result<Self, TrainError> {
        let failed = |who: &str, e: facegate_teachers::TeacherError| TrainError::Resume(format!("{who}: {e}"));
        let x = sface.input(sface_crop).map_err(|e| failed("sface", e))?;
        let names = [SFACE_STAGES[0], SFACE_STAGES[1], sface.output()];
        let out = sface.model().run(&x, &names).map_err(|e| TrainError::Resume(format!("sface: {e}")))?;
        let mut maps = Vec::with_capacity(maps_len());
        for (t, c) in out[..2].iter().zip(TEACHER_STAGE_CHANNELS) {
            let [_, ch, h, w] = t.shape[..] else { return Err(TrainError::Resume(format!("sface: stage map of shape {:?}", t.shape))) };
            if ch != c {
                return Err(TrainError::Resume(format!("sface: {ch} channels where {c} were expected")));
            }
            maps.extend(pool_chw(&t.data, ch, h, w).into_iter().map(f16::from_f32));
        }
        let p = pad.live(pad_crop).map_err(|e| failed("pad teacher", e))?.clamp(1e-6, 1.0 - 1e-6);
        Ok(Self { descriptor: out[2].data.clone(), pad_logit: (p / (1.0 - p)).ln(), maps })
    }
}

impl Targets {
    pub fn len(&self) -> usize {
        self.pad_logit.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pad_logit.is_empty()
    }

    pub fn descriptor(&self, i: usize) -> &[f32] {
        &self.descriptor[i * DESCRIPTOR..(i + 1) * DESCRIPTOR]
    }

    pub fn push(&mut self, f: FaceTargets) {
        assert_eq!((f.descriptor.len(), f.maps.len()), (DESCRIPTOR, maps_len()), "one face's targets");
        self.descriptor.extend(f.descriptor);
        self.pad_logit.push(f.pad_logit);
        self.fr_maps.extend(f.maps);
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(MAGIC);
        out.extend((self.key.len() as u32).to_le_bytes());
        out.extend(self.key.as_bytes());
        out.extend((self.len() as u64).to_le_bytes());
        self.descriptor.iter().chain(&self.pad_logit).for_each(|v| out.extend(v.to_le_bytes()));
        self.fr_maps.iter().for_each(|v| out.extend(v.to_le_bytes()));
        out
    }

    /// `None` when the bytes are not a complete targets file.
    fn from_bytes(b: &[u8]) -> Option<Self> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = b.get(at..at.checked_add(n)?)?;
            at += n;
            Some(s)
        };
        if take(4)? != MAGIC {
            return None;
        }
        let key_len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
        let key = String::from_utf8(take(key_len)?.to_vec()).ok()?;
        let n = u64::from_le_bytes(take(8)?.try_into().ok()?) as usize;
        let f32s = |s: &[u8]| s.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect::<Vec<_>>();
        let f16s = |s: &[u8]| s.chunks_exact(2).map(|c| f16::from_le_bytes(c.try_into().expect("2 bytes"))).collect::<Vec<_>>();
        let descriptor = f32s(take(n.checked_mul(DESCRIPTOR * 4)?)?);
        let pad_logit = f32s(take(n.checked_mul(4)?)?);
        let fr_maps = f16s(take(n.checked_mul(maps_len() * 2)?)?);
        if at != b.len() {
            return None;
        }
        Some(Self { key, descriptor, pad_logit, fr_maps })
    }

    /// The targets stored at `path` if they were made with `key` for `n` faces.
    pub fn open(path: &Path, key: &str, n: usize) -> Option<Self> {
        std::fs::read(path).ok().and_then(|b| Self::from_bytes(&b)).filter(|t| t.key == key && t.len() == n)
    }

    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        write_atomic(path, &self.to_bytes()).map_err(io(path))
    }
}

/// One CHW map -> [C, GRID, GRID], averaged over adaptive cells as burn's adaptive pooling
/// takes them (cell i spans floor(i*H/G) .. ceil((i+1)*H/G)).
pub fn pool_chw(data: &[f32], c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0f32; c * GRID * GRID];
    for ch in 0..c {
        let m = &data[ch * h * w..][..h * w];
        for gy in 0..GRID {
            let (y0, y1) = (gy * h / GRID, ((gy + 1) * h).div_ceil(GRID));
            for gx in 0..GRID {
                let (x0, x1) = (gx * w / GRID, ((gx + 1) * w).div_ceil(GRID));
                let sum: f32 = (y0..y1).flat_map(|y| m[y * w + x0..y * w + x1].iter()).sum();
                out[(ch * GRID + gy) * GRID + gx] = sum / ((y1 - y0) * (x1 - x0)) as f32;
            }
        }
    }
    out
}

/// The teacher's descriptor space seen through its top `k` principal directions. Raw HSE
/// descriptors are non-negative and share a large common component, so their cosines crowd
/// near 1; centred, the same directions separate people. Both the embedding target and the
/// relational term use centred descriptors.
#[derive(Debug, Clone, PartialEq)]
pub struct Projection {
    pub mean: Vec<f32>,
    /// DESCRIPTOR x k, row-major, orthonormal columns.
    pub matrix: Vec<f32>,
    pub k: usize,
}

impl Projection {
    /// Principal directions of the centred descriptors (subspace iteration on the covariance).
    pub fn fit(descriptors: &[&[f32]], k: usize, seed: u64) -> Self {
        let d = DESCRIPTOR;
        let n = descriptors.len().max(1) as f64;
        let mut mean = vec![0f64; d];
        for x in descriptors {
            for (m, v) in mean.iter_mut().zip(x.iter()) {
                *m += *v as f64 / n;
            }
        }
        let mut m = vec![0f64; d * d];
        for x in descriptors {
            let c: Vec<f64> = x.iter().zip(&mean).map(|(v, mu)| *v as f64 - mu).collect();
            for i in 0..d {
                let row = &mut m[i * d..(i + 1) * d];
                for (r, cj) in row.iter_mut().zip(&c) {
                    *r += c[i] * cj;
                }
            }
        }
        let mut rng = crate::rng::Rng(seed);
        let mut q: Vec<f64> = (0..d * k).map(|_| rng.range(-1.0, 1.0)).collect();
        for _ in 0..30 {
            let mut z = vec![0f64; d * k];
            for i in 0..d {
                let row = &m[i * d..(i + 1) * d];
                for (j, r) in row.iter().enumerate() {
                    for c in 0..k {
                        z[i * k + c] += r * q[j * k + c];
                    }
                }
            }
            orthonormalise(&mut z, d, k);
            q = z;
        }
        Self { mean: mean.into_iter().map(|v| v as f32).collect(), matrix: q.into_iter().map(|v| v as f32).collect(), k }
    }

    pub fn centre(&self, x: &[f32]) -> Vec<f32> {
        x.iter().zip(&self.mean).map(|(v, m)| v - m).collect()
    }

    /// `x` centred and projected: k values.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; self.k];
        for (c, row) in self.centre(x).iter().zip(self.matrix.chunks_exact(self.k)) {
            for (o, p) in out.iter_mut().zip(row) {
                *o += c * p;
            }
        }
        out
    }
}

/// Gram-Schmidt on the columns of a rows x cols row-major matrix.
fn orthonormalise(a: &mut [f64], rows: usize, cols: usize) {
    for c in 0..cols {
        for p in 0..c {
            let dot: f64 = (0..rows).map(|r| a[r * cols + c] * a[r * cols + p]).sum();
            for r in 0..rows {
                a[r * cols + c] -= dot * a[r * cols + p];
            }
        }
        let norm = (0..rows).map(|r| a[r * cols + c].powi(2)).sum::<f64>().sqrt().max(1e-12);
        for r in 0..rows {
            a[r * cols + c] /= norm;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::module::adaptive_avg_pool2d;
    use burn::tensor::{Device, Tensor};

    #[test]
    fn chw_pooling_matches_burn_adaptive_pooling() {
        let (c, h, w) = (3, 14, 14);
        let data: Vec<f32> = (0..c * h * w).map(|i| ((i * 37) % 101) as f32).collect();
        let ours = pool_chw(&data, c, h, w);
        let x = Tensor::<4>::from_data(burn::tensor::TensorData::new(data, [1, c, h, w]), &Device::flex());
        let theirs = adaptive_avg_pool2d(x, [GRID, GRID]).into_data().try_to_vec::<f32>().unwrap();
        for (a, b) in ours.iter().zip(&theirs) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
    }

    #[test]
    fn projection_keeps_the_dominant_directions() {
        // Centred descriptors that live in a 2-d subspace: a rank-2 projection keeps them exactly.
        let mut rng = crate::rng::Rng(5);
        let xs: Vec<Vec<f32>> = (0..50)
            .map(|_| {
                let (a, b) = (rng.range(-1.0, 1.0) as f32, rng.range(-1.0, 1.0) as f32);
                (0..DESCRIPTOR)
                    .map(|i| {
                        if i == 3 {
                            a
                        } else if i == 100 {
                            b + a
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&[f32]> = xs.iter().map(|x| x.as_slice()).collect();
        let p = Projection::fit(&refs, 2, 1);
        for x in &xs {
            let y = p.apply(x);
            let c = p.centre(x);
            let (nx, ny) = (c.iter().map(|v| v * v).sum::<f32>(), y.iter().map(|v| v * v).sum::<f32>());
            assert!((nx - ny).abs() < 1e-3 * nx.max(1.0), "{nx} vs {ny}");
        }
    }

    #[test]
    fn targets_file_round_trips_and_rejects_truncation() {
        let mut t = Targets { key: "k".into(), ..Default::default() };
        for k in 0..2 {
            t.push(FaceTargets {
                descriptor: (0..DESCRIPTOR).map(|v| (v + k) as f32).collect(),
                pad_logit: k as f32 - 0.5,
                maps: vec![f16::from_f32(1.5); maps_len()],
            });
        }
        let bytes = t.to_bytes();
        assert_eq!(Targets::from_bytes(&bytes), Some(t));
        assert_eq!(Targets::from_bytes(&bytes[..bytes.len() - 1]), None);
    }

    /// The real teachers on a synthetic face: finite targets of the right sizes (float16 maps
    /// that did not overflow), the same answer twice, and crops of the wrong size refused.
    #[test]
    fn teachers_give_finite_targets() {
        let sface = OnnxTeacher::load("sface").unwrap();
        let pad = OnnxTeacher::load("minifas").unwrap();
        let a: Vec<f32> = (0..112 * 112 * 3).map(|i| ((i * 7 + i / 336 * 3) % 256) as f32).collect();
        let b: Vec<f32> = (0..128 * 128 * 3).map(|i| ((i * 5 + i / 384) % 256) as f32).collect();
        let t = FaceTargets::compute(&sface, &a, &pad, &b).unwrap();
        assert_eq!((t.descriptor.len(), t.maps.len()), (DESCRIPTOR, maps_len()));
        let worst = t.maps.iter().map(|v| v.to_f32().abs()).fold(0f32, f32::max);
        assert!(t.pad_logit.is_finite() && worst.is_finite() && worst > 0.0, "logit {}, largest |map| {worst}", t.pad_logit);
        assert_eq!(FaceTargets::compute(&sface, &a, &pad, &b).unwrap(), t);
        assert!(FaceTargets::compute(&sface, &b, &pad, &a).is_err(), "crops swapped: wrong sizes");
    }
}
