//! Unlabelled (for PAD) face sets used for distillation: CelebA identities and UTKFace.
//! They become live [`Sample`]s whose group is the identity (CelebA) or the person (UTKFace).

use crate::error::{DataError, io};
use crate::image_io::{images_in, is_image};
use crate::pad::{Label, Sample};
use std::path::Path;

/// `celeba-subset/<identity>/<file>.jpg`.
pub fn celeba(root: &Path) -> Result<Vec<Sample>, DataError> {
    let mut out = Vec::new();
    for path in images_in(root)? {
        let identity = path.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        out.push(Sample { path, label: Label::Live, group: format!("celeba/{identity}") });
    }
    Ok(out)
}

/// `utkface-subset/<age>_<gender>_<race>_<id>.jpg`; names that do not follow it are an error.
pub fn utkface(root: &Path) -> Result<Vec<Sample>, DataError> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(root).map_err(io(root))?.collect::<Result<_, _>>().map_err(io(root))?;
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if !is_image(&path) {
            continue;
        }
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let fields: Vec<&str> = stem.split('_').collect();
        if fields.len() < 4 || fields[..3].iter().any(|f| f.parse::<u32>().is_err()) {
            return Err(DataError::Malformed { path, line: 0, reason: "expected <age>_<gender>_<race>_<id>".into() });
        }
        out.push(Sample { path, label: Label::Live, group: format!("utkface/{stem}") });
    }
    if out.is_empty() {
        return Err(DataError::Empty { path: root.to_path_buf() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_and_name_checks() {
        let root = std::env::temp_dir().join(format!("fg-faces-{}", std::process::id()));
        std::fs::create_dir_all(root.join("celeba/42")).unwrap();
        std::fs::write(root.join("celeba/42/a.jpg"), b"x").unwrap();
        let c = celeba(&root.join("celeba")).unwrap();
        assert_eq!(c[0].group, "celeba/42");
        std::fs::create_dir_all(root.join("utk")).unwrap();
        std::fs::write(root.join("utk/25_1_3_2017.jpg"), b"x").unwrap();
        assert_eq!(utkface(&root.join("utk")).unwrap().len(), 1);
        std::fs::write(root.join("utk/oops.jpg"), b"x").unwrap();
        assert!(utkface(&root.join("utk")).unwrap_err().to_string().contains("oops.jpg"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
