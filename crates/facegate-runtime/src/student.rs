//! The student as the browser runs it: its layer plan and the kernels read straight from its
//! weight file. Training builds the same network on burn (`facegate-nets`' `Student`) and
//! exports it here; a test there keeps the two equal.
//!
//! The crop is the anti-spoofing view (the face widened [`STUDENT_VIEW`] times), because
//! attacks show around the face; the identity head reads only the centre of the last stage,
//! the part of the map that covers the face itself, weighing each of those cells per channel
//! (a global depthwise convolution, as MobileFaceNet does). The liveness head also sees the
//! middle stage: print and screen texture is a fine-scale cue the deepest stage has pooled away.

use facegate_format::{WeightsError, WeightsMeta, read_tensors};
use facegate_kernels::{Activation, ConvKind, Map, Pads, linear, mean_window};
use std::collections::HashMap;

pub const STUDENT_INPUT: usize = 128;
pub const STUDENT_VIEW: f64 = 1.5;
pub const STUDENT_ARCH: &str = "student-dwsep-128-e128-gdc";
pub const EMBEDDING: usize = 128;
/// Channels of the three stages aligned with the teachers (strides 4, 8, 16).
pub const STAGE_CHANNELS: [usize; 3] = [64, 128, 256];
/// Depthwise-separable blocks per stage; each stage's first block halves the map.
pub const STAGE_BLOCKS: [usize; 3] = [2, 3, 3];
/// The stem: a 3x3 stride-2 convolution from RGB to this many channels.
pub const STEM_CHANNELS: usize = 32;

/// Stride and input channels of block `i` of a stage from `cin` to `cout` channels.
pub fn block_plan(i: usize, cin: usize, cout: usize) -> (usize, usize) {
    if i == 0 { (2, cin) } else { (1, cout) }
}

/// The batch norms' epsilon (burn's `BatchNormConfig` default, which trained them).
pub const BN_EPSILON: f64 = 1e-5;

/// Side of the centre window of the last stage that covers the face box (5 of 8 cells at 128 px).
pub fn face_cells() -> usize {
    let side = STUDENT_INPUT / 16;
    centre_window(side, side, 1.0 / STUDENT_VIEW).0.len()
}

/// Zero padding on each side of a convolution with this kernel: the output keeps the input's
/// size at stride 1.
pub fn conv_pad(kernel: usize) -> usize {
    kernel / 2
}

/// A convolution with its batch norm folded in, for facegate-kernels, with the zero padding it
/// runs with (training's `ConvBn` exports to it).
#[derive(Debug, Clone)]
pub struct KernelLayer {
    pub conv: facegate_kernels::Conv2d,
    pub pads: Pads,
}

