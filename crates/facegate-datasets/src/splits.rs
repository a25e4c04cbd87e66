//! The committed train / dev / test assignment for presentation-attack data
//! (`splits/pad.json`), so every run and every reader agree and nothing leaks.

use crate::error::{DataError, io};
use crate::pad::{Sample, nuaa, replay};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ReplaySplit {
    pub train: Vec<String>,
    pub dev: Vec<String>,
    pub test: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NuaaSplit {
    /// Subjects of the official train lists held out for model selection.
    pub dev_subjects: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PadSplits {
    pub replay: ReplaySplit,
    pub nuaa: NuaaSplit,
}

impl PadSplits {
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        serde_json::from_str(&text).map_err(|e| DataError::Malformed { path: path.to_path_buf(), line: e.line(), reason: e.to_string() })
    }

    pub fn replay_sets(&self, split: Split) -> &[String] {
        match split {
            Split::Train => &self.replay.train,
            Split::Dev => &self.replay.dev,
            Split::Test => &self.replay.test,
        }
    }

    /// NUAA samples of `split`: train = official train lists minus the dev subjects,
    /// dev = those subjects, test = the official test lists.
    pub fn nuaa(&self, root: &Path, split: Split) -> Result<Vec<Sample>, DataError> {
        let is_dev = |s: &Sample| self.nuaa.dev_subjects.iter().any(|d| s.group == format!("nuaa/{d}"));
        Ok(match split {
            Split::Test => nuaa(root, "test")?,
            Split::Train => nuaa(root, "train")?.into_iter().filter(|s| !is_dev(s)).collect(),
            Split::Dev => nuaa(root, "train")?.into_iter().filter(is_dev).collect(),
        })
    }

    pub fn replay(&self, root: &Path, split: Split) -> Result<Vec<Sample>, DataError> {
        replay(root, self.replay_sets(split))
    }
}
