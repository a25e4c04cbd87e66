//! The multi-task student the browser runs: one depthwise-separable trunk, an identity
//! embedding and a live/attack score.
//!
//! The crop is the anti-spoofing view (the face box widened [`STUDENT_VIEW`] times), because
//! attacks show around the face; the identity head reads only the centre of the last stage,
//! the part of the map that covers the face box itself, so background does not leak into
//! who someone is. It weighs each of those cells per channel (a global depthwise
//! convolution, as MobileFaceNet does) rather than averaging them: where on the face a
//! feature sits is part of who someone is, and an average throws that away. The liveness
//! head also sees the middle stage: print and screen texture is a fine-scale cue that the
//! deepest stage has pooled away.

use crate::blocks::{ConvBn, Fresh, KernelLayer, Layers, ResBlock, SepBlock, Shell, conv_pad, nchw_input};
use crate::weights::{WeightsError, WeightsMeta, read_tensors};
use burn::module::{Module, Param};
use burn::nn::{BatchNormConfig, Linear};
use burn::tensor::{Device, Tensor};
use facegate_kernels::{Activation, Map, Pads, add_in_place, linear, mean_window};
use std::collections::HashMap;

pub const STUDENT_INPUT: usize = 128;
pub const STUDENT_VIEW: f64 = 1.5;
pub const STUDENT_ARCH: &str = "student-dwsep-128-e128-gdc-res";
pub const EMBEDDING: usize = 128;
/// Channels of the three stages aligned with the teachers (strides 4, 8, 16).
pub const STAGE_CHANNELS: [usize; 3] = [64, 128, 256];
/// Depthwise-separable blocks per stage; each stage's first block halves the map.
pub const STAGE_BLOCKS: [usize; 3] = [2, 3, 3];
/// Residual blocks ending each stage (v4). They start as the identity, so the network grew
/// from v3's trained weights without changing what it computed; the capacity is where it is
/// cheap (16x16 and 8x8 maps), since v3 fitted its teacher poorly on its own training faces.
pub const STAGE_RESIDUALS: [usize; 3] = [0, 3, 3];
/// Channels of the wide identity branch: the face cells of the last stage expanded 1x1 (as
/// MobileFaceNet expands to 512 before its global depthwise pooling), pooled per channel and
/// added to the embedding, from zero.
pub const WIDE_CHANNELS: usize = 512;
/// The stem: a 3x3 stride-2 convolution from RGB to this many channels.
const STEM_CHANNELS: usize = 32;

/// Stride and input channels of block `i` of a stage from `cin` to `cout` channels.
fn block_plan(i: usize, cin: usize, cout: usize) -> (usize, usize) {
    if i == 0 { (2, cin) } else { (1, cout) }
}

#[derive(Module, Debug)]
pub struct Student {
    stem: ConvBn,
    stage1: Vec<SepBlock>,
    stage2: Vec<SepBlock>,
    stage3: Vec<SepBlock>,
    /// [`STAGE_RESIDUALS`] of each stage, after its separable blocks.
    residual1: Vec<ResBlock>,
    residual2: Vec<ResBlock>,
    residual3: Vec<ResBlock>,
    /// Per-channel weights of the face cells of the last stage, [c3, k, k] (k = [`face_cells`]).
    face_pool: Param<Tensor<3>>,
    embed: Linear,
    /// The wide branch: 1x1 expansion of the face cells, its cell weights [WIDE, k, k] and its
    /// projection to the embedding (zero when built).
    wide: ConvBn,
    wide_pool: Param<Tensor<3>>,
    wide_embed: Linear,
    live: Linear,
}

/// Side of the centre window of the last stage that covers the face box (5 of 8 cells at 128 px).
pub fn face_cells() -> usize {
    let side = STUDENT_INPUT / 16;
    centre_window(side, side, 1.0 / STUDENT_VIEW).0.len()
}

/// Everything one forward pass yields; training reads all of it, inference two fields.
pub struct StudentOutput {
    /// L2-normalised identity embedding, [N, EMBEDDING].
    pub embedding: Tensor<2>,
    /// Live logit, [N].
    pub live_logit: Tensor<1>,
    /// Stage maps (NCHW) at 32x32, 16x16 and 8x8 for a 128 input.
    pub stages: [Tensor<4>; 3],
}

