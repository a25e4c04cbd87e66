//! What the teachers say about each cached face, computed once and kept on disk next to the
//! crops: the recognition descriptor, the anti-spoofing logit, and three stage maps of each
//! teacher pooled to a 4x4 grid (the feature-alignment targets).
//!
//! The file is keyed by the teachers' weight checksums and the crop cache's key, so a new
//! teacher or a new crop makes a stale file that is rebuilt rather than silently reused.

use crate::augment::center;
use crate::checkpoint::{TrainError, io, write_atomic};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};
use facegate_datasets::cache::FaceCache;
use facegate_nets::{PADNET_INPUT, PadNet, padnet_input};
use facegate_teachers::{CROP, Teacher};
use half::f16;
use std::path::Path;

/// Stage maps are pooled to GRID x GRID cells.
pub const GRID: usize = 4;
/// Channels of the aligned stages, the same in both teachers (MobileNet-v1 stride 4, 8, 16).
pub const TEACHER_STAGE_CHANNELS: [usize; 3] = [128, 256, 512];
/// faceres graph nodes at those stages, then its descriptor.
pub const FACERES_NODES: [&str; 4] = ["conv_pw_3_relu/Relu", "conv_pw_5_relu/Relu", "conv_pw_11_relu/Relu", "global_pooling/Mean"];
pub const DESCRIPTOR: usize = 1024;
const MAGIC: &[u8; 4] = b"FGTT";

/// Values per face of one teacher's pooled stage maps, stage by stage, each [C, GRID, GRID].
pub fn maps_len() -> usize {
    TEACHER_STAGE_CHANNELS.iter().sum::<usize>() * GRID * GRID
}

#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    pub key: String,
    /// Face-recognition descriptors, n x DESCRIPTOR.
    pub descriptor: Vec<f32>,
    /// Anti-spoofing teacher live logits, n.
    pub pad_logit: Vec<f32>,
    /// n x maps_len(), recognition teacher (on the face box crop).
    pub fr_maps: Vec<f16>,
    /// n x maps_len(), anti-spoofing teacher (on its wider view).
    pub pad_maps: Vec<f16>,
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

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(MAGIC);
        out.extend((self.key.len() as u32).to_le_bytes());
        out.extend(self.key.as_bytes());
        out.extend((self.len() as u64).to_le_bytes());
        self.descriptor.iter().chain(&self.pad_logit).for_each(|v| out.extend(v.to_le_bytes()));
        self.fr_maps.iter().chain(&self.pad_maps).for_each(|v| out.extend(v.to_le_bytes()));
        out
    }

    /// `None` when the bytes are not a complete targets file.
    fn from_bytes(b: &[u8]) -> Option<Self> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let s = b.get(at..at + n)?;
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
        let descriptor = f32s(take(n * DESCRIPTOR * 4)?);
        let pad_logit = f32s(take(n * 4)?);
        let fr_maps = f16s(take(n * maps_len() * 2)?);
        let pad_maps = f16s(take(n * maps_len() * 2)?);
        if at != b.len() {
            return None;
        }
        Some(Self { key, descriptor, pad_logit, fr_maps, pad_maps })
    }

    /// The targets stored at `path` if they were made with `key`, else computes and stores them.
    pub fn open_or_build(
        path: &Path,
        key: &str,
        cache: &FaceCache,
        fr: &Teacher,
        pad: &PadNet,
        pad_view: f64,
        mut progress: impl FnMut(usize),
    ) -> Result<Self, TrainError> {
        if let Some(t) = std::fs::read(path).ok().and_then(|b| Self::from_bytes(&b)).filter(|t| t.key == key && t.len() == cache.len()) {
            return Ok(t);
        }
        let mut t = Self { key: key.into(), descriptor: Vec::new(), pad_logit: Vec::new(), fr_maps: Vec::new(), pad_maps: Vec::new() };
        let device = pad_device();
        for start in (0..cache.len()).step_by(16) {
            let idx: Vec<usize> = (start..(start + 16).min(cache.len())).collect();
            let fr_crops: Vec<Vec<f32>> = idx.iter().map(|&i| center(cache.crop(i), cache.size(), CROP, 1.0)).collect();
            let refs: Vec<&[f32]> = fr_crops.iter().map(|c| c.as_slice()).collect();
            let values = fr.features(&refs, &FACERES_NODES).map_err(|e| TrainError::Resume(format!("recognition teacher: {e}")))?;
            let mut stages = Vec::new();
            for v in &values[..3] {
                let (shape, data) = v.to_tf_vec();
                stages.push(pool_nhwc(&data, shape[0], shape[1], shape[2], shape[3]));
            }
            t.fr_maps.extend(interleave(&stages, idx.len()).into_iter().map(f16::from_f32));
            t.descriptor.extend(values[3].to_tf_vec().1);
            let pad_crops: Vec<Vec<f32>> = idx.iter().map(|&i| center(cache.crop(i), cache.size(), PADNET_INPUT, pad_view)).collect();
            let refs: Vec<&[f32]> = pad_crops.iter().map(|c| c.as_slice()).collect();
            let (maps, pooled) = pad.forward_stages(padnet_input(&refs, &device));
            let stages: Vec<Vec<f32>> = maps.into_iter().map(pool_nchw).collect();
            t.pad_maps.extend(interleave(&stages, idx.len()).into_iter().map(f16::from_f32));
            t.pad_logit.extend(pad.logit(pooled).into_data().convert::<f32>().try_to_vec::<f32>().expect("f32"));
            progress(idx.len());
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        write_atomic(path, &t.to_bytes()).map_err(io(path))?;
        Ok(t)
    }
}

