//! Fine-tuning MiniFASNet V2 SE (the ONNX anti-spoofing teacher) on our training sets, through
//! its burn lowering ([`crate::onnx_net::OnnxNet`]): class-balanced cross-entropy on its two
//! logits [real, spoof] plus a KL term to the original network's softmax, so that it keeps what
//! it learnt on CelebA-Spoof. Crops are exactly the evaluation crop (the teacher's reflected
//! 128x128 view), cut once up front; augmentation is a flip and brightness/contrast jitter.

pub use crate::checkpoint::Event;
use crate::checkpoint::{EpochMeter, Run, RunState, TrainError, cosine_lr, steps_per_epoch};
use crate::losses::balanced_weights;
use crate::onnx_net::OnnxNet;
use crate::rng::Rng;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Device, Tensor, TensorData};
use facegate_metrics::eer;
use facegate_nets::weights::{WeightsMeta, to_bytes};
pub use facegate_runtime::onnx::OnnxModel;
pub use facegate_runtime::onnx::ir::Graph;
use facegate_teachers::OnnxTeacher;
use facegate_teachers::onnx::{OnnxKind, onnx_path};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The weight-file architecture of a fine-tuned MiniFAS: the base graph's wiring (from the
/// ONNX file) with the file's weights.
pub const MINIFAS_FT_ARCH: &str = "minifas-v2se-ft";
/// Side of MiniFAS's square input.
pub const MINIFAS_INPUT: usize = 128;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinifasTrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Stop an epoch after this many batches (tests, smoke runs); 0 = whole epoch.
    pub max_steps: usize,
    /// Live faces drawn each epoch from the extra pool (CelebA).
    pub extra_live: usize,
    /// Weight of the KL term to the original network's softmax.
    pub kd: f64,
    pub detector: String,
    /// Probability of the camera effects (resolution, colour, gamma, blur, JPEG) of
    /// [`crate::augment::Augment::camera`] per training crop: unseen webcams differ most in these.
    #[serde(default)]
    pub camera: f64,
}

impl Default for MinifasTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 4,
            batch: 32,
            lr: 1e-4,
            weight_decay: 1e-4,
            seed: 17,
            max_steps: 0,
            extra_live: 1000,
            kd: 0.5,
            detector: "facemesh-detection-short".into(),
            camera: 0.0,
        }
    }
}

/// One training or dev crop: HWC RGB u8, `MINIFAS_INPUT` square.
#[derive(Debug, Clone)]
pub struct Crop {
    pub pixels: Vec<u8>,
    pub live: bool,
}

/// MiniFAS's folded graph, from the ONNX file [`onnx_path`] finds.
pub fn base_graph() -> Result<Graph, Box<dyn std::error::Error>> {
    let path = onnx_path(OnnxKind::Minifas)?;
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(facegate_runtime::onnx::import(&bytes, &path.display().to_string())?)
}

/// HWC RGB 0..255 crops to MiniFAS's input: NCHW RGB / 255.
pub fn input<C: AsRef<[f32]>>(crops: &[C], device: &Device) -> Tensor<4> {
    let s = MINIFAS_INPUT;
    let mut x = vec![0f32; crops.len() * 3 * s * s];
    for (n, crop) in crops.iter().enumerate() {
        let base = n * 3 * s * s;
        for (i, px) in crop.as_ref().chunks_exact(3).enumerate() {
            for c in 0..3 {
                x[base + c * s * s + i] = px[c] / 255.0;
            }
        }
    }
    Tensor::from_data(TensorData::new(x, [crops.len(), 3, s, s]), device)
}

/// P(live) = softmax[0] for each crop (HWC 0..255).
pub fn predict<C: AsRef<[f32]>>(net: &OnnxNet, crops: &[C], device: &Device) -> Vec<f32> {
    let mut out = Vec::with_capacity(crops.len());
    for chunk in crops.chunks(32) {
        let p = softmax(net.forward(input(chunk, device)), 1);
        let v = p.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32");
        out.extend(v.chunks_exact(2).map(|r| r[0]));
    }
    out
}

fn to_f32(pixels: &[u8]) -> Vec<f32> {
    pixels.iter().map(|&v| v as f32).collect()
}

/// Horizontal flip (half the time) and brightness/contrast jitter.
fn augment(pixels: &[u8], camera: f64, rng: &mut Rng) -> Vec<f32> {
    let s = MINIFAS_INPUT;
    let flip = rng.chance(0.5);
    let contrast = rng.range(0.75, 1.25) as f32;
    let brightness = rng.range(0.75, 1.25) as f32;
    let mut out = vec![0f32; s * s * 3];
    for y in 0..s {
        for x in 0..s {
            let sx = if flip { s - 1 - x } else { x };
            for c in 0..3 {
                let v = pixels[(y * s + sx) * 3 + c] as f32;
                out[(y * s + x) * 3 + c] = (((v - 127.5) * contrast + 127.5) * brightness).clamp(0.0, 255.0);
            }
        }
    }
    if rng.chance(camera) {
        out = crate::augment::Augment::default().camera(out, s, rng);
    }
    out
}

