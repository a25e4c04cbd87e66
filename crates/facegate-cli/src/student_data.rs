//! The student's training and dev data: every face of the shared data that is not LFW (and,
//! when fetched, the larger public collections), each cut once as the student's aligned view
//! and labelled once by the teachers (SFace on its aligned crop, the anti-spoofing teacher on
//! its own view). Kept per source under `cache/<detector>/student/<source>/`, so an interrupted
//! build loses at most the source it was on.

use crate::faces::{assumed_face, check_dir, cut_detected, detector};
use crate::progress::Progress;
use crate::train_pad::cache_dir;
use crate::train_student::celeba_split;
use facegate_datasets::cache::{FaceCache, Index, Record, VERSION};
use facegate_datasets::faces::{celeba, celeba_flat, unlabelled, utkface, utkface_all};
use facegate_datasets::load_rgb;
use facegate_datasets::pad::Sample;
use facegate_datasets::splits::{CrossCameraSplits, Split};
use facegate_nets::weights::{crc32, file_id};
use facegate_nets::{STUDENT_INPUT, STUDENT_VIEW};
use facegate_teachers::OnnxTeacher;
use facegate_train::distil::targets::{FaceTargets, Targets};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Where the larger public face collections were unpacked (docs/data.md): each one is used
/// when its folder is there.
pub const EXTRA_UTKFACE: &str = "data/UTKFace/unlabeled";
pub const EXTRA_AAF: &str = "All-Age-Faces Dataset/aglined faces";
pub const EXTRA_CELEBA: &str = "celebA";
pub const EXTRA_CELEBA_IDS: &str = "celebA/identity_CelebA.txt";

/// Both teachers, with the key their targets are filed under.
pub struct Teachers {
    pub sface: OnnxTeacher,
    pub pad: OnnxTeacher,
    pub key: String,
}

impl Teachers {
    /// SFace and the anti-spoofing teacher: a fine-tuned MiniFAS file, or `minifas` itself.
    pub fn load(pad: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let sface_path = facegate_teachers::onnx::onnx_path(facegate_teachers::OnnxKind::Sface)?;
        let sface_crc = crc32(&std::fs::read(&sface_path).map_err(|e| format!("{}: {e}", sface_path.display()))?);
        let (pad_teacher, pad_id) = match crate::own_model::open_minifas(pad)? {
            Some((t, _)) => (t, format!("{:08x}", file_id(&std::fs::read(pad)?))),
            None if pad == "minifas" => (OnnxTeacher::load("minifas")?, "base".to_string()),
            None => return Err(format!("{pad}: not a fine-tuned MiniFAS file (nor `minifas`)").into()),
        };
        Ok(Self { sface: OnnxTeacher::load("sface")?, pad: pad_teacher, key: format!("sface:{sface_crc:08x}/minifas:{pad_id}") })
    }
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
pub fn training_sources(data: &Path, splits: &Path, extra: Option<&Path>) -> Result<Vec<Source>, Box<dyn std::error::Error>> {
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
        let extra = &std::fs::canonicalize(extra)?;
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
pub fn dev_sources(data: &Path, splits: &Path) -> Result<Vec<Source>, Box<dyn std::error::Error>> {
    let celeba_dir = data.join("celeba-subset");
    check_dir(&celeba_dir)?;
    let (_, celeba_dev) = celeba_split(celeba(&celeba_dir)?);
    let protocol = CrossCameraSplits::load(splits)?;
    Ok(vec![Source { name: "pad-dev".into(), samples: protocol.samples(data, Split::Dev)? }, Source { name: "celeba-dev".into(), samples: celeba_dev }])
}

/// One source's student crops and teacher targets, read from its folder when they were made
/// from the same images with the same detector, view and teachers, else built (on `threads`
/// threads) and stored.
pub fn open_or_build(source: &Source, detector_name: &str, teachers: &Teachers, threads: usize) -> Result<(FaceCache, Targets), Box<dyn std::error::Error>> {
    let dir = student_dir(detector_name, &source.name);
    let key = format!("{detector_name}/aligned-{STUDENT_VIEW}/{STUDENT_INPUT}px/{}", source.name);
    let targets_key = format!("{}/{key}", teachers.key);
    if let Some(cache) = FaceCache::open_matching(&dir, &key, &source.samples, STUDENT_INPUT)?
        && let Some(t) = Targets::open(&dir.join("targets.bin"), &targets_key, cache.len())
    {
        return Ok((cache, t));
    }
    if source.samples.is_empty() {
        return Err(format!("{}: no images", source.name).into());
    }
    let done = AtomicUsize::new(0);
    let chunk = source.samples.len().div_ceil(threads.max(1));
    let mut bar = Progress::new(&format!("student data {}", source.name), source.samples.len());
    let parts: Vec<Result<Vec<CutFace>, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = source.samples.chunks(chunk).map(|part| scope.spawn(|| cut_part(part, detector_name, teachers, &done))).collect();
        let mut shown = 0;
        while handles.iter().any(|h| !h.is_finished()) {
            std::thread::sleep(std::time::Duration::from_millis(500));
            let now = done.load(Ordering::Relaxed);
            bar.inc(now - shown);
            shown = now;
        }
        bar.inc(done.load(Ordering::Relaxed) - shown);
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a worker panicked".into()))).collect()
    });
    bar.finish();
    let mut records = Vec::with_capacity(source.samples.len());
    let mut crops = Vec::with_capacity(source.samples.len() * STUDENT_INPUT * STUDENT_INPUT * 3);
    let mut targets = Targets { key: targets_key, ..Default::default() };
    for part in parts {
        for (r, c, t) in part? {
            records.push(r);
            crops.extend(c);
            targets.push(t);
        }
    }
    let cache = FaceCache::from_parts(Index { version: VERSION, key, size: STUDENT_INPUT, records }, crops)?;
    // Targets first: a cache without its targets is rebuilt, never paired with stale ones.
    targets.save(&dir.join("targets.bin"))?;
    cache.save(&dir)?;
    eprintln!("{}: {} faces, detector missed {}", source.name, cache.len(), cache.missed());
    Ok((cache, targets))
}

pub fn student_dir(detector_name: &str, source: &str) -> PathBuf {
    cache_dir(detector_name, &format!("student/{source}"))
}

/// One face as the cache keeps it: its record, crop bytes and teacher targets.
type CutFace = (Record, Vec<u8>, FaceTargets);

/// Cuts and labels one share of a source on this thread (its own detector: the graph keeps
/// per-call state).
fn cut_part(part: &[Sample], detector_name: &str, teachers: &Teachers, done: &AtomicUsize) -> Result<Vec<CutFace>, String> {
    let det = detector(detector_name).map_err(|e| e.to_string())?;
    let specs = [facegate_face::specs::STUDENT, teachers.sface.crop_spec(), teachers.pad.crop_spec()];
    let mut out = Vec::with_capacity(part.len());
    for s in part {
        let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", s.path.display());
        let img = load_rgb(&s.path).map_err(|e| failed(&e))?;
        let (face, crops) = cut_detected(&det, &img, &specs).map_err(|e| failed(&e))?;
        let targets = FaceTargets::compute(&teachers.sface, &crops[1], &teachers.pad, &crops[2]).map_err(|e| failed(&e))?;
        let found = face.is_some();
        let f = face.unwrap_or_else(|| assumed_face(img.width(), img.height(), &specs[0]));
        let record = Record::new(s, found, f.score, f.square, f.landmarks);
        out.push((record, crops[0].iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect(), targets));
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
