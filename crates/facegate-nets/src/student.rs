//! The multi-task student on burn, for training: the same network as the kernels the browser
//! runs (`facegate_runtime::student`, whose items are re-exported here), which [`Student::to_runtime`]
//! exports to. Why it is wired as it is: see that module.

use crate::blocks::{ConvBn, Fresh, Layers, SepBlock, Shell, nchw_input};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};

pub use facegate_runtime::student::{
    BN_EPSILON, EMBEDDING, STAGE_BLOCKS, STAGE_CHANNELS, STEM_CHANNELS, STUDENT_ARCH, STUDENT_INPUT, STUDENT_VIEW, StudentKernels, block_plan, centre_window,
    embed_and_score, face_cells, flip, score,
};

#[derive(Module, Debug)]
pub struct Student {
    stem: ConvBn,
    stage1: Vec<SepBlock>,
    stage2: Vec<SepBlock>,
    stage3: Vec<SepBlock>,
    /// Per-channel weights of the face cells of the last stage, [c3, k, k] (k = [`face_cells`]).
    face_pool: Param<Tensor<3>>,
    embed: Linear,
    live: Linear,
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
            // Starts as the plain average (what students before it had), so a run can start
            // from one of them.
            face_pool: Param::from_tensor(Tensor::full([c3, face_cells(), face_cells()], 1.0 / (face_cells() * face_cells()) as f32, device)),
            embed: L::linear(c3, EMBEDDING, device),
            live: L::linear(c2 + c3, 1, device),
        }
    }

    /// The network for inference on facegate-kernels (batch norms folded): see
    /// [`StudentKernels`].
    pub fn to_runtime(&self) -> StudentKernels {
        let param = |l: &Linear| {
            let host = |d: burn::tensor::TensorData| d.try_to_vec::<f32>().expect("f32 params");
            (host(l.weight.val().into_data()), host(l.bias.as_ref().expect("heads have a bias").val().into_data()))
        };
        let stage = |blocks: &[SepBlock]| blocks.iter().flat_map(SepBlock::to_runtime).collect();
        StudentKernels {
            stem: self.stem.to_runtime(),
            stages: [stage(&self.stage1), stage(&self.stage2), stage(&self.stage3)],
            face_pool: self.face_pool.val().into_data().try_to_vec::<f32>().expect("f32 params"),
            embed: param(&self.embed),
            live: param(&self.live),
        }
    }

    /// `x`: NCHW, RGB scaled to -1..1 (see [`student_input`]).
    pub fn forward(&self, x: Tensor<4>) -> StudentOutput {
        let run = |blocks: &[SepBlock], mut h: Tensor<4>| {
            for b in blocks {
                h = b.forward(h);
            }
            h
        };
        let s1 = run(&self.stage1, self.stem.forward(x));
        let s2 = run(&self.stage2, s1.clone());
        let s3 = run(&self.stage3, s2.clone());
        let [n, c3, h, _] = s3.dims();
        let c2 = s2.dims()[1];
        let face = centre(s3.clone(), 1.0 / STUDENT_VIEW);
        let pooled_face = (face * self.face_pool.val().unsqueeze::<4>()).sum_dims(&[2, 3]).reshape([n, c3]);
        let e = self.embed.forward(pooled_face);
        let norm = e.clone().powf_scalar(2.0).sum_dim(1).sqrt().clamp_min(1e-6);
        let embedding = e / norm;
        let texture = s2.clone().mean_dims(&[2, 3]).reshape([n, c2]);
        let whole = s3.clone().mean_dims(&[2, 3]).reshape([n, c3]);
        let live_logit = self.live.forward(Tensor::cat(vec![texture, whole], 1)).reshape([n]);
        debug_assert!(h > 0);
        StudentOutput { embedding, live_logit, stages: [s1, s2, s3] }
    }
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
    for (cout, n) in STAGE_CHANNELS.iter().zip([2, 3, 3]) {
        for i in 0..n {
            if i == 0 {
                side /= 2;
            }
            let c = if i == 0 { cin } else { *cout };
            macs += (side * side * c * 9 + side * side * c * cout) as u64;
        }
        cin = *cout;
    }
    macs + (STAGE_CHANNELS[2] * (face_cells() * face_cells() + EMBEDDING) + STAGE_CHANNELS[1] + STAGE_CHANNELS[2]) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::{WeightsError, WeightsMeta};

    /// The kernels fold batch norms with the epsilon burn trained them with.
    #[test]
    fn the_folding_epsilon_is_burns() {
        assert_eq!(BN_EPSILON, burn::nn::BatchNormConfig::new(1).epsilon);
    }

    #[test]
    fn fits_the_browser_budget() {
        let device = Device::flex();
        let net = Student::new(&device);
        // <= 600 KB in float16 and <= 100 MFLOPs (2 per multiply-accumulate).
        assert!(net.num_params() * 2 <= 600_000, "{} params", net.num_params());
        assert!(student_macs() * 2 <= 100_000_000, "{} MACs", student_macs());
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
        let kernels = net.to_runtime();
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
        // A fresh network with face-cell weights that differ by cell and channel, so a kernel
        // path that mixed up cells or channels would answer differently.
        let k = face_cells();
        let cells: Vec<f32> = (0..STAGE_CHANNELS[2] * k * k).map(|i| ((i * 37) % 23) as f32 / 23.0 - 0.3).collect();
        let face_pool = Param::from_tensor(Tensor::<3>::from_data(burn::tensor::TensorData::new(cells, [STAGE_CHANNELS[2], k, k]), &device));
        let fresh = Student { face_pool, ..Student::new(&device) }.valid();
        for (net, kernels) in [(shipped, Some(from_file)), (fresh, None)] {
            let kernels = kernels.unwrap_or_else(|| net.to_runtime());
            let crops: Vec<Vec<f32>> =
                (0..3).map(|k| (0..STUDENT_INPUT * STUDENT_INPUT * 3).map(|i| ((i * 13 + i / 384 * 7 + k * 101) % 256) as f32).collect()).collect();
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
        let gap = (loaded.valid().forward(student_input(&[&x], &device)).embedding - other.forward(student_input(&[&x], &device)).embedding)
            .abs()
            .max()
            .into_scalar::<f32>();
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
