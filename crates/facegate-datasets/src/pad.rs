//! Presentation-attack sets: NUAA (official split lists) and replay sets (`<set>/{real,fake}`).

use crate::error::{DataError, io};
use crate::image_io::images_in;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Label {
    Live,
    /// Attack kind, e.g. `print`, `replay`.
    Attack(String),
}

/// The metrics crate has its own label type (it is pure math, with no file layouts).
impl From<&Label> for facegate_metrics::PadLabel {
    fn from(l: &Label) -> Self {
        match l {
            Label::Live => Self::Live,
            Label::Attack(k) => Self::Attack(k.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub path: PathBuf,
    pub label: Label,
    /// Where it came from (subject, set), so splits can be checked for leaks.
    pub group: String,
}

/// NUAA `split` (`train` or `test`): `client_<split>.txt` are live, `imposter_<split>.txt`
/// are print attacks. Lines are paths relative to `root`; the subject is the folder name.
pub fn nuaa(root: &Path, split: &str) -> Result<Vec<Sample>, DataError> {
    let mut out = Vec::new();
    for (list, label) in [("client", Label::Live), ("imposter", Label::Attack("print".into()))] {
        let path = root.join(format!("{list}_{split}.txt"));
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        for (i, line) in text.lines().enumerate() {
            let rel = line.trim().replace('\\', "/");
            if rel.is_empty() {
                continue;
            }
            let parts: Vec<&str> = rel.split('/').collect();
            if parts.len() < 3 {
                return Err(DataError::Malformed { path: path.clone(), line: i + 1, reason: format!("expected <Raw>/<subject>/<file>, got `{rel}`") });
            }
            out.push(Sample { path: root.join(&rel), label: label.clone(), group: format!("nuaa/{}", parts[1]) });
        }
    }
    if out.is_empty() {
        return Err(DataError::Empty { path: root.join(format!("*_{split}.txt")) });
    }
    Ok(out)
}

/// Sets under `root` in the replay layout: each `<set>/real` is live and `<set>/fake` an
/// attack (kind `replay`), grouped as `<root's folder name>/<set>` (`replay/…`, `pad-frames/…`).
/// `only` restricts to the named sets (all when empty).
pub fn replay(root: &Path, only: &[String]) -> Result<Vec<Sample>, DataError> {
    let family = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "replay".into());
    set_folders(root, &family, only, "replay")
}

/// Sets in the `<set>/{real,fake}` layout under `root` (the `replay/` and `pad-frames/` folders),
/// grouped as `<family>/<set>`, attacks labelled `attack_kind`. `only` restricts to the named
/// sets (all when empty); a named set that is not there is an error.
pub fn set_folders(root: &Path, family: &str, only: &[String], attack_kind: &str) -> Result<Vec<Sample>, DataError> {
    let mut sets: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(root).map_err(io(root))? {
        let p = entry.map_err(io(root))?.path();
        if p.join("real").is_dir() || p.join("fake").is_dir() {
            sets.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    sets.sort();
    for name in only {
        if !sets.contains(name) {
            return Err(DataError::Io {
                path: root.join(name),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such set (needs real/ or fake/)"),
            });
        }
    }
    let mut out = Vec::new();
    for set in sets.iter().filter(|s| only.is_empty() || only.contains(s)) {
        for (sub, label) in [("real", Label::Live), ("fake", Label::Attack(attack_kind.into()))] {
            let dir = root.join(set).join(sub);
            if !dir.is_dir() {
                continue;
            }
            for path in images_in(&dir)? {
                out.push(Sample { path, label: label.clone(), group: format!("{family}/{set}") });
            }
        }
    }
    if out.is_empty() {
        return Err(DataError::Empty { path: root.to_path_buf() });
    }
    Ok(out)
}

/// A plain folder of images, all with one label.
pub fn folder(dir: &Path, label: Label) -> Result<Vec<Sample>, DataError> {
    Ok(images_in(dir)?.into_iter().map(|path| Sample { path, label: label.clone(), group: dir.display().to_string() }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nuaa_lists_and_replay_sets_are_labelled() {
        let root = std::env::temp_dir().join(format!("fg-pad-{}", std::process::id()));
        let nuaa_dir = root.join("nuaa");
        std::fs::create_dir_all(&nuaa_dir).unwrap();
        std::fs::write(nuaa_dir.join("client_test.txt"), "ClientRaw/0001/a.jpg\n\n").unwrap();
        std::fs::write(nuaa_dir.join("imposter_test.txt"), "ImposterRaw\\0002\\b.jpg\n").unwrap();
        let s = nuaa(&nuaa_dir, "test").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].label.clone(), s[0].group.as_str()), (Label::Live, "nuaa/0001"));
        assert_eq!(s[1].label, Label::Attack("print".into()));
        assert!(s[1].path.ends_with("ImposterRaw/0002/b.jpg"));
        std::fs::write(nuaa_dir.join("client_test.txt"), "oops\n").unwrap();
        assert!(nuaa(&nuaa_dir, "test").unwrap_err().to_string().contains("client_test.txt:1"));

        let rep = root.join("replay");
        for (set, sub) in [("s1", "real"), ("s1", "fake"), ("s2", "real")] {
            std::fs::create_dir_all(rep.join(set).join(sub)).unwrap();
            std::fs::write(rep.join(set).join(sub).join("1.jpg"), b"x").unwrap();
        }
        let all = replay(&rep, &[]).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all.iter().filter(|s| s.label == Label::Live).count(), 2);
        assert_eq!(replay(&rep, &["s2".into()]).unwrap().len(), 1);
        assert!(replay(&rep, &["nope".into()]).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