impl Student {
    /// Randomly initialised, to train.
    pub fn new(device: &Device) -> Self {
        Self::build::<Fresh>(device)
    }

    /// Shapes only, to load a weight file into (what the browser build does).
    pub fn shell(device: &Device) -> Self {
        Self::build::<Shell>(device)
    }

    fn build<L: Layers>(device: &Device) -> Self {
        let [c1, c2, c3] = STAGE_CHANNELS;
        let [n1, n2, n3] = STAGE_BLOCKS;
        let residuals = |c: usize, s: usize| (0..STAGE_RESIDUALS[s]).map(|_| ResBlock::new::<L>(c, device)).collect::<Vec<_>>();
        let k = face_cells();
        let average = |c: usize| Param::from_tensor(Tensor::full([c, k, k], 1.0 / (k * k) as f32, device));
        let mut wide_embed = L::linear(WIDE_CHANNELS, EMBEDDING, device);
        wide_embed.weight = Param::from_tensor(wide_embed.weight.val().zeros_like());
        wide_embed.bias = wide_embed.bias.map(|b| Param::from_tensor(b.val().zeros_like()));
        let blocks = |cin: usize, cout: usize, n: usize| {
            (0..n)
                .map(|i| {
                    let (stride, c) = block_plan(i, cin, cout);
                    SepBlock::new::<L>(c, cout, stride, device)
                })
                .collect::<Vec<_>>()
        };
        Self {
            stem: ConvBn::new::<L>(3, STEM_CHANNELS, 3, 2, 1, device),
            stage1: blocks(STEM_CHANNELS, c1, n1),
            stage2: blocks(c1, c2, n2),
            stage3: blocks(c2, c3, n3),
            residual1: residuals(c1, 0),
            residual2: residuals(c2, 1),
            residual3: residuals(c3, 2),
            // Starts as the plain average (what students before it had), so a run can start
            // from one of them.
            face_pool: average(c3),
            embed: L::linear(c3, EMBEDDING, device),
            wide: ConvBn::new::<L>(c3, WIDE_CHANNELS, 1, 1, 1, device),
            wide_pool: average(WIDE_CHANNELS),
            wide_embed,
            live: L::linear(c2 + c3, 1, device),
        }
    }

    /// The network for inference on facegate-kernels (batch norms folded): see
    /// [`StudentKernels`].
    pub fn kernels(&self) -> StudentKernels {
        let param = |l: &Linear| {
            let host = |d: burn::tensor::TensorData| d.try_to_vec::<f32>().expect("f32 params");
            (host(l.weight.val().into_data()), host(l.bias.as_ref().expect("heads have a bias").val().into_data()))
        };
        let stage = |blocks: &[SepBlock]| blocks.iter().flat_map(SepBlock::kernels).collect();
        let residual = |blocks: &[ResBlock]| blocks.iter().map(ResBlock::kernels).collect();
        let host = |p: &Param<Tensor<3>>| p.val().into_data().try_to_vec::<f32>().expect("f32 params");
        StudentKernels {
            stem: self.stem.kernels(),
            stages: [stage(&self.stage1), stage(&self.stage2), stage(&self.stage3)],
            residuals: [residual(&self.residual1), residual(&self.residual2), residual(&self.residual3)],
            face_pool: host(&self.face_pool),
            embed: param(&self.embed),
            wide: self.wide.kernels(),
            wide_pool: host(&self.wide_pool),
            wide_embed: param(&self.wide_embed),
            live: param(&self.live),
        }
    }

