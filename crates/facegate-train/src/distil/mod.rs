//! Multi-teacher distillation of the student: SFace (recognition) and a MiniFAS (anti-spoofing)
//! guide one small network through their outputs and through two of SFace's intermediate
//! stages, every term weighted from the command line (0 switches it off). The student reads
//! the aligned view (the ArcFace crop in its centre, `STUDENT_VIEW` times wider), cached once.
//!
//! Terms (each a batch mean; see `losses`):
//! - `emb`: 1 - cos(student embedding, the centred teacher descriptor in its principal axes),
//!   learned once from the training faces (`targets::Projection`).
//! - `rel`: the batch's pairwise cosine matrix of student embeddings vs centred teacher
//!   descriptors.
//! - `kd`: tempered soft-label BCE towards the anti-spoofing teacher's logit.
//! - `hard`: class-balanced BCE towards the live/attack labels.
//! - `feat`: for stages 1-2, the centre of the student's map (the part that shows SFace's
//!   aligned crop) through a 1x1 adapter, pooled to a 4x4 grid, against SFace's stage map
//!   (squared distance of L2-normalised maps). Mean over the two pairs.
//! - `id`: CosFace cross-entropy over CelebA identities (labels only, the no-distillation
//!   baseline).
//!
//! Adapters and the identity classifier exist only for training; export keeps the student.

pub mod dev_report;
pub mod targets;

use dev_report::{DevReport, FrDev, LIVENESS_DEV, PadDev};

use crate::augment::{Augment, flip};
pub use crate::checkpoint::Event;
use crate::checkpoint::{EpochMeter, Run, RunState, TrainError, cosine_lr, steps_per_epoch};
use crate::losses::{balanced_weights, bce, binary_kd, cosine_distance, feature_alignment, l2_normalise, masked_cross_entropy, relational};
use crate::rng::Rng;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams};
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor, TensorData};
use facegate_datasets::cache::FaceCache;
use facegate_datasets::pad::Label;
use facegate_datasets::splits::is_full_frame;
use facegate_metrics::{PadLabel, PadSample, eer, eer_threshold, pad_report, tar_at_far, threshold_at_bpcer};
use facegate_nets::student::{EMBEDDING, STAGE_CHANNELS as STUDENT_STAGES, centre};
use facegate_nets::{STUDENT_INPUT, STUDENT_VIEW, Student, student_input};
use serde::{Deserialize, Serialize};
use std::path::Path;
use targets::{GRID, Projection, TEACHER_STAGE_CHANNELS, Targets, maps_len};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistilConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// Stop an epoch after this many batches (tests, smoke runs); 0 = whole epoch.
    pub max_steps: usize,
    pub w_emb: f64,
    pub w_rel: f64,
    pub w_kd: f64,
    pub w_hard: f64,
    pub w_feat: f64,
    pub w_id: f64,
    pub temperature: f64,
    /// Classes of the identity classifier (CelebA training identities).
    pub identities: usize,
    /// Start from this checkpoint (another run's `best.bpk`, its identity term on or off as
    /// here) or exported student instead of random weights: fine-tuning with other loss
    /// weights or data.
    #[serde(default)]
    pub init: Option<std::path::PathBuf>,
    /// Probability that a training crop goes through `Augment::camera` (resolution, colour,
    /// blur, JPEG); the teachers' targets stay those of the clean crop, so the student learns
    /// to give them through camera changes. 0 = flips only.
    #[serde(default)]
    pub camera: f64,
    /// Also checkpoint every this many batches within an epoch (0: at epoch ends only).
    #[serde(default)]
    pub checkpoint_steps: usize,
    /// Threads a training step runs on (the batch cut into shards, one per thread).
    #[serde(default = "one")]
    pub threads: usize,
    /// The detector whose crops it trains on (recorded in the exported file).
    #[serde(default = "facegate_nets::weights::legacy_detector")]
    pub detector: String,
}

