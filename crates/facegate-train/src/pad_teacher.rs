//! The anti-spoofing teacher recipe: PadNet trained from scratch on NUAA train and the replay
//! train sets (`splits/pad.json`), best epoch chosen on the dev split by its EER.

use crate::augment::{Augment, center};
pub use crate::checkpoint::Event;
use crate::checkpoint::{EpochMeter, Run, RunState, TrainError, cosine_lr, steps_per_epoch};
use crate::losses::{balanced_weights, bce};
use crate::rng::Rng;
use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use facegate_datasets::cache::FaceCache;
use facegate_datasets::pad::Label;
use facegate_metrics::{PadLabel, PadSample, eer, pad_report};
use facegate_nets::weights::{WeightsMeta, to_bytes};
use facegate_nets::{PADNET_ARCH, PADNET_INPUT, PADNET_VIEW, PadNet, padnet_input};
use serde::{Deserialize, Serialize};
use std::path::Path;

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
    /// Live faces drawn each epoch from the extra pool (CelebA): many people, cameras and
    /// lights, so that an unfamiliar live face is not mistaken for an attack.
    #[serde(default)]
    pub extra_live: usize,
    /// The detector whose crops it trains on (recorded in the exported file).
    #[serde(default = "facegate_nets::weights::legacy_detector")]
    pub detector: String,
}

impl Default for PadTrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch: 32,
            lr: 5e-4,
            weight_decay: 1e-4,
            seed: 17,
            max_steps: 0,
            init: "faceres".into(),
            extra_live: 1000,
            detector: facegate_nets::weights::legacy_detector(),
        }
    }
}

struct Item<'a> {
    crop: &'a [u8],
    size: usize,
    live: bool,
}

fn items<'a>(parts: &[&'a FaceCache]) -> Vec<Item<'a>> {
    parts.iter().flat_map(|c| (0..c.len()).map(move |i| Item { crop: c.crop(i), size: c.size(), live: c.index.records[i].label() == Label::Live })).collect()
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
            crops.push(center(c.crop(i), c.size(), PADNET_INPUT, PADNET_VIEW));
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
/// `best.bpk` when the dev EER improves, and `log.json`. Every epoch sees all of `train`
/// and `cfg.extra_live` faces drawn from `extra_live`, all taken as live.
#[allow(clippy::too_many_arguments)]
pub fn train(
    train: &[&FaceCache],
    extra_live: &[&FaceCache],
    dev: &[&FaceCache],
    cfg: &PadTrainConfig,
    out: &Path,
    resume: bool,
    init: Option<Vec<(Tensor<4>, Tensor<1>, Tensor<1>)>>,
    mut on: impl FnMut(Event),
) -> Result<RunState, TrainError> {
    let device = Device::flex().autodiff();
    let mut data = items(train);
    if data.is_empty() {
        return Err(TrainError::Empty);
    }
    let n_train = data.len();
    data.extend(items(extra_live).into_iter().map(|i| Item { live: true, ..i }));
    let n_extra = cfg.extra_live.min(data.len() - n_train);
    let (mut run, resumed) = Run::open(out, serde_json::to_value(cfg).expect("config serialises"), cfg.seed, resume)?;
    let mut model = PadNet::new(&device);
    if let Some(layers) = init {
        model.assign_trunk(layers).map_err(TrainError::Resume)?;
    }
    let mut optim = AdamWConfig::new().with_weight_decay(cfg.weight_decay as f32).init();
    if resumed {
        (model, optim) = run.restore(model, optim)?;
    }
    let per_epoch = n_train + n_extra;
    let (w_live, w_attack) = balanced_weights(data[..n_train].iter().filter(|d| d.live).count() + n_extra, per_epoch);
    let augment = Augment { view: PADNET_VIEW, ..Augment::default() };
    let steps_per_epoch = steps_per_epoch(per_epoch, cfg.batch, cfg.max_steps);
    let total_steps = (cfg.epochs * steps_per_epoch).max(1);
    for epoch in run.state.epochs_done..cfg.epochs {
        let mut rng = Rng(run.state.rng);
        let mut extra: Vec<usize> = (n_train..data.len()).collect();
        rng.shuffle(&mut extra);
        let mut order: Vec<usize> = (0..n_train).chain(extra.into_iter().take(n_extra)).collect();
        rng.shuffle(&mut order);
        let mut meter = EpochMeter::default();
        for (step, idx) in order.chunks(cfg.batch).take(steps_per_epoch).enumerate() {
            let crops: Vec<Vec<f32>> = idx.iter().map(|&i| augment.apply(data[i].crop, data[i].size, PADNET_INPUT, &mut rng)).collect();
            let refs: Vec<&[f32]> = crops.iter().map(|c| c.as_slice()).collect();
            let targets: Vec<f32> = idx.iter().map(|&i| if data[i].live { 1.0 } else { 0.0 }).collect();
            let weights: Vec<f32> = idx.iter().map(|&i| if data[i].live { w_live } else { w_attack }).collect();
            let n = idx.len();
            let logits = model.forward(padnet_input(&refs, &device));
            let loss = bce(logits, Tensor::from_data(TensorData::new(targets, [n]), &device), Tensor::from_data(TensorData::new(weights, [n]), &device));
            meter.add(loss.clone().into_scalar::<f32>() as f64, n, epoch, step)?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(cosine_lr(cfg.lr, epoch * steps_per_epoch + step, total_steps), model, grads);
            on(meter.step(epoch, step, steps_per_epoch));
        }
        let valid = model.valid();
        let (score, dev_json) = if dev.is_empty() { (f64::INFINITY, serde_json::Value::Null) } else { dev_metrics(&valid, dev, &valid_device()) };
        let log = meter.finish(epoch, dev_json);
        on(Event::Epoch(&log));
        run.end_epoch(&model, &optim, log, score, rng.0)?;
    }
    Ok(run.state)
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