    /// `x`: NCHW, RGB scaled to -1..1 (see [`student_input`]).
    pub fn forward(&self, x: Tensor<4>) -> StudentOutput {
        let run = |blocks: &[SepBlock], residuals: &[ResBlock], mut h: Tensor<4>| {
            for b in blocks {
                h = b.forward(h);
            }
            for b in residuals {
                h = b.forward(h);
            }
            h
        };
        let s1 = run(&self.stage1, &self.residual1, self.stem.forward(x));
        let s2 = run(&self.stage2, &self.residual2, s1.clone());
        let s3 = run(&self.stage3, &self.residual3, s2.clone());
        let [n, c3, h, _] = s3.dims();
        let c2 = s2.dims()[1];
        let face = centre(s3.clone(), 1.0 / STUDENT_VIEW);
        let pool = |x: Tensor<4>, weights: &Param<Tensor<3>>| {
            let c = x.dims()[1];
            (x * weights.val().unsqueeze::<4>()).sum_dims(&[2, 3]).reshape([n, c])
        };
        let e = self.embed.forward(pool(face.clone(), &self.face_pool)) + self.wide_embed.forward(pool(self.wide.forward(face), &self.wide_pool));
        let norm = e.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-6);
        let embedding = e / norm;
        let texture = s2.clone().mean_dims(&[2, 3]).reshape([n, c2]);
        let whole = s3.clone().mean_dims(&[2, 3]).reshape([n, c3]);
        let live_logit = self.live.forward(Tensor::cat(vec![texture, whole], 1)).reshape([n]);
        debug_assert!(h > 0);
        StudentOutput { embedding, live_logit, stages: [s1, s2, s3] }
    }
}

/// The student as inference runs it, on facegate-kernels: one crop at a time, NHWC, every
/// batch norm folded into its convolution. It is the one inference path (dev metrics, export,
/// `eval` and the browser), so what is measured is what ships; [`Student::forward`] is the
/// same network for training, and a test keeps the two equal.
#[derive(Debug, Clone)]
pub struct StudentKernels {
    stem: KernelLayer,
    stages: [Vec<KernelLayer>; 3],
    /// Each residual block's branch (depthwise, linear pointwise), per stage.
    residuals: [Vec<[KernelLayer; 2]>; 3],
    /// [c3, k, k], as [`Student`] holds it.
    face_pool: Vec<f32>,
    /// Weight [in, out] and bias of each head.
    embed: (Vec<f32>, Vec<f32>),
    wide: KernelLayer,
    /// [WIDE_CHANNELS, k, k].
    wide_pool: Vec<f32>,
    wide_embed: (Vec<f32>, Vec<f32>),
    live: (Vec<f32>, Vec<f32>),
}