fn pad_device() -> Device {
    Device::flex()
}

/// NCHW map -> [N, C*GRID*GRID] averaged over TF-style adaptive cells.
fn pool_nchw(x: Tensor<4>) -> Vec<f32> {
    adaptive_avg_pool2d(x, [GRID, GRID]).into_data().convert::<f32>().try_to_vec::<f32>().expect("f32")
}

/// NHWC values -> [N, C, GRID, GRID] with the same cells as burn's adaptive pooling
/// (cell i spans floor(i*H/G) .. ceil((i+1)*H/G)).
pub fn pool_nhwc(data: &[f32], n: usize, h: usize, w: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0f32; n * c * GRID * GRID];
    for b in 0..n {
        for gy in 0..GRID {
            let (y0, y1) = (gy * h / GRID, ((gy + 1) * h).div_ceil(GRID));
            for gx in 0..GRID {
                let (x0, x1) = (gx * w / GRID, ((gx + 1) * w).div_ceil(GRID));
                let count = ((y1 - y0) * (x1 - x0)) as f32;
                for y in y0..y1 {
                    for x in x0..x1 {
                        let px = &data[((b * h + y) * w + x) * c..][..c];
                        for (ch, v) in px.iter().enumerate() {
                            out[((b * c + ch) * GRID + gy) * GRID + gx] += v / count;
                        }
                    }
                }
            }
        }
    }
    out
}

/// Per-stage batches [N, len_s] -> per-face rows of all stages concatenated.
fn interleave(stages: &[Vec<f32>], n: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(stages.iter().map(|s| s.len()).sum());
    for i in 0..n {
        for s in stages {
            let len = s.len() / n;
            out.extend(&s[i * len..(i + 1) * len]);
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

    #[test]
    fn nhwc_pooling_matches_burn_adaptive_pooling() {
        let (n, h, w, c) = (2, 14, 14, 3);
        let data: Vec<f32> = (0..n * h * w * c).map(|i| ((i * 37) % 101) as f32).collect();
        let ours = pool_nhwc(&data, n, h, w, c);
        let nchw = Tensor::<4>::from_data(burn::tensor::TensorData::new(data, [n, h, w, c]), &Device::flex()).permute([0, 3, 1, 2]);
        let theirs = pool_nchw(nchw);
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
                (0..DESCRIPTOR).map(|i| if i == 3 { a } else if i == 700 { b + a } else { 0.0 }).collect()
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
        let n = 2;
        let t = Targets {
            key: "k".into(),
            descriptor: (0..n * DESCRIPTOR).map(|v| v as f32).collect(),
            pad_logit: vec![0.5, -1.0],
            fr_maps: vec![f16::from_f32(1.5); n * maps_len()],
            pad_maps: vec![f16::from_f32(-2.0); n * maps_len()],
        };
        let bytes = t.to_bytes();
        assert_eq!(Targets::from_bytes(&bytes), Some(t));
        assert_eq!(Targets::from_bytes(&bytes[..bytes.len() - 1]), None);
    }
}