impl Default for DistilConfig {
    fn default() -> Self {
        Self {
            epochs: 12,
            batch: 64,
            lr: 2e-3,
            weight_decay: 1e-4,
            seed: 23,
            max_steps: 0,
            w_emb: 1.0,
            w_rel: 1.0,
            w_kd: 1.0,
            w_hard: 0.5,
            w_feat: 1.0,
            w_id: 0.0,
            temperature: 2.0,
            identities: 0,
            init: None,
            camera: 0.0,
            checkpoint_steps: 0,
            threads: 1,
            detector: facegate_nets::weights::legacy_detector(),
        }
    }
}

fn one() -> usize {
    1
}

/// One training source: cached crops, their teacher targets, and identity labels where known.
pub struct Source<'a> {
    pub cache: &'a FaceCache,
    pub targets: &'a Targets,
    /// Identity index per record (CelebA), else `None`.
    pub identity: Vec<Option<usize>>,
    /// Live/attack labels are known (NUAA, replay). Web photo sets (CelebA, UTKFace) are not
    /// camera captures, live or attack: they get only the PAD teacher's soft label, since
    /// calling them live would teach that a sharp photo of a face is live.
    pub pad_labelled: bool,
}

#[derive(Module, Debug)]
pub struct DistilNet {
    pub student: Student,
    fr_adapters: Vec<Conv2d>,
    identities: Linear,
}

impl DistilNet {
    /// The network a run of `cfg` trains: the identity classifier has CelebA's classes only
    /// when its term is on (otherwise one, so checkpoints do not carry 5,531 unused rows).
    pub fn for_config(cfg: &DistilConfig, device: &Device) -> Self {
        Self::new(if cfg.w_id > 0.0 { cfg.identities } else { 1 }, device)
    }

    fn new(identities: usize, device: &Device) -> Self {
        Self {
            student: Student::new(device),
            fr_adapters: STUDENT_STAGES
                .iter()
                .zip(TEACHER_STAGE_CHANNELS)
                .map(|(&s, t)| Conv2dConfig::new([s, t], [1, 1]).with_bias(false).init(device))
                .collect(),
            identities: LinearConfig::new(EMBEDDING, identities.max(1)).with_bias(false).init(device),
        }
    }
}

struct Item<'a> {
    crop: &'a [u8],
    /// Live (true) or attack (false) where the source is PAD-labelled.
    live: Option<bool>,
    identity: Option<usize>,
    targets: &'a Targets,
    index: usize,
}

/// Per-term means of one epoch, reported in the log.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TermLog {
    pub emb: f64,
    pub rel: f64,
    pub kd: f64,
    pub hard: f64,
    pub feat: f64,
    pub id: f64,
}

impl TermLog {
    fn add(&mut self, o: &TermLog) {
        self.emb += o.emb;
        self.rel += o.rel;
        self.kd += o.kd;
        self.hard += o.hard;
        self.feat += o.feat;
        self.id += o.id;
    }
}

/// The student's crop of a cached face: the cache holds the student's own view.
pub fn student_crop(cache: &FaceCache, i: usize) -> Vec<f32> {
    assert_eq!(cache.size(), STUDENT_INPUT, "a cache of the student's view");
    cache.crop(i).iter().map(|&v| v as f32).collect()
}

/// Stage `s` of one face's pooled maps, optionally mirrored left-right.
fn stage_map(maps: &[half::f16], s: usize, flip: bool) -> Vec<f32> {
    let offset: usize = TEACHER_STAGE_CHANNELS[..s].iter().sum::<usize>() * GRID * GRID;
    let c = TEACHER_STAGE_CHANNELS[s];
    let m = &maps[offset..offset + c * GRID * GRID];
    let mut out = Vec::with_capacity(m.len());
    for ch in 0..c {
        for y in 0..GRID {
            for x in 0..GRID {
                let xx = if flip { GRID - 1 - x } else { x };
                out.push(m[(ch * GRID + y) * GRID + xx].to_f32());
            }
        }
    }
    out
}

