//! The student's data policy: which faces train it and which pick its epoch and operating
//! points. Never LFW; no person or camera set both trains and picks thresholds (tested below).

use crate::error::{DataError, check_dir, io};
use crate::faces::{celeba, celeba_flat, unlabelled, utkface, utkface_all};
use crate::pad::Sample;
use crate::splits::{CrossCameraSplits, Split};
use std::collections::HashSet;
use std::path::Path;

/// Where the larger public face collections were unpacked (docs/data.md): each one is used
/// when its folder is there.
pub const EXTRA_UTKFACE: &str = "data/UTKFace/unlabeled";
pub const EXTRA_AAF: &str = "All-Age-Faces Dataset/aglined faces";
pub const EXTRA_CELEBA: &str = "celebA";
pub const EXTRA_CELEBA_IDS: &str = "celebA/identity_CelebA.txt";

/// CelebA identities held out of distillation: every 10th in name order. Their pairs pick
/// the match threshold (FMR 1e-3) and the best epoch; LFW is never used for either.
pub fn celeba_split(samples: Vec<Sample>) -> (Vec<Sample>, Vec<Sample>) {
    let ids: std::collections::BTreeSet<String> = samples.iter().map(|s| s.group.clone()).collect();
    let dev: std::collections::BTreeSet<String> = ids.into_iter().enumerate().filter(|(i, _)| i % 10 == 9).map(|(_, g)| g).collect();
    samples.into_iter().partition(|s| !dev.contains(&s.group))
}

/// A named list of images.
pub struct Source {
    pub name: String,
    pub samples: Vec<Sample>,
}

/// Training sources: CelebA's training identities, UTKFace, the protocol's training split
/// (NUAA subjects 0001-0007, the replay and pad-frames training sets) and, from `extra`, the
/// full UTKFace (less the subset's images), All-Age-Faces and CelebA by image (less held-out
/// identities). Never LFW.
pub fn training_sources(data: &Path, splits: &Path, extra: Option<&Path>) -> Result<Vec<Source>, DataError> {
    let (celeba_dir, utk_dir) = (data.join("celeba-subset"), data.join("utkface-subset"));
    check_dir(&celeba_dir)?;
    check_dir(&utk_dir)?;
    let (celeba_train, celeba_dev) = celeba_split(celeba(&celeba_dir)?);
    let utk = utkface(&utk_dir)?;
    let protocol = CrossCameraSplits::load(splits)?;
    let mut out = vec![
        Source { name: "celeba-train".into(), samples: celeba_train },
        Source { name: "pad-train".into(), samples: protocol.samples(data, Split::Train)? },
    ];
    let mut utk_groups: HashSet<String> = HashSet::new();
    if let Some(extra) = extra {
        check_dir(extra)?;
        // Caches know their images by path: one folder, one spelling (`../x` or `/work/x`).
        let extra = &std::fs::canonicalize(extra).map_err(io(extra))?;
        let subset: HashSet<&str> = utk.iter().map(|s| s.group.as_str()).collect();
        if extra.join(EXTRA_UTKFACE).is_dir() {
            let (all, _malformed) = utkface_all(&extra.join(EXTRA_UTKFACE))?;
            let rest: Vec<Sample> = all.into_iter().filter(|s| !subset.contains(s.group.as_str())).collect();
            utk_groups.extend(rest.iter().map(|s| s.group.clone()));
            out.push(Source { name: "utkface-full".into(), samples: rest });
        }
        if extra.join(EXTRA_AAF).is_dir() {
            out.push(Source { name: "all-age-faces".into(), samples: unlabelled(&extra.join(EXTRA_AAF), "aaf")? });
        }
        if extra.join(EXTRA_CELEBA_IDS).is_file() {
            let held_out: HashSet<String> = celeba_dev.iter().filter_map(|s| s.group.strip_prefix("celeba/").map(String::from)).collect();
            out.push(Source { name: "celeba-flat".into(), samples: celeba_flat(&extra.join(EXTRA_CELEBA), &extra.join(EXTRA_CELEBA_IDS), &held_out)? });
        }
    }
    out.insert(1, Source { name: "utkface".into(), samples: utk.into_iter().filter(|s| !utk_groups.contains(&s.group)).collect() });
    Ok(out)
}

