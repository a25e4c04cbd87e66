//! The anti-spoofing teacher recipe: PadNet trained from scratch on NUAA train and the replay
//! train sets (`splits/pad.json`), best epoch chosen on the dev split by its EER.

use crate::augment::{Augment, center};
use crate::checkpoint::{EpochLog, RunState, write_atomic};
use crate::rng::Rng;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use facegate_datasets::cache::FaceCache;
use facegate_datasets::pad::Label;
use facegate_metrics::{PadLabel, PadSample, eer, pad_report};
use facegate_nets::weights::{WeightsMeta, to_bytes};
use facegate_nets::{PADNET_ARCH, PADNET_INPUT, PadNet, padnet_input};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PadTrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Stop an epoch after this many batches (tests, smoke runs); 0 = whole epoch.
    pub max_steps: usize,
    /// Where the trunk starts: "none" (random) or "faceres" (the HSE face network).
    pub init: String,
}

impl Default for PadTrainConfig {
    fn default() -> Self {
        Self { epochs: 12, batch: 32, lr: 5e-4, weight_decay: 1e-4, seed: 17, max_steps: 0, init: "faceres".into() }
    }
}

/// Progress events, so the caller decides how to draw them.
pub enum Event<'a> {
    Step { epoch: usize, step: usize, steps: usize, loss: f64, images_per_s: f64 },
    Epoch(&'a EpochLog),
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Resume(String),
    #[error("no training data")]
    Empty,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

struct Item<'a> {
    crop: &'a [u8],
    size: usize,
    live: bool,
}

fn items<'a>(parts: &[&'a FaceCache]) -> Vec<Item<'a>> {
    parts
        .iter()
        .flat_map(|c| (0..c.len()).map(move |i| Item { crop: c.crop(i), size: c.size(), live: c.index.records[i].label() == Label::Live }))
        .collect()
}

/// Weighted binary cross-entropy on logits (live = 1), classes balanced by `w`.
fn bce(logits: Tensor<1>, targets: Tensor<1>, weights: Tensor<1>) -> Tensor<1> {
    let softplus = logits.clone().clamp_min(0.0) + logits.clone().abs().neg().exp().add_scalar(1.0).log();
    ((softplus - targets * logits) * weights).mean()
}

/// P(live) for each crop (HWC 0..255, `PADNET_INPUT` square).
pub fn predict(model: &PadNet, crops: &[Vec<f32>], device: &Device) -> Vec<f32> {
    let mut out = Vec::with_capacity(crops.len());
    for chunk in crops.chunks(32) {
        let refs: Vec<&[f32]> = chunk.iter().map(|c| c.as_slice()).collect();
        let logits = model.forward(padnet_input(&refs, device));
        let p = burn::tensor::activation::sigmoid(logits).into_data().convert::<f32>().try_to_vec::<f32>().expect("f32");
        out.extend(p);
    }
    out
}

pub fn dev_metrics(model: &PadNet, dev: &[&FaceCache], device: &Device) -> (f64, serde_json::Value) {
    let mut crops = Vec::new();
    let mut labels = Vec::new();
    for c in dev {
        for i in 0..c.len() {
            crops.push(center(c.crop(i), c.size(), PADNET_INPUT));
            labels.push(PadLabel::from(&c.index.records[i].label()));
        }
    }
    let scores = predict(model, &crops, device);
    let samples: Vec<PadSample> = scores.iter().zip(labels).map(|(&score, label)| PadSample { score, label }).collect();
    let live: Vec<f32> = samples.iter().filter(|s| s.label == PadLabel::Live).map(|s| s.score).collect();
    let attack: Vec<f32> = samples.iter().filter(|s| s.label != PadLabel::Live).map(|s| s.score).collect();
    let (eer_value, threshold) = eer(&live, &attack);
    let report = pad_report(&samples, threshold);
    let json = serde_json::json!({ "eer": eer_value, "threshold": threshold, "acer": report.acer, "hter": report.hter, "auc": report.auc });
    (eer_value, json)
}