impl KernelLayer {
    /// A convolution and its (inference) batch norm, as stored (burn's `[out, in / groups,
    /// kh, kw]` kernel; gamma, beta, running mean and variance), as one layer: the batch norm
    /// folded into the kernel and a bias (per channel `y = conv(x) * s + t` is
    /// `conv_{w*s}(x) + t`, four element-wise passes fewer), TF's layout, ReLU6 in the same
    /// pass. `groups` is 1 (dense) or the channel count (depthwise).
    #[allow(clippy::too_many_arguments)]
    pub fn fold(
        weight: &[f32],
        [cout, per_group, kh, kw]: [usize; 4],
        groups: usize,
        stride: [usize; 2],
        pads: Pads,
        bn: &[Vec<f32>; 4],
        epsilon: f64,
    ) -> Result<Self, String> {
        let [gamma, beta, mean, var] = bn;
        if weight.len() != cout * per_group * kh * kw || bn.iter().any(|v| v.len() != cout) {
            return Err(format!(
                "a {cout}x{per_group}x{kh}x{kw} convolution with {} weights and batch norms of {:?}",
                weight.len(),
                bn.each_ref().map(Vec::len)
            ));
        }
        let depthwise = groups > 1;
        if depthwise && (groups != cout || per_group != 1) {
            return Err(format!("{groups} groups of a {cout}x{per_group} convolution: only dense and depthwise ones are supported"));
        }
        let scale: Vec<f32> = gamma.iter().zip(var).map(|(g, v)| g / (v + epsilon as f32).sqrt()).collect();
        let shift: Vec<f32> = beta.iter().zip(mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        let cin = if depthwise { cout } else { per_group };
        // burn's [out, in / groups, kh, kw] to TF's [kh, kw, in, out] (depthwise: [kh, kw, c]).
        let mut tf = vec![0f32; weight.len()];
        for o in 0..cout {
            for c in 0..per_group {
                for y in 0..kh {
                    for x in 0..kw {
                        let at = if depthwise { (y * kw + x) * cout + o } else { ((y * kw + x) * cin + c) * cout + o };
                        tf[at] = weight[((o * per_group + c) * kh + y) * kw + x] * scale[o];
                    }
                }
            }
        }
        let kind = if depthwise { ConvKind::Depthwise } else { ConvKind::Dense };
        let conv = facegate_kernels::Conv2d::new(kind, [kh, kw], stride, cin, cout, tf, Some(shift), Activation::Relu6).map_err(|e| e.0)?;
        Ok(Self { conv, pads })
    }

    pub fn run(&self, x: &Map) -> Map {
        self.conv.run(x, self.pads).expect("layer shapes are fixed by the network that made it")
    }
}

/// The student as inference runs it, on facegate-kernels: one crop at a time, NHWC, every
/// batch norm folded into its convolution. It is the one inference path (dev metrics, export,
/// `eval` and the browser), so what is measured is what ships; `Student::forward` in
/// `facegate-nets` is the same network for training, and a test keeps the two equal.
#[derive(Debug, Clone)]
pub struct StudentKernels {
    pub stem: KernelLayer,
    pub stages: [Vec<KernelLayer>; 3],
    /// [c3, k, k] (k = [`face_cells`]).
    pub face_pool: Vec<f32>,
    /// Weight [in, out] and bias of each head.
    pub embed: (Vec<f32>, Vec<f32>),
    pub live: (Vec<f32>, Vec<f32>),
}

impl StudentKernels {
    /// Straight from a weight file, checked in full (every tensor of the network by name and
    /// shape, none left over), without a tensor library:
    /// what the browser loads. Returns the file's header too.
    pub fn from_file(bytes: &[u8]) -> Result<(Self, WeightsMeta), WeightsError> {
        let (meta, tensors) = read_tensors(bytes, STUDENT_ARCH)?;
        let mut named: HashMap<String, (Vec<usize>, Vec<f32>)> = tensors.into_iter().map(|(n, s, d)| (n, (s, d))).collect();
        let mut take = |name: &str, shape: &[usize]| match named.remove(name) {
            Some((s, d)) if s == shape => Ok(d),
            Some((s, _)) => Err(WeightsError::Mismatch(format!("`{name}` {s:?} where the network has {shape:?}"))),
            None => Err(WeightsError::Mismatch(format!("no tensor for `{name}`"))),
        };
        let epsilon = BN_EPSILON;
        let mut conv_bn = |prefix: &str, cin: usize, cout: usize, kernel: usize, stride: usize, groups: usize| {
            let dims = [cout, cin / groups, kernel, kernel];
            let weight = take(&format!("{prefix}.conv.weight"), &dims)?;
            let bn = ["gamma", "beta", "running_mean", "running_var"].map(|k| take(&format!("{prefix}.bn.{k}"), &[cout]));
            let [g, b, m, v] = bn;
            let pads = Pads::same(conv_pad(kernel), conv_pad(kernel));
            KernelLayer::fold(&weight, dims, groups, [stride, stride], pads, &[g?, b?, m?, v?], epsilon).map_err(WeightsError::Mismatch)
        };
        let stem = conv_bn("stem", 3, STEM_CHANNELS, 3, 2, 1)?;
        let mut stages: [Vec<KernelLayer>; 3] = Default::default();
        let mut cin = STEM_CHANNELS;
        for (s, layers) in stages.iter_mut().enumerate() {
            let cout = STAGE_CHANNELS[s];
            for i in 0..STAGE_BLOCKS[s] {
                let (stride, c) = block_plan(i, cin, cout);
                layers.push(conv_bn(&format!("stage{}.{i}.dw", s + 1), c, c, 3, stride, c)?);
                layers.push(conv_bn(&format!("stage{}.{i}.pw", s + 1), c, cout, 1, 1, 1)?);
            }
            cin = cout;
        }
        let [_, c2, c3] = STAGE_CHANNELS;
        let k = face_cells();
        let face_pool = take("face_pool", &[c3, k, k])?;
        let embed = (take("embed.weight", &[c3, EMBEDDING])?, take("embed.bias", &[EMBEDDING])?);
        let live = (take("live.weight", &[c2 + c3, 1])?, take("live.bias", &[1])?);
        if let Some(extra) = named.keys().next() {
            return Err(WeightsError::Mismatch(format!("`{extra}` and {} other tensors the network does not have", named.len() - 1)));
        }
        Ok((Self { stem, stages, face_pool, embed, live }, meta))
    }

    /// One HWC 0..255 crop of `STUDENT_INPUT` square: its unit embedding and live logit,
    /// wired as `Student::forward`.
    pub fn run(&self, crop: &[f32]) -> (Vec<f32>, f32) {
        let (e, logit) = self.run_raw(crop);
        (unit(&e, 1e-6), logit)
    }