/// What the loss of a batch needs besides the network and the batch.
struct LossContext<'a> {
    cfg: &'a DistilConfig,
    projection: &'a Projection,
    /// Class weights of the live/attack labels.
    w_live: f32,
    w_attack: f32,
}

/// The loss of one batch (each term a mean over its faces, weighted) and, for the log, each
/// term summed over its faces.
fn batch_loss(model: &DistilNet, items: &[&Item], flips: &[bool], crops: &[Vec<f32>], ctx: &LossContext, device: &Device) -> (Tensor<1>, TermLog) {
    let LossContext { cfg, projection, w_live, w_attack } = *ctx;
    let n = items.len();
    let mut terms = TermLog::default();
    let t1 = |v: Vec<f32>, n: usize| Tensor::<1>::from_data(TensorData::new(v, [n]), device);
    let t2 = |v: Vec<f32>, n: usize| {
        let cols = v.len() / n;
        Tensor::<2>::from_data(TensorData::new(v, [n, cols]), device)
    };
    let refs: Vec<&[f32]> = crops.iter().map(|c| c.as_slice()).collect();
    let out_s = model.student.forward(student_input(&refs, device));
    let mut loss = Tensor::<1>::zeros([1], device).sum();
    let mut add = |w: f64, term: Tensor<1>, slot: &mut f64| {
        if w > 0.0 {
            *slot += term.clone().into_scalar::<f32>() as f64 * n as f64;
            loss = loss.clone() + term.mul_scalar(w);
        }
    };
    if cfg.w_emb > 0.0 {
        let proj: Vec<f32> = items.iter().flat_map(|it| projection.apply(it.targets.descriptor(it.index))).collect();
        add(cfg.w_emb, cosine_distance(out_s.embedding.clone(), t2(proj, n)), &mut terms.emb);
    }
    if cfg.w_rel > 0.0 {
        let desc: Vec<f32> = items.iter().flat_map(|it| projection.centre(it.targets.descriptor(it.index))).collect();
        add(cfg.w_rel, relational(out_s.embedding.clone(), t2(desc, n)), &mut terms.rel);
    }
    if cfg.w_kd > 0.0 {
        let teacher: Vec<f32> = items.iter().map(|it| it.targets.pad_logit[it.index]).collect();
        add(cfg.w_kd, binary_kd(out_s.live_logit.clone(), t1(teacher, n), cfg.temperature), &mut terms.kd);
    }
    if cfg.w_hard > 0.0 {
        let labels: Vec<f32> = items.iter().map(|it| if it.live == Some(true) { 1.0 } else { 0.0 }).collect();
        let weights: Vec<f32> = items
            .iter()
            .map(|it| match it.live {
                Some(true) => w_live,
                Some(false) => w_attack,
                None => 0.0,
            })
            .collect();
        add(cfg.w_hard, bce(out_s.live_logit.clone(), t1(labels, n), t1(weights, n)), &mut terms.hard);
    }
    if cfg.w_feat > 0.0 {
        let mut feat = Tensor::<1>::zeros([1], device).sum();
        for (s, adapter) in model.fr_adapters.iter().enumerate() {
            let x = centre(out_s.stages[s].clone(), 1.0 / STUDENT_VIEW);
            let a = adaptive_avg_pool2d(adapter.forward(x), [GRID, GRID]).reshape([n as i64, -1]);
            let target: Vec<f32> = items
                .iter()
                .zip(flips)
                .flat_map(|(it, &f)| {
                    let maps = &it.targets.fr_maps;
                    stage_map(&maps[it.index * maps_len()..(it.index + 1) * maps_len()], s, f)
                })
                .collect();
            feat = feat + feature_alignment(a, t2(target, n));
        }
        add(cfg.w_feat, feat.div_scalar(model.fr_adapters.len() as f64), &mut terms.feat);
    }
    if cfg.w_id > 0.0 {
        let k = model.identities.weight.dims()[1];
        let mut one_hot = vec![0f32; n * k];
        let mut mask = vec![0f32; n];
        for (r, it) in items.iter().enumerate() {
            if let Some(id) = it.identity {
                one_hot[r * k + id] = 1.0;
                mask[r] = 1.0;
            }
        }
        // CosFace: scale 30, margin 0.2 on the true class.
        let w = model.identities.weight.val();
        let w = w.clone() / w.powf_scalar(2.0).sum_dim(0).sqrt().clamp_min(1e-6);
        let oh = t2(one_hot, n);
        let logits = (l2_normalise(out_s.embedding.clone()).matmul(w) - oh.clone().mul_scalar(0.2)).mul_scalar(30.0);
        add(cfg.w_id, masked_cross_entropy(logits, oh, t1(mask, n)), &mut terms.id);
    }
    (loss, terms)
}

