//! The committed train / dev / test assignment for presentation-attack data
//! (`splits/pad.json`), so every run and every reader agree and nothing leaks.

use crate::error::{DataError, io};
use crate::pad::{Sample, nuaa, replay, set_folders};
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

/// The cross-camera protocol (`splits/pad-cross-camera.json`): whole sets — one person, room,
/// camera and attack kit each — and NUAA subjects assigned to train, dev or test, so dev and
/// test stand for cameras nothing was trained on.
#[derive(Debug, Clone, Deserialize)]
pub struct CrossCameraSplits {
    /// `<family>/<set>` per split, family `replay` or `pad-frames` (folders under the data root).
    pub sets: BySplit,
    /// NUAA subjects per split, over all four official lists.
    pub nuaa: BySplit,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BySplit {
    pub train: Vec<String>,
    pub dev: Vec<String>,
    pub test: Vec<String>,
}

impl BySplit {
    pub fn get(&self, split: Split) -> &[String] {
        match split {
            Split::Train => &self.train,
            Split::Dev => &self.dev,
            Split::Test => &self.test,
        }
    }
}

/// The set families a split file may name, with the attack label of their `fake/` folders.
pub const SET_FAMILIES: [(&str, &str); 2] = [("replay", "replay"), ("pad-frames", "print-or-replay")];

impl CrossCameraSplits {
    /// Loads and checks the file: no set or subject in two splits, >= 4 sets (NUAA counts as
    /// one) in dev and in test, every name of a known family.
    pub fn load(path: &Path) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        let s: Self = serde_json::from_str(&text).map_err(|e| DataError::Malformed { path: path.to_path_buf(), line: e.line(), reason: e.to_string() })?;
        s.check().map_err(|reason| DataError::Malformed { path: path.to_path_buf(), line: 0, reason })?;
        Ok(s)
    }

    fn check(&self) -> Result<(), String> {
        for by in [&self.sets, &self.nuaa] {
            let mut seen = std::collections::HashMap::new();
            for split in [Split::Train, Split::Dev, Split::Test] {
                for name in by.get(split) {
                    if let Some(other) = seen.insert(name.as_str(), split) {
                        return Err(format!("`{name}` is in both {} and {}", other.name(), split.name()));
                    }
                }
            }
        }
        for name in self.sets.train.iter().chain(&self.sets.dev).chain(&self.sets.test) {
            let family = name.split_once('/').map(|(f, _)| f).unwrap_or("");
            if !SET_FAMILIES.iter().any(|(f, _)| *f == family) {
                return Err(format!("`{name}` is not <replay|pad-frames>/<set>"));
            }
        }
        for split in [Split::Dev, Split::Test] {
            let n = self.sets.get(split).len() + usize::from(!self.nuaa.get(split).is_empty());
            if n < 4 {
                return Err(format!("{} has {n} sets, the protocol needs at least 4", split.name()));
            }
        }
        Ok(())
    }

    /// Every sample of `split` under the data root (`replay/`, `pad-frames/`, `nuaa/`), grouped
    /// by set (`pad-frames/<set>`, `replay/<set>`, `nuaa/<subject>`).
    pub fn samples(&self, root: &Path, split: Split) -> Result<Vec<Sample>, DataError> {
        let mut out = Vec::new();
        for (family, kind) in SET_FAMILIES {
            let names: Vec<String> =
                self.sets.get(split).iter().filter_map(|n| n.strip_prefix(family).and_then(|r| r.strip_prefix('/'))).map(String::from).collect();
            if !names.is_empty() {
                out.extend(set_folders(&root.join(family), family, &names, kind)?);
            }
        }
        let subjects = self.nuaa.get(split);
        if !subjects.is_empty() {
            let dir = root.join("nuaa");
            for list in ["train", "test"] {
                out.extend(nuaa(&dir, list)?.into_iter().filter(|s| subjects.iter().any(|d| s.group == format!("nuaa/{d}"))));
            }
        }
        Ok(out)
    }
}

/// One leave-one-set-out fold of the cross-camera protocol ([`CrossCameraSplits::loso_folds`]):
/// the protocol's recipe trained on its train split less `left_out`, then scored on `scored`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LosoFold {
    /// The set it leaves out (`pad-frames/<set>`, `replay/<set>`, `nuaa`), or `none`.
    pub name: String,
    /// The sets (as [`loso_set`] names them) whose samples it is measured on.
    pub scored: Vec<String>,
}