    /// [`run`](Self::run) before the embedding is scaled to unit length: what the WebGPU
    /// build's head returns (and [`unit`] finishes on the CPU, in both builds).
    pub fn run_raw(&self, crop: &[f32]) -> (Vec<f32>, f32) {
        assert_eq!(crop.len(), STUDENT_INPUT * STUDENT_INPUT * 3, "crops are {STUDENT_INPUT}x{STUDENT_INPUT} RGB");
        let x = Map { h: STUDENT_INPUT, w: STUDENT_INPUT, c: 3, data: crop.iter().map(|v| v / 127.5 - 1.0).collect() };
        let run = |layers: &[KernelLayer], x: Map| layers.iter().fold(x, |h, l| l.run(&h));
        let s1 = run(&self.stages[0], self.stem.run(&x));
        let s2 = run(&self.stages[1], s1);
        let s3 = run(&self.stages[2], s2.clone());
        let mean = |m: &Map, r: std::ops::Range<usize>, c: std::ops::Range<usize>| mean_window(m, r, c).expect("inside the map");
        let (rows, cols) = centre_window(s3.h, s3.w, 1.0 / STUDENT_VIEW);
        let k = rows.len();
        let mut face = vec![0f32; s3.c];
        for (y, row) in rows.enumerate() {
            for (x, col) in cols.clone().enumerate() {
                let cell = &s3.data[(row * s3.w + col) * s3.c..][..s3.c];
                for (c, v) in cell.iter().enumerate() {
                    face[c] += v * self.face_pool[(c * k + y) * k + x];
                }
            }
        }
        let e = linear(&face, &self.embed.0, &self.embed.1).expect("head shapes");
        let mut features = mean(&s2, 0..s2.h, 0..s2.w);
        features.extend(mean(&s3, 0..s3.h, 0..s3.w));
        let logit = linear(&features, &self.live.0, &self.live.1).expect("head shapes")[0];
        (e, logit)
    }
}

/// Mirrors an HWC RGB square crop left-right in place.
pub fn flip(x: &mut [f32], side: usize) {
    for row in x.chunks_exact_mut(side * 3) {
        for i in 0..side / 2 {
            for c in 0..3 {
                row.swap(i * 3 + c, (side - 1 - i) * 3 + c);
            }
        }
    }
}

/// What inference needs from a batch of crops: unit embeddings and P(live), one per crop.
///
/// The embedding is that of the crop and its mirror image averaged: a person is the same
/// mirrored, and the student's embedding moves with small changes of pose and box (a crop
/// and its mirror: cosine 0.82-0.90), so the average is steadier from frame to frame and
/// separates held-out identities better (CelebA dev TAR at FMR 1e-3 2.5% -> 2.7%). It costs a
/// second pass per face. P(live) is the crop's own: its operating point was fixed on it.
/// Every path that measures or ships the student (dev metrics, export, eval, the browser)
/// comes through here.
pub fn embed_and_score(student: &StudentKernels, crops: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<f32>) {
    crops
        .iter()
        .map(|c| {
            let (own, logit) = student.run_raw(c);
            let mut m = c.clone();
            flip(&mut m, STUDENT_INPUT);
            (fuse_mirror(&own, &student.run_raw(&m).0), p_live(logit))
        })
        .unzip()
}

/// The embedding of a crop and its mirror image ([`embed_and_score`]) from their raw
/// embeddings ([`StudentKernels::run_raw`]): each scaled to unit length, summed, scaled again.
pub fn fuse_mirror(own: &[f32], mirror: &[f32]) -> Vec<f32> {
    let sum: Vec<f32> = unit(own, 1e-6).iter().zip(unit(mirror, 1e-6)).map(|(x, y)| x + y).collect();
    unit(&sum, 1e-12)
}

/// `e` scaled to unit length (a norm under `floor` counts as `floor`).
pub fn unit(e: &[f32], floor: f32) -> Vec<f32> {
    let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt().max(floor);
    e.iter().map(|v| v / norm).collect()
}

/// P(live) alone, one pass per crop: for faces nobody is matched against (a frame being
/// analysed, bystanders), which need not pay for the mirror pass.
pub fn score(student: &StudentKernels, crops: &[Vec<f32>]) -> Vec<f32> {
    crops.iter().map(|c| p_live(student.run(c).1)).collect()
}

/// P(live) from the liveness head's logit.
pub fn p_live(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

/// Rows and columns of the centre `fraction` of an `h` x `w` map (at least one cell), as
/// training's `centre` takes them.
pub fn centre_window(h: usize, w: usize, fraction: f64) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let (ch, cw) = (((h as f64 * fraction).round() as usize).clamp(1, h), ((w as f64 * fraction).round() as usize).clamp(1, w));
    ((h - ch) / 2..(h - ch) / 2 + ch, (w - cw) / 2..(w - cw) / 2 + cw)
}