/// Loss and gradients of one batch, cut into `threads` shards that run forward and backward
/// at once, one per core (burn's Flex backend runs each op on one thread, so this is how a
/// step uses both cores of this machine). Each shard's loss is weighted by its share of the
/// batch, so the summed gradients are the batch mean's; batch norm and the relational term
/// see one shard at a time. Returns the loss and per-term sums over the batch.
fn step_gradients(
    model: &DistilNet,
    items: &[&Item],
    flips: &[bool],
    crops: &[Vec<f32>],
    ctx: &LossContext,
    threads: usize,
) -> (f64, TermLog, GradientsParams) {
    let n = items.len();
    let per = n.div_ceil(threads.clamp(1, n.max(1)));
    let shards: Vec<std::ops::Range<usize>> = (0..n).step_by(per.max(1)).map(|a| a..(a + per).min(n)).collect();
    let run = |model: &DistilNet, r: std::ops::Range<usize>| {
        let device = Device::flex().autodiff();
        let (loss, terms) = batch_loss(model, &items[r.clone()], &flips[r.clone()], &crops[r.clone()], ctx, &device);
        let loss = loss.mul_scalar(r.len() as f64 / n as f64);
        let value = loss.clone().into_scalar::<f32>() as f64;
        (value, terms, GradientsParams::from_grads(loss.backward(), model))
    };
    // The first shard runs on the model itself, on this thread: burn keeps a batch norm's
    // running statistics per thread and advances them only when a thread that already holds
    // one updates again, and shard threads are new each step, so with every shard on a
    // spawned thread the statistics never advanced and evaluation collapsed. The others run
    // on forks, each with its own autodiff graph (shards sharing the parameters' graph race
    // for one tape, which burn consumes on the first backward).
    let results = std::thread::scope(|s| {
        let others: Vec<_> = shards[1..]
            .iter()
            .map(|r| {
                let (fork, r) = (model.clone().fork(&Device::flex().autodiff()), r.clone());
                s.spawn(move || run(&fork, r))
            })
            .collect();
        let mut all = vec![run(model, shards[0].clone())];
        all.extend(others.into_iter().map(|h| h.join().expect("a training shard panicked")));
        all
    });
    let mut accumulated = GradientsAccumulator::<DistilNet>::new();
    let (mut loss, mut terms) = (0.0, TermLog::default());
    for (value, t, grads) in results {
        loss += value;
        terms.add(&t);
        accumulated.accumulate(model, grads);
    }
    (loss, terms, accumulated.grads())
}