impl LosoFold {
    /// Whether a train-split sample of `group` trains this fold's model.
    pub fn trains_on(&self, group: &str) -> bool {
        loso_set(group) != self.name
    }
}

/// The set a sample group belongs to for leave-one-set-out: NUAA's subjects are one set (one
/// camera and print kit), every other group is its own set.
pub fn loso_set(group: &str) -> &str {
    if group.starts_with("nuaa/") { "nuaa" } else { group }
}

impl CrossCameraSplits {
    /// Every set held out exactly once. A dev or test set was never in the train split, so one
    /// fold (`none`, the whole train split) scores all of them; each train set and NUAA get a
    /// fold of their own. NUAA is scored on all its subjects, whichever split holds them.
    pub fn loso_folds(&self) -> Vec<LosoFold> {
        let mut unseen: Vec<String> = self.sets.dev.iter().chain(&self.sets.test).cloned().collect();
        unseen.sort();
        let mut folds = vec![LosoFold { name: "none".into(), scored: unseen }];
        folds.extend(self.sets.train.iter().map(|s| LosoFold { name: s.clone(), scored: vec![s.clone()] }));
        if [Split::Train, Split::Dev, Split::Test].iter().any(|&s| !self.nuaa.get(s).is_empty()) {
            folds.push(LosoFold { name: "nuaa".into(), scored: vec!["nuaa".into()] });
        }
        folds
    }
}

/// Whether a sample group is a full camera view (the face with its surroundings: pad-frames,
/// NUAA's loose crops) rather than a tight face cut-out (the replay sets): the protocol reports
/// the two apart, since only the first shows paper and screen edges.
pub fn is_full_frame(group: &str) -> bool {
    group.starts_with("pad-frames/") || group.starts_with("nuaa/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<(), String> {
        let s: CrossCameraSplits = serde_json::from_str(json).unwrap();
        s.check()
    }

    #[test]
    fn every_set_is_scored_once_by_a_fold_that_never_trained_on_it() {
        let s: CrossCameraSplits =
            serde_json::from_str(&std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../splits/pad-cross-camera.json")).unwrap()).unwrap();
        let folds = s.loso_folds();
        let mut scored: Vec<&str> = folds.iter().flat_map(|f| f.scored.iter().map(String::as_str)).collect();
        let n = scored.len();
        scored.sort();
        scored.dedup();
        assert_eq!(scored.len(), n, "a set scored by two folds");
        let all = s.sets.train.len() + s.sets.dev.len() + s.sets.test.len() + 1;
        assert_eq!(n, all, "every set and NUAA once");
        for f in &folds {
            for set in &f.scored {
                let in_train = s.sets.train.iter().any(|t| t == set) || (set == "nuaa" && !s.nuaa.train.is_empty());
                assert!(!in_train || !f.trains_on(if set == "nuaa" { "nuaa/0001" } else { set }), "fold {} trains on {set}", f.name);
            }
        }
        let nuaa = folds.iter().find(|f| f.name == "nuaa").unwrap();
        assert!(!nuaa.trains_on("nuaa/0004") && nuaa.trains_on("replay/WOLF-huo_face_liveness"));
        assert!(folds[0].trains_on("nuaa/0001") && folds[0].trains_on(&s.sets.train[0]));
    }

    #[test]
    fn a_set_in_two_splits_is_refused() {
        let ok = r#"{"sets": {"train": ["replay/a"], "dev": ["replay/b", "replay/c", "pad-frames/d"], "test": ["replay/e", "replay/f", "pad-frames/g"]}, "nuaa": {"train": ["0001"], "dev": ["0002"], "test": ["0003"]}}"#;
        assert_eq!(parse(ok), Ok(()));
        let twice = ok.replace(r#""test": ["replay/e""#, r#""test": ["replay/a""#);
        assert!(parse(&twice).unwrap_err().contains("`replay/a` is in both train and test"));
        let subject = ok.replace(r#""test": ["0003"]"#, r#""test": ["0002"]"#);
        assert!(parse(&subject).unwrap_err().contains("`0002`"));
        let small = ok.replace(r#""replay/b", "#, "");
        assert!(parse(&small).unwrap_err().contains("dev has 3 sets"));
        let foreign = ok.replace("replay/a", "lfw/a");
        assert!(parse(&foreign).unwrap_err().contains("lfw/a"));
    }
}
