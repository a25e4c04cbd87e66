//! LFW View 2: `pairs.txt` (first line "folds n"; per fold n matched then n mismatched pairs).

use crate::error::{DataError, io};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct LfwPair {
    pub fold: usize,
    pub same: bool,
    pub a: PathBuf,
    pub b: PathBuf,
}

fn image_path(root: &Path, name: &str, n: usize) -> PathBuf {
    root.join(name).join(format!("{name}_{n:04}.jpg"))
}

/// Reads `<root>/pairs.txt`. Image files are not opened here.
pub fn read_pairs(root: &Path) -> Result<Vec<LfwPair>, DataError> {
    let path = root.join("pairs.txt");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let bad = |line: usize, reason: String| DataError::Malformed { path: path.clone(), line, reason };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or_else(|| bad(1, "empty file".into()))?;
    let head: Vec<usize> = header
        .split_whitespace()
        .map(|t| t.parse().map_err(|_| bad(1, format!("header `{header}` is not `<folds> <pairs per class>`"))))
        .collect::<Result<_, _>>()?;
    let [folds, per] = head[..] else {
        return Err(bad(1, format!("header `{header}` is not `<folds> <pairs per class>`")));
    };
    let mut pairs = Vec::with_capacity(folds * per * 2);
    for fold in 0..folds {
        for k in 0..2 * per {
            let (i, line) = lines.next().ok_or_else(|| bad(0, format!("ends early: fold {} needs {} pairs", fold + 1, 2 * per)))?;
            let t: Vec<&str> = line.split_whitespace().collect();
            let num = |s: &str| s.parse::<usize>().map_err(|_| bad(i + 1, format!("`{s}` is not an image number")));
            let same = k < per;
            let pair = match (same, t.len()) {
                (true, 3) => LfwPair { fold, same, a: image_path(root, t[0], num(t[1])?), b: image_path(root, t[0], num(t[2])?) },
                (false, 4) => LfwPair { fold, same, a: image_path(root, t[0], num(t[1])?), b: image_path(root, t[2], num(t[3])?) },
                _ => {
                    let want = if same { "name n1 n2" } else { "name1 n1 name2 n2" };
                    return Err(bad(i + 1, format!("expected `{want}`, got `{line}`")));
                }
            };
            pairs.push(pair);
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("pairs.txt"), text).unwrap();
    }

    #[test]
    fn parses_matched_then_mismatched_per_fold() {
        let dir = std::env::temp_dir().join(format!("fg-lfw-ok-{}", std::process::id()));
        write(&dir, "2 1\nA 1 2\nA 1 B 3\nC 4 5\nD 1 E 2\n");
        let p = read_pairs(&dir).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[0], LfwPair { fold: 0, same: true, a: dir.join("A/A_0001.jpg"), b: dir.join("A/A_0002.jpg") });
        assert!(!p[1].same && p[1].b.ends_with("B/B_0003.jpg"));
        assert_eq!((p[2].fold, p[2].same), (1, true));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let dir = std::env::temp_dir().join(format!("fg-lfw-bad-{}", std::process::id()));
        write(&dir, "1 1\nA 1 2\nA x B 3\n");
        let e = read_pairs(&dir).unwrap_err().to_string();
        assert!(e.contains("pairs.txt:3"), "{e}");
        write(&dir, "1 2\nA 1 2\n");
        assert!(read_pairs(&dir).unwrap_err().to_string().contains("ends early"));
        write(&dir, "ten\n");
        assert!(read_pairs(&dir).unwrap_err().to_string().contains("pairs.txt:1"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(read_pairs(&dir), Err(DataError::Io { .. })));
    }
}