/// Trains (or resumes) into `out`: `last.bpk`, `optim.bpk`, `state.json` every epoch,
/// `best.bpk` when the dev EER improves, and `log.json`.
pub fn train(
    train: &[&FaceCache],
    dev: &[&FaceCache],
    cfg: &PadTrainConfig,
    out: &Path,
    resume: bool,
    init: Option<Vec<(Tensor<4>, Tensor<1>, Tensor<1>)>>,
    mut on: impl FnMut(Event),
) -> Result<RunState, TrainError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let device = Device::flex().autodiff();
    let data = items(train);
    if data.is_empty() {
        return Err(TrainError::Empty);
    }
    let config_json = serde_json::to_value(cfg).expect("config serialises");
    let state_path = out.join("state.json");
    let mut model = PadNet::new(&device);
    if let Some(layers) = init {
        model.assign_trunk(layers).map_err(TrainError::Resume)?;
    }
    let mut optim = AdamWConfig::new().with_weight_decay(cfg.weight_decay as f32).init();
    let mut state = RunState { epochs_done: 0, rng: cfg.seed, best_epoch: None, best_score: f64::INFINITY, log: Vec::new(), config: config_json.clone() };
    if resume && state_path.exists() {
        let text = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
        state = serde_json::from_str(&text).map_err(|e| TrainError::Resume(format!("{}: {e}", state_path.display())))?;
        let mut was = state.config.clone();
        let mut now = config_json.clone();
        // The epoch budget may grow on resume; everything else must match.
        was.as_object_mut().map(|o| o.remove("epochs"));
        now.as_object_mut().map(|o| o.remove("epochs"));
        if was != now {
            return Err(TrainError::Resume(format!("{} was made with {} , not {}", state_path.display(), state.config, config_json)));
        }
        state.config = config_json.clone();
        let last = out.join("last.bpk");
        model = model.try_load_file(&last).map_err(|e| TrainError::Resume(format!("{}: {e}", last.display())))?;
        let opt_path = out.join("optim.bpk");
        let bytes = std::fs::read(&opt_path).map_err(io(&opt_path))?;
        optim = optim
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| TrainError::Resume(format!("{}: {e}", opt_path.display())))?;
    }
    let n_live = data.iter().filter(|d| d.live).count().max(1) as f32;
    let n_attack = (data.len() as f32 - n_live).max(1.0);
    let (w_live, w_attack) = (data.len() as f32 / (2.0 * n_live), data.len() as f32 / (2.0 * n_attack));
    let augment = Augment::default();
    let steps_per_epoch = {
        let full = data.len().div_ceil(cfg.batch);
        if cfg.max_steps > 0 { full.min(cfg.max_steps) } else { full }
    };
    let total_steps = (cfg.epochs * steps_per_epoch).max(1);
    for epoch in state.epochs_done..cfg.epochs {
        let mut rng = Rng(state.rng);
        let mut order: Vec<usize> = (0..data.len()).collect();
        rng.shuffle(&mut order);
        let started = std::time::Instant::now();
        let (mut loss_sum, mut seen) = (0f64, 0usize);
        for (step, idx) in order.chunks(cfg.batch).take(steps_per_epoch).enumerate() {
            let crops: Vec<Vec<f32>> = idx.iter().map(|&i| augment.apply(data[i].crop, data[i].size, PADNET_INPUT, &mut rng)).collect();
            let refs: Vec<&[f32]> = crops.iter().map(|c| c.as_slice()).collect();
            let targets: Vec<f32> = idx.iter().map(|&i| if data[i].live { 1.0 } else { 0.0 }).collect();
            let weights: Vec<f32> = idx.iter().map(|&i| if data[i].live { w_live } else { w_attack }).collect();
            let n = idx.len();
            let logits = model.forward(padnet_input(&refs, &device));
            let loss = bce(
                logits,
                Tensor::from_data(TensorData::new(targets, [n]), &device),
                Tensor::from_data(TensorData::new(weights, [n]), &device),
            );
            let loss_value = loss.clone().into_scalar::<f32>() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            // Cosine decay over the whole run, so a resumed run follows the same schedule.
            let t = (epoch * steps_per_epoch + step) as f64 / total_steps as f64;
            let lr = cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
            model = optim.step(lr, model, grads);
            loss_sum += loss_value * n as f64;
            seen += n;
            on(Event::Step { epoch, step, steps: steps_per_epoch, loss: loss_sum / seen as f64, images_per_s: seen as f64 / started.elapsed().as_secs_f64() });
        }
        let seconds = started.elapsed().as_secs_f64();
        let valid = model.valid();
        let (score, dev_json) = if dev.is_empty() { (f64::INFINITY, serde_json::Value::Null) } else { dev_metrics(&valid, dev, &valid_device()) };
        let log = EpochLog { epoch: epoch + 1, train_loss: loss_sum / seen.max(1) as f64, images_per_s: seen as f64 / seconds, seconds, dev: dev_json };
        on(Event::Epoch(&log));
        state.log.push(log);
        state.epochs_done = epoch + 1;
        state.rng = rng.0;
        let last = out.join("last.bpk");
        let tmp = out.join("last.tmp.bpk");
        model.clone().save_file(&tmp).map_err(|e| TrainError::Resume(e.to_string()))?;
        std::fs::rename(&tmp, &last).map_err(io(&last))?;
        let opt_path = out.join("optim.bpk");
        let opt_bytes = optim.into_bytes().map_err(|e| TrainError::Resume(e.to_string()))?;
        write_atomic(&opt_path, &opt_bytes).map_err(io(&opt_path))?;
        if score < state.best_score || state.best_epoch.is_none() {
            state.best_score = score;
            state.best_epoch = Some(epoch + 1);
            // The same weights as last.bpk: copy the file rather than serialise them again.
            let best = out.join("best.bpk");
            let tmp = out.join("best.tmp.bpk");
            std::fs::copy(&last, &tmp).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &best).map_err(io(&best))?;
        }
        let json = serde_json::to_vec_pretty(&state).expect("state serialises");
        write_atomic(&state_path, &json).map_err(io(&state_path))?;
        write_atomic(&out.join("log.json"), &serde_json::to_vec_pretty(&state.log).expect("log")).map_err(io(out))?;
    }
    Ok(state)
}

/// Inference runs on the plain CPU device.
pub fn valid_device() -> Device {
    Device::flex()
}

/// Loads a checkpoint written by [`train`] for inference.
pub fn load_checkpoint(path: &Path) -> Result<PadNet, TrainError> {
    let net = PadNet::new(&valid_device()).try_load_file(path).map_err(|e| TrainError::Resume(format!("{}: {e}", path.display())))?;
    Ok(net.valid())
}

/// The committed float16 teacher file.
pub fn export(model: &PadNet, meta: WeightsMeta) -> Vec<u8> {
    debug_assert_eq!(meta.arch, PADNET_ARCH);
    to_bytes(model, &meta)
}