/// Dev sources: the protocol's dev split (liveness) and CelebA's held-out identities
/// (matching); they pick the best epoch and the operating points.
pub fn dev_sources(data: &Path, splits: &Path) -> Result<Vec<Source>, DataError> {
    let celeba_dir = data.join("celeba-subset");
    check_dir(&celeba_dir)?;
    let (_, celeba_dev) = celeba_split(celeba(&celeba_dir)?);
    let protocol = CrossCameraSplits::load(splits)?;
    Ok(vec![Source { name: "pad-dev".into(), samples: protocol.samples(data, Split::Dev)? }, Source { name: "celeba-dev".into(), samples: celeba_dev }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn data() -> PathBuf {
        std::env::var_os("FACEGATE_DATA").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
    }

    fn splits() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../splits/pad-cross-camera.json")
    }

    fn groups(sources: &[Source]) -> HashSet<String> {
        sources.iter().flat_map(|s| s.samples.iter().map(|x| x.group.clone())).collect()
    }

    /// Never LFW; no person or camera set both trains and picks thresholds; the larger
    /// collections join when present, less the held-out CelebA identities and the UTKFace
    /// images the subset already has.
    #[test]
    fn training_faces_never_include_lfw_or_dev_people() {
        let extra = std::env::temp_dir().join(format!("fg-extra-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&extra);
        let (utk_dir, celeba_dir) = (extra.join(EXTRA_UTKFACE), extra.join(EXTRA_CELEBA));
        std::fs::create_dir_all(&utk_dir).unwrap();
        std::fs::create_dir_all(&celeba_dir).unwrap();
        let dev = dev_sources(&data(), &splits()).unwrap();
        let held_out = dev[1].samples[0].group.strip_prefix("celeba/").unwrap().to_string();
        let subset_utk = std::fs::read_dir(data().join("utkface-subset")).unwrap().next().unwrap().unwrap().file_name().into_string().unwrap();
        // A UTKFace image the subset has (by another file name, as the full set names it), a new
        // one, and CelebA images of a held-out and of another identity.
        for name in [subset_utk.replace(".jpg", ".jpg.chip.jpg"), "30_1_2_20170116174525125.jpg.chip.jpg".into()] {
            std::fs::write(utk_dir.join(name), b"").unwrap();
        }
        std::fs::write(celeba_dir.join("000001.jpg"), b"").unwrap();
        std::fs::write(celeba_dir.join("000002.jpg"), b"").unwrap();
        std::fs::write(extra.join(EXTRA_CELEBA_IDS), format!("000001.jpg {held_out}\n000002.jpg 999999\n")).unwrap();

        let train = training_sources(&data(), &splits(), Some(&extra)).unwrap();
        let names: Vec<&str> = train.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["celeba-train", "utkface", "pad-train", "utkface-full", "celeba-flat"]);
        let count = |name: &str| train.iter().find(|s| s.name == name).unwrap().samples.len();
        assert_eq!((count("utkface-full"), count("celeba-flat")), (1, 1), "the subset's image and the held-out identity are left out");
        assert_eq!(count("utkface"), 6000);
        assert!(train.iter().flat_map(|s| &s.samples).all(|s| !s.path.components().any(|c| c.as_os_str() == "lfw")));
        let (train_groups, dev_groups) = (groups(&train), groups(&dev));
        let shared: Vec<&String> = train_groups.intersection(&dev_groups).collect();
        assert!(shared.is_empty(), "in both train and dev: {shared:?}");
        assert!(train_groups.contains("celeba/999999") && !train_groups.contains(&format!("celeba/{held_out}")));
        // Without the collections: the shared data alone.
        assert_eq!(training_sources(&data(), &splits(), None).unwrap().len(), 3);
        std::fs::remove_dir_all(&extra).unwrap();
    }
}