/// Trains (or resumes) into `out` (see `checkpoint::Run`); the best epoch is the lowest sum
/// of the dev anti-spoofing EER (on full camera views where the dev data has them) and the dev
/// face-verification EER.
#[allow(clippy::too_many_arguments)]
pub fn train(
    sources: &[Source],
    pad_dev: &[&FaceCache],
    fr_dev: &[(&FaceCache, Vec<usize>)],
    projection: &Projection,
    cfg: &DistilConfig,
    out: &Path,
    resume: bool,
    mut on: impl FnMut(Event),
) -> Result<RunState, TrainError> {
    let device = Device::flex().autodiff();
    let mut data = Vec::new();
    for s in sources {
        if s.cache.size() != STUDENT_INPUT || s.targets.len() != s.cache.len() {
            return Err(TrainError::Resume(format!(
                "{}: {} crops of {} px with {} targets; the student reads {STUDENT_INPUT} px",
                s.cache.index.key,
                s.cache.len(),
                s.cache.size(),
                s.targets.len()
            )));
        }
        for i in 0..s.cache.len() {
            let live = s.pad_labelled.then(|| s.cache.index.records[i].label() == Label::Live);
            data.push(Item { crop: s.cache.crop(i), live, identity: s.identity[i], targets: s.targets, index: i });
        }
    }
    if data.is_empty() {
        return Err(TrainError::Empty);
    }
    let (mut run, resumed) = Run::open(out, serde_json::to_value(cfg).expect("config serialises"), cfg.seed, resume)?;
    let mut model = DistilNet::for_config(cfg, &device);
    let mut optim = AdamWConfig::new().with_weight_decay(cfg.weight_decay as f32).init();
    if resumed {
        (model, optim) = run.restore(model, optim)?;
    } else if let Some(init) = &cfg.init {
        let failed = |e: String| TrainError::Resume(format!("--init {}: {e}", init.display()));
        model = if init.extension().is_some_and(|e| e == "fgw") {
            // An exported student, this network's or an earlier one's: every tensor it shares
            // by name and shape, with fresh adapters and identity classifier.
            let bytes = std::fs::read(init).map_err(|e| failed(e.to_string()))?;
            let (student, kept) = facegate_nets::weights::load_matching(model.student, &bytes).map_err(|e| failed(e.to_string()))?;
            if !kept.is_empty() {
                eprintln!("--init {}: not in the file, starting as built: {}", init.display(), kept.join(", "));
            }
            DistilNet { student, ..model }
        } else {
            model.try_load_file(init).map_err(|e| failed(e.to_string()))?
        };
    }
    // Balanced over the labelled faces, scaled so that they carry the term's whole weight.
    let labelled = data.iter().filter(|d| d.live.is_some()).count();
    let (w_live, w_attack) = balanced_weights(data.iter().filter(|d| d.live == Some(true)).count(), labelled);
    let scale = data.len() as f32 / labelled.max(1) as f32;
    let (w_live, w_attack) = (w_live * scale, w_attack * scale);
    let steps_per_epoch = steps_per_epoch(data.len(), cfg.batch, cfg.max_steps);
    let total_steps = (cfg.epochs * steps_per_epoch).max(1);
    let camera = Augment::default();
    for epoch in run.state.epochs_done..cfg.epochs {
        let mut rng = Rng(run.state.rng);
        let mut order: Vec<usize> = (0..data.len()).collect();
        rng.shuffle(&mut order);
        // Resumed within this epoch: its order, then the batches not yet trained.
        let (skip, step_rng) = run.resume_point();
        if let Some(r) = step_rng {
            rng = Rng(r);
        }
        let mut meter = EpochMeter::default();
        let mut terms = TermLog::default();
        for (step, idx) in order.chunks(cfg.batch).take(steps_per_epoch).enumerate().skip(skip) {
            let n = idx.len();
            let flips: Vec<bool> = idx.iter().map(|_| rng.chance(0.5)).collect();
            let crops: Vec<Vec<f32>> = idx
                .iter()
                .zip(&flips)
                .map(|(&i, &f)| {
                    let mut c: Vec<f32> = data[i].crop.iter().map(|&v| v as f32).collect();
                    if f {
                        flip(&mut c, STUDENT_INPUT);
                    }
                    if cfg.camera > 0.0 && rng.chance(cfg.camera) { camera.camera(c, STUDENT_INPUT, &mut rng) } else { c }
                })
                .collect();
            let items: Vec<&Item> = idx.iter().map(|&i| &data[i]).collect();
            let ctx = LossContext { cfg, projection, w_live, w_attack };
            let (loss, batch_terms, grads) = step_gradients(&model, &items, &flips, &crops, &ctx, cfg.threads.max(1));
            terms.add(&batch_terms);
            meter.add(loss, n, epoch, step)?;
            model = optim.step(cosine_lr(cfg.lr, epoch * steps_per_epoch + step, total_steps), model, grads);
            on(meter.step(epoch, step, steps_per_epoch));
            if cfg.checkpoint_steps > 0 && (step + 1) % cfg.checkpoint_steps == 0 && step + 1 < steps_per_epoch {
                run.save_within_epoch(&model, &optim, step + 1, rng.0)?;
            }
        }
        let valid = model.valid();
        let report = dev_metrics(&valid.student, pad_dev, fr_dev);
        let score = report.score();
        let per = |v: f64| v / meter.seen().max(1) as f64;
        let terms = TermLog { emb: per(terms.emb), rel: per(terms.rel), kd: per(terms.kd), hard: per(terms.hard), feat: per(terms.feat), id: per(terms.id) };
        let mut dev = serde_json::to_value(&report).expect("a dev report serialises");
        dev["train_terms"] = serde_json::to_value(&terms).expect("terms");
        let log = meter.finish(epoch, dev);
        on(Event::Epoch(&log));
        run.end_epoch(&model, &optim, log, score, rng.0)?;
    }
    Ok(run.state)
}