/// The original network's softmax [real, spoof] for each crop, on the kernels, through the
/// `minifas` teacher's own input recipe and scoring (P(live) is the softmax's first value).
pub fn teacher_probs(model: OnnxModel, crops: &[&Crop]) -> Result<Vec<[f32; 2]>, TrainError> {
    let teacher = OnnxTeacher::from_model(OnnxKind::Minifas, model).map_err(|e| TrainError::Resume(e.to_string()))?;
    crops
        .iter()
        .map(|c| {
            let live = teacher.live(&to_f32(&c.pixels)).map_err(|e| TrainError::Resume(e.to_string()))?;
            Ok([live, 1.0 - live])
        })
        .collect()
}

/// Dev EER (live vs all attacks), its threshold on P(live), and AUC.
pub fn dev_metrics<C: std::borrow::Borrow<Crop>>(net: &OnnxNet, dev: &[C], device: &Device) -> (f64, serde_json::Value) {
    let crops: Vec<Vec<f32>> = dev.iter().map(|c| to_f32(&c.borrow().pixels)).collect();
    let scores = predict(net, &crops, device);
    let live: Vec<f32> = scores.iter().zip(dev).filter(|(_, c)| c.borrow().live).map(|(s, _)| *s).collect();
    let attack: Vec<f32> = scores.iter().zip(dev).filter(|(_, c)| !c.borrow().live).map(|(s, _)| *s).collect();
    let (eer_value, threshold) = eer(&live, &attack);
    let auc = if live.is_empty() || attack.is_empty() { f64::NAN } else { facegate_metrics::auc(&live, &attack) };
    (eer_value, serde_json::json!({ "eer": eer_value, "threshold": threshold, "auc": auc, "n_live": live.len(), "n_attack": attack.len() }))
}

/// Trains (or resumes) into `out` as `train pad-teacher` does (`last.bpk`, `optim.bpk`,
/// `state.json` every epoch, `best.bpk` on a lower dev EER, `log.json`). Every epoch sees all
/// of `train` and `cfg.extra_live` crops drawn from `extra` (all live).
#[allow(clippy::too_many_arguments)]
pub fn train(
    base: &Graph,
    train: &[Crop],
    extra: &[Crop],
    dev: &[Crop],
    cfg: &MinifasTrainConfig,
    out: &Path,
    resume: bool,
    mut on: impl FnMut(Event),
) -> Result<RunState, TrainError> {
    if train.is_empty() {
        return Err(TrainError::Empty);
    }
    let device = Device::flex().autodiff();
    let kernels = OnnxModel::from_graph(base).map_err(|e| TrainError::Resume(e.to_string()))?;
    let mut data: Vec<&Crop> = train.iter().collect();
    data.extend(extra.iter());
    let soft: Vec<[f32; 2]> = teacher_probs(kernels, &data)?;
    let n_train = train.len();
    let n_extra = cfg.extra_live.min(extra.len());
    let (mut run, resumed) = Run::open(out, serde_json::to_value(cfg).expect("config serialises"), cfg.seed, resume)?;
    let mut model = OnnxNet::new(base, &device).map_err(TrainError::Resume)?;
    let mut optim = AdamWConfig::new().with_weight_decay(cfg.weight_decay as f32).init();
    if resumed {
        (model, optim) = run.restore(model, optim)?;
    }
    let per_epoch = n_train + n_extra;
    let (w_live, w_attack) = balanced_weights(train.iter().filter(|c| c.live).count() + n_extra, per_epoch);
    let steps = steps_per_epoch(per_epoch, cfg.batch, cfg.max_steps);
    let total_steps = (cfg.epochs * steps).max(1);
    for epoch in run.state.epochs_done..cfg.epochs {
        let mut rng = Rng(run.state.rng);
        let mut pool: Vec<usize> = (n_train..data.len()).collect();
        rng.shuffle(&mut pool);
        let mut order: Vec<usize> = (0..n_train).chain(pool.into_iter().take(n_extra)).collect();
        rng.shuffle(&mut order);
        let mut meter = EpochMeter::default();
        for (step, idx) in order.chunks(cfg.batch).take(steps).enumerate() {
            let n = idx.len();
            let crops: Vec<Vec<f32>> = idx.iter().map(|&i| augment(&data[i].pixels, cfg.camera, &mut rng)).collect();
            let mut one_hot = Vec::with_capacity(2 * n);
            let mut weights = Vec::with_capacity(n);
            let mut teacher = Vec::with_capacity(2 * n);
            for &i in idx {
                let live = data[i].live;
                one_hot.extend(if live { [1.0, 0.0] } else { [0.0, 1.0] });
                weights.push(if live { w_live } else { w_attack });
                teacher.extend(soft[i]);
            }
            let logits = model.forward(input(&crops, &device));
            let logp = log_softmax(logits, 1);
            let one_hot = Tensor::<2>::from_data(TensorData::new(one_hot, [n, 2]), &device);
            let weights = Tensor::<1>::from_data(TensorData::new(weights, [n]), &device);
            let teacher = Tensor::<2>::from_data(TensorData::new(teacher, [n, 2]), &device);
            let ce = ((logp.clone() * one_hot).sum_dim(1).reshape([n]).neg() * weights).mean();
            let t_log = teacher.clone().clamp_min(1e-8).log();
            let kl = (teacher * (t_log - logp)).sum_dim(1).mean();
            let loss = ce + kl.mul_scalar(cfg.kd);
            meter.add(loss.clone().into_scalar::<f32>() as f64, n, epoch, step)?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cosine_lr(cfg.lr, epoch * steps + step, total_steps), model, grads);
            on(meter.step(epoch, step, steps));
        }
        let valid = model.valid();
        let (score, dev_json) = if dev.is_empty() { (f64::INFINITY, serde_json::Value::Null) } else { dev_metrics(&valid, dev, &Device::flex()) };
        let log = meter.finish(epoch, dev_json);
        on(Event::Epoch(&log));
        run.end_epoch(&model, &optim, log, if score.is_nan() { f64::INFINITY } else { score }, rng.0)?;
    }
    Ok(run.state)
}

