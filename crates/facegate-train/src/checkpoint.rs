//! Everything a killed run needs to resume, written atomically after every epoch.

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f64,
    pub images_per_s: f64,
    pub seconds: f64,
    /// Dev metrics (the only data checkpoints are chosen on).
    pub dev: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub epochs_done: usize,
    /// The random state at the start of the next epoch (it shuffles the epoch's order).
    pub rng: u64,
    /// Batches of the next epoch already trained into `last.bpk` (a checkpoint within the
    /// epoch), and the random state after them.
    #[serde(default)]
    pub steps_done: usize,
    #[serde(default)]
    pub step_rng: Option<u64>,
    pub best_epoch: Option<usize>,
    /// Infinite (written as JSON `null`) until an epoch has ended.
    #[serde(deserialize_with = "null_is_infinite")]
    pub best_score: f64,
    pub log: Vec<EpochLog>,
    /// The run's configuration; a resume with another one is refused.
    pub config: serde_json::Value,
}

fn null_is_infinite<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Progress events of any recipe, so the caller decides how to draw them.
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

pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.to_path_buf(), source }
}

/// A run folder: `last.bpk`, `optim.bpk`, `state.json` after every epoch, `best.bpk` when
/// the dev score improves, and `log.json`. Shared by every recipe so they all resume alike.
pub struct Run {
    out: PathBuf,
    pub state: RunState,
}

impl Run {
    /// A fresh run, or with `resume` the one in `out` (refused when its configuration other
    /// than the epoch budget and the threads a step runs on differs from `config`).
    pub fn open(out: &Path, config: serde_json::Value, seed: u64, resume: bool) -> Result<(Self, bool), TrainError> {
        std::fs::create_dir_all(out).map_err(io(out))?;
        let state_path = out.join("state.json");
        let fresh = RunState {
            epochs_done: 0,
            rng: seed,
            steps_done: 0,
            step_rng: None,
            best_epoch: None,
            best_score: f64::INFINITY,
            log: Vec::new(),
            config: config.clone(),
        };
        if !(resume && state_path.exists()) {
            return Ok((Self { out: out.to_path_buf(), state: fresh }, false));
        }
        let text = std::fs::read_to_string(&state_path).map_err(io(&state_path))?;
        let mut state: RunState = serde_json::from_str(&text).map_err(|e| TrainError::Resume(format!("{}: {e}", state_path.display())))?;
        let what_it_learns = |v: &serde_json::Value| {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.remove("epochs");
                o.remove("threads");
            }
            v
        };
        if what_it_learns(&state.config) != what_it_learns(&config) {
            return Err(TrainError::Resume(format!("{} was made with {} , not {}", state_path.display(), state.config, config)));
        }
        state.config = config;
        Ok((Self { out: out.to_path_buf(), state }, true))
    }

    /// The weights and optimiser state of the last finished epoch.
    pub fn restore<M: Module>(&self, model: M, optim: ModuleOptimizer) -> Result<(M, ModuleOptimizer), TrainError> {
        let last = self.out.join("last.bpk");
        let model = model.try_load_file(&last).map_err(|e| TrainError::Resume(format!("{}: {e}", last.display())))?;
        let opt_path = self.out.join("optim.bpk");
        let bytes = std::fs::read(&opt_path).map_err(io(&opt_path))?;
        let optim = optim.from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes)).map_err(|e| TrainError::Resume(format!("{}: {e}", opt_path.display())))?;
        Ok((model, optim))
    }

    /// Where the epoch being resumed starts: the batches already done and the random state
    /// after them (the epoch's order is shuffled from `state.rng`); `(0, None)` at an epoch's
    /// start.
    pub fn resume_point(&self) -> (usize, Option<u64>) {
        (self.state.steps_done, self.state.step_rng)
    }

    /// Checkpoints within an epoch (long epochs on 2 cores outlast a session): the weights and
    /// optimiser after `steps_done` batches, and the random state to go on with.
    pub fn save_within_epoch<M: Module>(&mut self, model: &M, optim: &ModuleOptimizer, steps_done: usize, rng: u64) -> Result<(), TrainError> {
        self.save_weights(model, optim)?;
        self.state.steps_done = steps_done;
        self.state.step_rng = Some(rng);
        let state_path = self.out.join("state.json");
        write_atomic(&state_path, &serde_json::to_vec_pretty(&self.state).expect("state serialises")).map_err(io(&state_path))
    }

    fn save_weights<M: Module>(&self, model: &M, optim: &ModuleOptimizer) -> Result<(), TrainError> {
        let last = self.out.join("last.bpk");
        let tmp = self.out.join("last.tmp.bpk");
        model.clone().save_file(&tmp).map_err(|e| TrainError::Resume(e.to_string()))?;
        std::fs::rename(&tmp, &last).map_err(io(&last))?;
        let opt_path = self.out.join("optim.bpk");
        let opt_bytes = optim.into_bytes().map_err(|e| TrainError::Resume(e.to_string()))?;
        write_atomic(&opt_path, &opt_bytes).map_err(io(&opt_path))
    }

    /// Records a finished epoch; a lower `score` than any before makes it the best.
    pub fn end_epoch<M: Module>(&mut self, model: &M, optim: &ModuleOptimizer, log: EpochLog, score: f64, rng: u64) -> Result<(), TrainError> {
        let epoch = log.epoch;
        self.state.log.push(log);
        self.state.epochs_done = epoch;
        self.state.rng = rng;
        self.state.steps_done = 0;
        self.state.step_rng = None;
        self.save_weights(model, optim)?;
        let last = self.out.join("last.bpk");
        if score < self.state.best_score || self.state.best_epoch.is_none() {
            self.state.best_score = score;
            self.state.best_epoch = Some(epoch);
            // The same weights as last.bpk: copy the file rather than serialise them again.
            let best = self.out.join("best.bpk");
            let tmp = self.out.join("best.tmp.bpk");
            std::fs::copy(&last, &tmp).map_err(io(&tmp))?;
            std::fs::rename(&tmp, &best).map_err(io(&best))?;
        }
        let state_path = self.out.join("state.json");
        write_atomic(&state_path, &serde_json::to_vec_pretty(&self.state).expect("state serialises")).map_err(io(&state_path))?;
        let log_path = self.out.join("log.json");
        write_atomic(&log_path, &serde_json::to_vec_pretty(&self.state.log).expect("log serialises")).map_err(io(&log_path))
    }
}