/// Embeddings and live probabilities of crops, through the inference path the browser runs.
pub fn infer(student: &Student, crops: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<f32>) {
    facegate_nets::student::embed_and_score(&student.to_runtime(), crops)
}

/// EER, AUC and the EER and BPCER-5% thresholds of scored dev crops; None without both classes.
fn pad_dev_metrics(samples: &[PadSample]) -> Option<PadDev> {
    let (live, attack) = samples.iter().fold((0, 0), |(l, a), s| if s.label == PadLabel::Live { (l + 1, a) } else { (l, a + 1) });
    if live == 0 || attack == 0 {
        return None;
    }
    let t = eer_threshold(samples);
    let r = pad_report(samples, t);
    Some(PadDev { eer: r.hter, auc: r.auc, threshold_eer: t, threshold_bpcer_5: threshold_at_bpcer(samples, 0.05), n_live: live, n_attack: attack })
}

/// Dev metrics of a student, plus the thresholds its operating points are chosen from: PAD
/// EER and BPCER-5% points over the anti-spoofing dev split, pooled (`pad`, which picks the best
/// epoch) and per source (`pad_sets`), and match at FMR 1e-3 over all pairs of the held-out identities.
pub fn dev_metrics(student: &Student, pad_dev: &[&FaceCache], fr_dev: &[(&FaceCache, Vec<usize>)]) -> DevReport {
    let mut out = DevReport::default();
    let (mut samples, mut full_frame) = (Vec::new(), Vec::new());
    for c in pad_dev {
        let crops: Vec<Vec<f32>> = (0..c.len()).map(|i| student_crop(c, i)).collect();
        let (_, live) = infer(student, &crops);
        let set: Vec<PadSample> =
            live.into_iter().enumerate().map(|(i, p)| PadSample { score: p, label: PadLabel::from(&c.index.records[i].label()) }).collect();
        // Each source alone too: one operating point need not suit both camera frames and
        // the replay sets' small crops.
        if let Some(m) = pad_dev_metrics(&set) {
            out.pad_sets.insert(c.index.key.rsplit('/').next().unwrap_or("").to_string(), m);
        }
        samples.extend(set);
        full_frame.extend(samples[samples.len() - c.len()..].iter().zip(&c.index.records).filter(|(_, r)| is_full_frame(&r.group)).map(|(s, _)| s.clone()));
    }
    // Full camera views apart (what the browser gets): the liveness threshold is fixed there.
    if let Some(m) = pad_dev_metrics(&full_frame) {
        out.pad_sets.insert(LIVENESS_DEV.to_string(), m);
    }
    out.pad = pad_dev_metrics(&samples);
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (c, ids) in fr_dev {
        let crops: Vec<Vec<f32>> = (0..c.len()).map(|i| student_crop(c, i)).collect();
        let (emb, _) = infer(student, &crops);
        for a in 0..emb.len() {
            for b in a + 1..emb.len() {
                let s: f32 = emb[a].iter().zip(&emb[b]).map(|(x, y)| x * y).sum();
                if ids[a] == ids[b] { genuine.push(s) } else { impostor.push(s) }
            }
        }
    }
    if !genuine.is_empty() && !impostor.is_empty() {
        let (e, _) = eer(&genuine, &impostor);
        let (tar, t) = tar_at_far(&genuine, &impostor, 1e-3);
        out.fr = Some(FrDev { eer: e, tar_at_fmr_1e3: tar, threshold_fmr_1e3: t, genuine_pairs: genuine.len(), impostor_pairs: impostor.len() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use targets::DESCRIPTOR;

    /// A step cut into two shards is the same step: on a batch whose halves are the same
    /// faces, each shard's batch statistics and pairwise terms are the whole batch's, so the
    /// loss and every gradient must agree with the one-thread step.
    #[test]
    fn two_shards_give_the_one_thread_step() {
        let faces = 4;
        let side = STUDENT_INPUT;
        let crops: Vec<Vec<u8>> = (0..faces).map(|f| (0..side * side * 3).map(|i| ((i * (f + 3) + i / (side * 3) * 11) % 256) as u8).collect()).collect();
        let targets = Targets {
            key: "synthetic".into(),
            descriptor: (0..faces * DESCRIPTOR).map(|k| ((k * 7) % 13) as f32 / 13.0 - 0.4).collect(),
            pad_logit: (0..faces).map(|i| if i % 2 == 0 { 2.0 } else { -2.0 }).collect(),
            fr_maps: (0..faces * maps_len()).map(|k| half::f16::from_f32(((k * 5) % 11) as f32 / 11.0)).collect(),
        };
        let items: Vec<Item> =
            (0..2 * faces).map(|k| Item { crop: &crops[k % faces], live: Some(k % 2 == 0), identity: None, targets: &targets, index: k % faces }).collect();
        let refs: Vec<&Item> = items.iter().collect();
        let descriptors: Vec<&[f32]> = (0..faces).map(|i| targets.descriptor(i)).collect();
        let projection = Projection::fit(&descriptors, EMBEDDING, 1);
        let cfg = DistilConfig::default();
        let ctx = LossContext { cfg: &cfg, projection: &projection, w_live: 1.0, w_attack: 1.0 };
        let flips = vec![false; items.len()];
        let floats: Vec<Vec<f32>> = items.iter().map(|it| it.crop.iter().map(|&v| v as f32).collect()).collect();
        let model = DistilNet::for_config(&cfg, &Device::flex().autodiff());
        let (one, terms_one, g1) = step_gradients(&model, &refs, &flips, &floats, &ctx, 1);
        let (two, terms_two, g2) = step_gradients(&model, &refs, &flips, &floats, &ctx, 2);
        assert!((one - two).abs() < 1e-4 * one.abs().max(1.0), "loss {one} vs {two}");
        assert!((terms_one.emb - terms_two.emb).abs() < 1e-3 && (terms_one.feat - terms_two.feat).abs() < 1e-3, "{terms_one:?} vs {terms_two:?}");
        let grad = |g: &GradientsParams, id| g.get::<4>(id).expect("a gradient").into_data().try_to_vec::<f32>().unwrap();
        for adapter in &model.fr_adapters {
            let (a, b) = (grad(&g1, adapter.weight.id), grad(&g2, adapter.weight.id));
            let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(scale > 0.0, "the adapter gets a gradient");
            let gap = a.iter().zip(&b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
            assert!(gap < 1e-3 * scale, "adapter gradient off by {gap} (scale {scale})");
        }
        assert_eq!(g1.len(), g2.len(), "every parameter has its gradient");
    }
}