impl StudentKernels {
    /// Straight from a weight file, checked as [`crate::weights::load`] checks it (every
    /// tensor of the network by name and shape, none left over), without making a burn tensor:
    /// the browser build links none of burn's ops. Returns the file's header too.
    pub fn from_file(bytes: &[u8]) -> Result<(Self, WeightsMeta), WeightsError> {
        let (meta, tensors) = read_tensors(bytes, STUDENT_ARCH)?;
        let mut named: HashMap<String, (Vec<usize>, Vec<f32>)> = tensors.into_iter().map(|(n, s, d)| (n, (s, d))).collect();
        let mut take = |name: &str, shape: &[usize]| match named.remove(name) {
            Some((s, d)) if s == shape => Ok(d),
            Some((s, _)) => Err(WeightsError::Mismatch(format!("`{name}` {s:?} where the network has {shape:?}"))),
            None => Err(WeightsError::Mismatch(format!("no tensor for `{name}`"))),
        };
        let epsilon = BatchNormConfig::new(1).epsilon;
        let mut conv_bn = |prefix: &str, cin: usize, cout: usize, kernel: usize, stride: usize, groups: usize, act: Activation| {
            let dims = [cout, cin / groups, kernel, kernel];
            let weight = take(&format!("{prefix}.conv.weight"), &dims)?;
            let bn = ["gamma", "beta", "running_mean", "running_var"].map(|k| take(&format!("{prefix}.bn.{k}"), &[cout]));
            let [g, b, m, v] = bn;
            let pads = Pads::same(conv_pad(kernel), conv_pad(kernel));
            KernelLayer::fold(&weight, dims, groups, [stride, stride], pads, &[g?, b?, m?, v?], epsilon, act).map_err(WeightsError::Mismatch)
        };
        let relu6 = Activation::Relu6;
        let stem = conv_bn("stem", 3, STEM_CHANNELS, 3, 2, 1, relu6)?;
        let mut stages: [Vec<KernelLayer>; 3] = Default::default();
        let mut residuals: [Vec<[KernelLayer; 2]>; 3] = Default::default();
        let mut cin = STEM_CHANNELS;
        for (s, layers) in stages.iter_mut().enumerate() {
            let cout = STAGE_CHANNELS[s];
            for i in 0..STAGE_BLOCKS[s] {
                let (stride, c) = block_plan(i, cin, cout);
                layers.push(conv_bn(&format!("stage{}.{i}.dw", s + 1), c, c, 3, stride, c, relu6)?);
                layers.push(conv_bn(&format!("stage{}.{i}.pw", s + 1), c, cout, 1, 1, 1, relu6)?);
            }
            for i in 0..STAGE_RESIDUALS[s] {
                let dw = conv_bn(&format!("residual{}.{i}.dw", s + 1), cout, cout, 3, 1, cout, relu6)?;
                residuals[s].push([dw, conv_bn(&format!("residual{}.{i}.pw", s + 1), cout, cout, 1, 1, 1, Activation::None)?]);
            }
            cin = cout;
        }
        let [_, c2, c3] = STAGE_CHANNELS;
        let k = face_cells();
        let wide = conv_bn("wide", c3, WIDE_CHANNELS, 1, 1, 1, relu6)?;
        let face_pool = take("face_pool", &[c3, k, k])?;
        let embed = (take("embed.weight", &[c3, EMBEDDING])?, take("embed.bias", &[EMBEDDING])?);
        let wide_pool = take("wide_pool", &[WIDE_CHANNELS, k, k])?;
        let wide_embed = (take("wide_embed.weight", &[WIDE_CHANNELS, EMBEDDING])?, take("wide_embed.bias", &[EMBEDDING])?);
        let live = (take("live.weight", &[c2 + c3, 1])?, take("live.bias", &[1])?);
        if let Some(extra) = named.keys().next() {
            return Err(WeightsError::Mismatch(format!("`{extra}` and {} other tensors the network does not have", named.len() - 1)));
        }
        Ok((Self { stem, stages, residuals, face_pool, embed, wide, wide_pool, wide_embed, live }, meta))
    }

    /// One HWC 0..255 crop of `STUDENT_INPUT` square: its unit embedding and live logit,
    /// wired as [`Student::forward`].
    pub fn run(&self, crop: &[f32]) -> (Vec<f32>, f32) {
        assert_eq!(crop.len(), STUDENT_INPUT * STUDENT_INPUT * 3, "crops are {STUDENT_INPUT}x{STUDENT_INPUT} RGB");
        let x = Map { h: STUDENT_INPUT, w: STUDENT_INPUT, c: 3, data: crop.iter().map(|v| v / 127.5 - 1.0).collect() };
        let run = |layers: &[KernelLayer], x: Map| layers.iter().fold(x, |h, l| l.run(&h));
        let stage = |s: usize, x: Map| {
            let mut h = run(&self.stages[s], x);
            for branch in &self.residuals[s] {
                let r = run(branch, h.clone());
                add_in_place(&mut h, &r, Activation::None).expect("a branch keeps its input's shape");
            }
            h
        };
        let s1 = stage(0, self.stem.run(&x));
        let s2 = stage(1, s1);
        let s3 = stage(2, s2.clone());
        let mean = |m: &Map, r: std::ops::Range<usize>, c: std::ops::Range<usize>| mean_window(m, r, c).expect("inside the map");
        let (rows, cols) = centre_window(s3.h, s3.w, 1.0 / STUDENT_VIEW);
        let k = rows.len();
        let mut cells = Vec::with_capacity(k * k * s3.c);
        for row in rows {
            cells.extend_from_slice(&s3.data[(row * s3.w + cols.start) * s3.c..][..cols.len() * s3.c]);
        }
        let face = Map::new(k, cols.len(), s3.c, cells).expect("the centre cells");
        let e = linear(&pool_cells(&face, &self.face_pool), &self.embed.0, &self.embed.1).expect("head shapes");
        let wide = linear(&pool_cells(&self.wide.run(&face), &self.wide_pool), &self.wide_embed.0, &self.wide_embed.1).expect("head shapes");
        let e: Vec<f32> = e.iter().zip(wide).map(|(a, b)| a + b).collect();
        let norm = e.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-6);
        let mut features = mean(&s2, 0..s2.h, 0..s2.w);
        features.extend(mean(&s3, 0..s3.h, 0..s3.w));
        let logit = linear(&features, &self.live.0, &self.live.1).expect("head shapes")[0];
        (e.into_iter().map(|v| v / norm).collect(), logit)
    }
}