/// A checkpoint written by [`train`], for inference.
pub fn load_checkpoint(base: &Graph, path: &Path) -> Result<OnnxNet, TrainError> {
    let net = OnnxNet::new(base, &Device::flex()).map_err(TrainError::Resume)?;
    net.try_load_file(path).map_err(|e| TrainError::Resume(format!("{}: {e}", path.display())))
}

/// The weight file (float16) of a fine-tuned net.
pub fn export(net: &OnnxNet, meta: &WeightsMeta) -> Vec<u8> {
    debug_assert_eq!(meta.arch, MINIFAS_FT_ARCH);
    to_bytes(net, meta)
}

/// A weight file written by [`export`] as a model for the kernels: the base graph with the
/// file's weights.
pub fn open(bytes: &[u8], base: &Graph) -> Result<(OnnxModel, WeightsMeta), Box<dyn std::error::Error>> {
    let net = OnnxNet::new(base, &Device::flex())?;
    let (net, meta) = facegate_nets::weights::load(net, bytes, MINIFAS_FT_ARCH)?;
    Ok((OnnxModel::from_graph(&net.to_graph(base))?, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minifas_export_round_trips_through_the_weight_file() {
        let base = base_graph().unwrap();
        let net = OnnxNet::new(&base, &Device::flex()).unwrap();
        let meta = WeightsMeta { arch: MINIFAS_FT_ARCH.into(), input: MINIFAS_INPUT, ..Default::default() };
        let bytes = export(&net, &meta);
        assert!(bytes.len() < 1_200_000, "{} bytes", bytes.len());
        let (model, back) = open(&bytes, &base).unwrap();
        assert_eq!(back.arch, MINIFAS_FT_ARCH);
        let original = OnnxModel::from_graph(&base).unwrap();
        let mut rng = Rng(3);
        let x: Vec<f32> = (0..3 * 128 * 128).map(|_| rng.unit() as f32).collect();
        let out = base.outputs[0].as_str();
        let (a, b) = (model.run(&x, &[out]).unwrap().swap_remove(0).data, original.run(&x, &[out]).unwrap().swap_remove(0).data);
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 0.05 * (1.0 + q.abs()), "f16 weights {p} vs {q}");
        }
    }

    #[test]
    fn minifas_training_step_runs_and_checkpoints() {
        let base = base_graph().unwrap();
        let mut rng = Rng(5);
        let crop = |live: bool, rng: &mut Rng| Crop { pixels: (0..128 * 128 * 3).map(|_| (rng.unit() * 255.0) as u8).collect(), live };
        let train_set: Vec<Crop> = (0..4).map(|i| crop(i % 2 == 0, &mut rng)).collect();
        let dev: Vec<Crop> = (0..4).map(|i| crop(i % 2 == 0, &mut rng)).collect();
        let out = std::env::temp_dir().join(format!("fg-minifas-{}", std::process::id()));
        let cfg = MinifasTrainConfig { epochs: 1, batch: 2, max_steps: 1, extra_live: 0, ..Default::default() };
        let state = train(&base, &train_set, &[], &dev, &cfg, &out, false, |_| {}).unwrap();
        assert_eq!(state.epochs_done, 1);
        let net = load_checkpoint(&base, &out.join("best.bpk")).unwrap();
        assert_eq!(predict(&net, &[vec![0f32; 128 * 128 * 3]], &Device::flex()).len(), 1);
        let _ = std::fs::remove_dir_all(&out);
    }
}
