//! Unlabelled (for PAD) face sets used for distillation: CelebA identities, UTKFace, and
//! folders of faces without identities (All-Age-Faces). They become live [`Sample`]s whose
//! group is the identity (CelebA) or the image (UTKFace, unlabelled folders): embedding
//! distillation needs many different people, not their names.

use crate::error::{DataError, io};
use crate::image_io::{images_in, is_image};
use crate::pad::{Label, Sample};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

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
    let (samples, malformed) = utkface_all(root)?;
    match malformed.into_iter().next() {
        Some(path) => Err(DataError::Malformed { path, line: 0, reason: "expected <age>_<gender>_<race>_<id>".into() }),
        None => Ok(samples),
    }
}

/// The full UTKFace (`<age>_<gender>_<race>_<id>.jpg.chip.jpg`, a few names without a race):
/// the faces and, apart, the files whose names do not follow the pattern. Groups drop the
/// `.jpg.chip` suffix, so an image of the full set and of the subset share one group.
pub fn utkface_all(root: &Path) -> Result<(Vec<Sample>, Vec<PathBuf>), DataError> {
    let (mut out, mut malformed) = (Vec::new(), Vec::new());
    for path in sorted_images(root)? {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = stem.strip_suffix(".jpg.chip").unwrap_or(&stem).to_string();
        let fields: Vec<&str> = stem.split('_').collect();
        if fields.len() < 4 || fields[..3].iter().any(|f| f.parse::<u32>().is_err()) {
            malformed.push(path);
            continue;
        }
        out.push(Sample { path, label: Label::Live, group: format!("utkface/{stem}") });
    }
    if out.is_empty() && malformed.is_empty() {
        return Err(DataError::Empty { path: root.to_path_buf() });
    }
    Ok((out, malformed))
}

/// Every image in a folder of faces without identities (e.g. All-Age-Faces' aligned faces),
/// each its own group `<family>/<file stem>`.
pub fn unlabelled(root: &Path, family: &str) -> Result<Vec<Sample>, DataError> {
    let out: Vec<Sample> = sorted_images(root)?
        .into_iter()
        .map(|path| {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            Sample { path, label: Label::Live, group: format!("{family}/{stem}") }
        })
        .collect();
    if out.is_empty() {
        return Err(DataError::Empty { path: root.to_path_buf() });
    }
    Ok(out)
}

/// CelebA images in one folder by image name (`000001.jpg`, as CelebA numbers them), their
/// identities from CelebA's `identity_CelebA.txt` (`<image> <identity>` per line, a header
/// line allowed), grouped `celeba/<identity>` like [`celeba`]. Identities in `exclude` (the
/// held-out ones that pick thresholds) are left out; images the list does not know are an
/// error, listed images missing from the folder are not (copies hold part of CelebA).
pub fn celeba_flat(dir: &Path, identities: &Path, exclude: &HashSet<String>) -> Result<Vec<Sample>, DataError> {
    let text = std::fs::read_to_string(identities).map_err(io(identities))?;
    let mut by_image = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next()) {
            (Some("image"), Some("identity")) if i == 0 => {}
            (Some(image), Some(id)) if id.parse::<u32>().is_ok() => {
                by_image.insert(image.to_string(), id.to_string());
            }
            (None, _) => {}
            _ => {
                return Err(DataError::Malformed {
                    path: identities.to_path_buf(),
                    line: i + 1,
                    reason: format!("expected `<image> <identity>`, got `{line}`"),
                });
            }
        }
    }
    let mut out = Vec::new();
    for path in sorted_images(dir)? {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let id = by_image.get(&name).ok_or_else(|| DataError::Malformed { path: path.clone(), line: 0, reason: format!("not in {}", identities.display()) })?;
        if !exclude.contains(id) {
            out.push(Sample { path, label: Label::Live, group: format!("celeba/{id}") });
        }
    }
    Ok(out)
}

fn sorted_images(root: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(root).map_err(io(root))?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(io(root))?;
    entries.retain(|p| is_image(p));
    entries.sort();
    Ok(entries)
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

    #[test]
    fn full_utkface_all_age_faces_and_flat_celeba() {
        let root = std::env::temp_dir().join(format!("fg-faces-more-{}", std::process::id()));
        let touch = |rel: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        };
        touch("utk/25_1_3_2017.jpg.chip.jpg");
        touch("utk/39_1_2017.jpg.chip.jpg");
        let (faces, malformed) = utkface_all(&root.join("utk")).unwrap();
        assert_eq!(faces[0].group, "utkface/25_1_3_2017", "the full set's image shares the subset's group");
        assert!(malformed[0].ends_with("39_1_2017.jpg.chip.jpg"));
        assert!(utkface(&root.join("utk")).unwrap_err().to_string().contains("39_1_2017"));
        touch("aaf/00000A02.jpg");
        assert_eq!(unlabelled(&root.join("aaf"), "all-age-faces").unwrap()[0].group, "all-age-faces/00000A02");
        touch("celeba/000001.jpg");
        touch("celeba/000002.jpg");
        let list = root.join("identity_CelebA.txt");
        std::fs::write(&list, "image identity\n000001.jpg 2880\n000002.jpg 7201\n000003.jpg 12\n").unwrap();
        let held_out: HashSet<String> = ["7201".to_string()].into();
        let c = celeba_flat(&root.join("celeba"), &list, &held_out).unwrap();
        assert_eq!(c.iter().map(|s| s.group.as_str()).collect::<Vec<_>>(), ["celeba/2880"], "held-out identity left out");
        touch("celeba/999999.jpg");
        assert!(celeba_flat(&root.join("celeba"), &list, &held_out).unwrap_err().to_string().contains("999999.jpg"));
        std::fs::write(&list, "000001.jpg\n").unwrap();
        assert!(celeba_flat(&root.join("celeba"), &list, &held_out).unwrap_err().to_string().contains(":1"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