/// Per-channel weighted sum of a k x k map's cells (`weights` [c, k, k], as burn holds them).
fn pool_cells(x: &Map, weights: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; x.c];
    for y in 0..x.h {
        for (xx, cell) in x.data[y * x.w * x.c..][..x.w * x.c].chunks_exact(x.c).enumerate() {
            for (c, v) in cell.iter().enumerate() {
                out[c] += v * weights[(c * x.h + y) * x.w + xx];
            }
        }
    }
    out
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
            let (own, logit) = student.run(c);
            let mut m = c.clone();
            flip(&mut m, STUDENT_INPUT);
            let sum: Vec<f32> = own.iter().zip(student.run(&m).0).map(|(x, y)| x + y).collect();
            let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
            (sum.into_iter().map(|v| v / norm).collect(), p_live(logit))
        })
        .unzip()
}

/// P(live) alone, one pass per crop: for faces nobody is matched against (a frame being
/// analysed, bystanders), which need not pay for the mirror pass.
pub fn score(student: &StudentKernels, crops: &[Vec<f32>]) -> Vec<f32> {
    crops.iter().map(|c| p_live(student.run(c).1)).collect()
}

fn p_live(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

/// Rows and columns of the centre `fraction` of an `h` x `w` map (at least one cell), as
/// [`centre`] takes them.
fn centre_window(h: usize, w: usize, fraction: f64) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let (ch, cw) = (((h as f64 * fraction).round() as usize).clamp(1, h), ((w as f64 * fraction).round() as usize).clamp(1, w));
    ((h - ch) / 2..(h - ch) / 2 + ch, (w - cw) / 2..(w - cw) / 2 + cw)
}

/// The centre `fraction` of a map's height and width (at least one cell).
pub fn centre(x: Tensor<4>, fraction: f64) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let (rows, cols) = centre_window(h, w, fraction);
    x.narrow(2, rows.start, rows.len()).narrow(3, cols.start, cols.len())
}

/// HWC 0..255 crops of `STUDENT_INPUT` square, batched as the student's input.
pub fn student_input(crops: &[&[f32]], device: &Device) -> Tensor<4> {
    nchw_input(crops, STUDENT_INPUT, device)
}

