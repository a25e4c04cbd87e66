//! The student's training and dev data (which faces: `facegate_datasets::sources`), each cut
//! once as the student's aligned view and labelled once by the teachers (SFace on its aligned crop, the anti-spoofing teacher on
//! its own view). Kept per source under `cache/<detector>/student/<source>/`, so an interrupted
//! build loses at most the source it was on.

use crate::faces::{assumed_face, cut_detected, detector};
use crate::progress::Progress;
use crate::train_pad::cache_dir;
use facegate_datasets::cache::{FaceCache, Index, Record, VERSION};
use facegate_datasets::load_rgb;
use facegate_datasets::pad::Sample;
use facegate_datasets::sources::Source;
use facegate_nets::weights::{crc32, file_id};
use facegate_nets::{STUDENT_INPUT, STUDENT_VIEW};
use facegate_teachers::OnnxTeacher;
use facegate_train::distil::targets::{FaceTargets, Targets};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

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