/// Batches per epoch: all of `n` in `batch`es, capped by `max_steps` when it is not 0.
pub fn steps_per_epoch(n: usize, batch: usize, max_steps: usize) -> usize {
    let full = n.div_ceil(batch.max(1));
    if max_steps > 0 { full.min(max_steps) } else { full }
}

/// Cosine decay over the whole run, so a resumed run follows the same schedule.
pub fn cosine_lr(base: f64, step: usize, total: usize) -> f64 {
    base * 0.5 * (1.0 + (std::f64::consts::PI * step as f64 / total.max(1) as f64).cos())
}

/// Running loss and throughput of one epoch, and the events and log line made from them.
pub struct EpochMeter {
    started: std::time::Instant,
    loss_sum: f64,
    seen: usize,
}

impl Default for EpochMeter {
    fn default() -> Self {
        Self { started: std::time::Instant::now(), loss_sum: 0.0, seen: 0 }
    }
}

impl EpochMeter {
    /// Adds a batch of `n` with mean loss `loss`; a non-finite loss stops the run (the last
    /// checkpoint stays as it was).
    pub fn add(&mut self, loss: f64, n: usize, epoch: usize, step: usize) -> Result<(), TrainError> {
        if !loss.is_finite() {
            return Err(TrainError::Resume(format!("loss became {loss} at epoch {} step {step}", epoch + 1)));
        }
        self.loss_sum += loss * n as f64;
        self.seen += n;
        Ok(())
    }

    pub fn seen(&self) -> usize {
        self.seen
    }

    pub fn step(&self, epoch: usize, step: usize, steps: usize) -> Event<'static> {
        Event::Step { epoch, step, steps, loss: self.loss_sum / self.seen.max(1) as f64, images_per_s: self.seen as f64 / self.started.elapsed().as_secs_f64() }
    }

    pub fn finish(&self, epoch: usize, dev: serde_json::Value) -> EpochLog {
        let seconds = self.started.elapsed().as_secs_f64();
        EpochLog { epoch: epoch + 1, train_loss: self.loss_sum / self.seen.max(1) as f64, images_per_s: self.seen as f64 / seconds, seconds, dev }
    }
}