/// Multiply-accumulates of one forward pass, counted from the layer plan: convolutions and
/// the two heads (batch norm folds into the convolutions at export).
pub fn student_macs() -> u64 {
    let mut macs = 0u64;
    let mut side = STUDENT_INPUT / 2;
    macs += (side * side * 3 * 9 * 32) as u64;
    let mut cin = 32;
    for ((cout, n), r) in STAGE_CHANNELS.iter().zip(STAGE_BLOCKS).zip(STAGE_RESIDUALS) {
        for i in 0..n + r {
            if i == 0 {
                side /= 2;
            }
            let c = if i == 0 { cin } else { *cout };
            macs += (side * side * c * 9 + side * side * c * cout) as u64;
        }
        cin = *cout;
    }
    let (c3, cells) = (STAGE_CHANNELS[2], face_cells() * face_cells());
    let wide = cells * c3 * WIDE_CHANNELS + WIDE_CHANNELS * (cells + EMBEDDING);
    macs + (c3 * (cells + EMBEDDING) + STAGE_CHANNELS[1] + c3 + wide) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_the_browser_budget() {
        let device = Device::flex();
        let net = Student::new(&device);
        // <= 1 MB stored as int8 (a byte a weight) and <= 200 MFLOPs (2 per multiply-accumulate).
        assert!(net.num_params() <= 1_000_000, "{} params", net.num_params());
        assert!(student_macs() * 2 <= 200_000_000, "{} MACs", student_macs());
    }

    /// A fresh network with every grown part switched on (residual branches and the wide
    /// branch are built as zero), so a kernel path that mishandled them would answer
    /// differently.
    fn busy(device: &Device) -> Student {
        let mut net = Student::new(device);
        let ramp = |n: usize, scale: f32| -> Vec<f32> { (0..n).map(|i| (((i * 37) % 23) as f32 / 23.0 - 0.3) * scale).collect() };
        let c3 = STAGE_CHANNELS[2];
        let k = face_cells();
        let t1 = |v: Vec<f32>| Tensor::<1>::from_data(burn::tensor::TensorData::new(v.clone(), [v.len()]), device);
        for b in net.residual2.iter_mut().chain(net.residual3.iter_mut()) {
            let w = b.pw.conv_weight();
            let c = w.dims()[0];
            b.pw.assign(w, t1(ramp(c, 1.0)), t1(ramp(c, 0.1))).unwrap();
        }
        net.face_pool = Param::from_tensor(Tensor::<3>::from_data(burn::tensor::TensorData::new(ramp(c3 * k * k, 1.0), [c3, k, k]), device));
        net.wide_pool = Param::from_tensor(Tensor::<3>::from_data(burn::tensor::TensorData::new(ramp(WIDE_CHANNELS * k * k, 1.0), [WIDE_CHANNELS, k, k]), device));
        net.wide_embed.weight = Param::from_tensor(Tensor::<2>::from_data(burn::tensor::TensorData::new(ramp(WIDE_CHANNELS * EMBEDDING, 0.05), [WIDE_CHANNELS, EMBEDDING]), device));
        net
    }

    /// Grown parts start as nothing: a fresh network answers as it does with its residual
    /// blocks and wide branch left out, so a run that grows v3 starts where v3 was.
    #[test]
    fn grown_parts_start_as_nothing() {
        let device = Device::flex();
        let net = Student::new(&device).valid();
        let x: Vec<f32> = (0..STUDENT_INPUT * STUDENT_INPUT * 3).map(|i| (i * 7 % 256) as f32).collect();
        let full = net.forward(student_input(&[&x], &device));
        let plain = Student { residual1: vec![], residual2: vec![], residual3: vec![], ..net.clone() };
        let base = plain.forward(student_input(&[&x], &device));
        let gap = (full.embedding.clone() - base.embedding).abs().max().into_scalar::<f32>();
        assert!(gap < 1e-6, "residual blocks changed a fresh network by {gap}");
        let busy = busy(&device).valid().forward(student_input(&[&x], &device));
        assert!((busy.embedding - full.embedding).abs().max().into_scalar::<f32>() > 1e-3, "the grown parts are wired in");
    }

    #[test]
    fn unit_embeddings_one_logit_and_three_stages() {
        let device = Device::flex();
        let net = Student::new(&device);
        let a = vec![100.0f32; STUDENT_INPUT * STUDENT_INPUT * 3];
        let b: Vec<f32> = (0..a.len()).map(|i| (i % 251) as f32).collect();
        let out = net.forward(student_input(&[&a, &b], &device));
        assert_eq!(out.embedding.dims(), [2, EMBEDDING]);
        assert_eq!(out.live_logit.dims(), [2]);
        let norms = out.embedding.powf_scalar(2.0).sum_dim(1).into_data().try_to_vec::<f32>().unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-4), "{norms:?}");
        let sides: Vec<usize> = out.stages.iter().map(|s| s.dims()[2]).collect();
        assert_eq!(sides, [32, 16, 8]);
        let channels: Vec<usize> = out.stages.iter().map(|s| s.dims()[1]).collect();
        assert_eq!(channels, STAGE_CHANNELS);
    }

    /// The browser loads into a shell: it must be the trained network, layer for layer
    /// (strides, padding and groups included), once the file is in.
    #[test]
    fn a_shell_loaded_from_a_file_is_the_network() {
        use crate::weights::{WeightsMeta, load, to_bytes};
        let device = Device::flex();
        let net = Student::new(&device).valid();
        let meta = WeightsMeta { arch: STUDENT_ARCH.into(), input: STUDENT_INPUT, ..Default::default() };
        let (shell, _) = load(Student::shell(&device), &to_bytes(&net, &meta), STUDENT_ARCH).unwrap();
        assert_eq!(shell.num_params(), net.num_params());
        let x: Vec<f32> = (0..STUDENT_INPUT * STUDENT_INPUT * 3).map(|i| (i * 7 % 256) as f32).collect();
        let (a, b) = (net.forward(student_input(&[&x], &device)), shell.forward(student_input(&[&x], &device)));
        let diff = (a.embedding - b.embedding).abs().max().into_scalar::<f32>() + (a.live_logit - b.live_logit).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-2, "shell answers differently by {diff}");
    }

    #[test]
    fn a_face_and_its_mirror_image_get_one_embedding_and_liveness_reads_the_crop() {
        let device = Device::flex();
        let net = Student::new(&device).valid();
        let a: Vec<f32> = (0..STUDENT_INPUT * STUDENT_INPUT * 3).map(|i| ((i * 13 + i / 384 * 7) % 256) as f32).collect();
        let mut m = a.clone();
        flip(&mut m, STUDENT_INPUT);
        let kernels = net.kernels();
        let (e, p) = embed_and_score(&kernels, &[a.clone(), m]);
        let gap = e[0].iter().zip(&e[1]).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(gap < 1e-5, "mirror images differ by {gap}");
        assert!((e[0].iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-4);
        let own = burn::tensor::activation::sigmoid(net.forward(student_input(&[&a], &device)).live_logit).into_scalar::<f32>();
        assert!((p[0] - own).abs() < 1e-4, "{} vs {own}", p[0]);
        // More crops than one batch keep their order.
        let many: Vec<Vec<f32>> = (0..40).map(|k| a.iter().map(|v| (v + k as f32 * 5.0) % 256.0).collect()).collect();
        let (e40, p40) = embed_and_score(&kernels, &many);
        let (e1, p1) = embed_and_score(&kernels, &many[37..38]);
        assert!((p40[37] - p1[0]).abs() < 1e-5 && e40[37].iter().zip(&e1[0]).all(|(x, y)| (x - y).abs() < 1e-5));
        // Scoring alone gives the same P(live).
        let alone = score(&kernels, &many);
        assert!(alone.iter().zip(&p40).all(|(x, y)| (x - y).abs() < 1e-5), "{alone:?} vs {p40:?}");
    }

    /// Inference (facegate-kernels, batch norms folded, NHWC) answers as the training graph
    /// does: on the shipped student read straight from its file, and on a fresh network.
    #[test]
    fn the_kernels_answer_as_the_training_graph() {
        use crate::weights::load;
        let device = Device::flex();
        let bytes = include_bytes!("../../../models/student.fgw");
        let (shipped, _) = load(Student::shell(&device), bytes, STUDENT_ARCH).unwrap();
        let (from_file, _) = StudentKernels::from_file(bytes).unwrap();
        // A fresh network with cell weights that differ by cell and channel and its grown
        // parts switched on, so a kernel path that mixed them up would answer differently.
        let fresh = busy(&device).valid();
        for (net, kernels) in [(shipped, Some(from_file)), (fresh, None)] {
            let kernels = kernels.unwrap_or_else(|| net.kernels());
            let crops: Vec<Vec<f32>> = (0..3).map(|k| (0..STUDENT_INPUT * STUDENT_INPUT * 3).map(|i| ((i * 13 + i / 384 * 7 + k * 101) % 256) as f32).collect()).collect();
            let refs: Vec<&[f32]> = crops.iter().map(|c| c.as_slice()).collect();
            let out = net.forward(student_input(&refs, &device));
            let emb = out.embedding.into_data().try_to_vec::<f32>().unwrap();
            let logits = out.live_logit.into_data().try_to_vec::<f32>().unwrap();
            for (k, crop) in crops.iter().enumerate() {
                let (e, logit) = kernels.run(crop);
                let gap = e.iter().zip(&emb[k * EMBEDDING..][..EMBEDDING]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(gap < 1e-4, "crop {k}: embedding off by {gap}");
                assert!((logit - logits[k]).abs() < 1e-3 * logits[k].abs().max(1.0), "crop {k}: logit {logit} vs {}", logits[k]);
            }
            assert_ne!(logits[0], logits[1], "two different crops");
        }
    }

    /// Fine-tuning starts from an earlier student: what the file shares by name and shape is
    /// taken, the rest stays as built and is named.
    #[test]
    fn loading_what_matches_takes_shared_tensors_and_names_the_rest() {
        use crate::weights::{load_matching, to_bytes};
        let device = Device::flex();
        let other = Student::new(&device).valid();
        let bytes = to_bytes(&other, &WeightsMeta { arch: STUDENT_ARCH.into(), ..Default::default() });
        let (loaded, kept) = load_matching(Student::new(&device), &bytes).unwrap();
        assert!(kept.is_empty(), "{kept:?}");
        let x: Vec<f32> = (0..STUDENT_INPUT * STUDENT_INPUT * 3).map(|i| (i * 11 % 256) as f32).collect();
        let gap = (loaded.valid().forward(student_input(&[&x], &device)).embedding - other.forward(student_input(&[&x], &device)).embedding).abs().max().into_scalar::<f32>();
        assert!(gap < 1e-2, "{gap}");
        // A different network shares nothing of the student's: every tensor is named.
        let pad = to_bytes(&crate::PadNet::new(&device), &WeightsMeta { arch: crate::PADNET_ARCH.into(), ..Default::default() });
        let (_, kept) = load_matching(Student::new(&device), &pad).unwrap();
        assert!(kept.contains(&"face_pool".to_string()) && kept.contains(&"embed.weight".to_string()), "{kept:?}");
        assert!(load_matching(Student::new(&device), &bytes[..bytes.len() - 3]).is_err());
    }

    #[test]
    fn a_fresh_face_pool_is_the_average_of_the_face_cells() {
        let device = Device::flex();
        let net = Student::new(&device);
        let k = face_cells();
        assert_eq!(k, 5);
        let w = net.face_pool.val().into_data().try_to_vec::<f32>().unwrap();
        assert!(w.iter().all(|v| (v - 1.0 / (k * k) as f32).abs() < 1e-7));
    }

    #[test]
    fn reading_kernels_from_a_file_refuses_bad_files() {
        let bytes = include_bytes!("../../../models/student.fgw");
        assert!(matches!(StudentKernels::from_file(&bytes[..bytes.len() - 10]), Err(WeightsError::Truncated | WeightsError::Checksum)));
        let mut tampered = bytes.to_vec();
        let at = tampered.len() / 2;
        tampered[at] ^= 0x40;
        assert!(StudentKernels::from_file(&tampered).is_err());
        let pad = crate::weights::to_bytes(&crate::PadNet::new(&Device::flex()), &WeightsMeta { arch: crate::PADNET_ARCH.into(), ..Default::default() });
        assert!(matches!(StudentKernels::from_file(&pad), Err(WeightsError::Arch { .. })));
        // Right architecture name, wrong tensors: refused by name and shape, not run.
        let other = crate::weights::to_bytes(&crate::PadNet::new(&Device::flex()), &WeightsMeta { arch: STUDENT_ARCH.into(), ..Default::default() });
        assert!(matches!(StudentKernels::from_file(&other), Err(WeightsError::Mismatch(_))));
    }

    #[test]
    fn centre_takes_the_middle_cells() {
        let device = Device::flex();
        let x = Tensor::<4>::from_data(burn::tensor::TensorData::new((0..36).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 6, 6]), &device);
        let c = centre(x, 2.0 / 3.0).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(c, vec![7.0, 8.0, 9.0, 10.0, 13.0, 14.0, 15.0, 16.0, 19.0, 20.0, 21.0, 22.0, 25.0, 26.0, 27.0, 28.0]);
    }
}
