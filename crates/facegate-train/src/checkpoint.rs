//! Everything a killed run needs to resume, written atomically after every epoch.

use serde::{Deserialize, Serialize};
use std::path::Path;

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
    pub rng: u64,
    pub best_epoch: Option<usize>,
    pub best_score: f64,
    pub log: Vec<EpochLog>,
    /// The run's configuration; a resume with another one is refused.
    pub config: serde_json::Value,
}

/// Writes `bytes` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
