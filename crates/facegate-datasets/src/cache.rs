//! Face crops cut once by the detector and kept on disk, so training epochs never re-run it.
//!
//! Each crop is the pipeline's square face box widened by `CONTEXT_VIEW` (room for scale and
//! shift jitter; `facegate_face::specs`), resampled to `size`x`size` RGB. The centre
//! `size / CONTEXT_VIEW` window is the box itself, i.e. what the browser crops. A cache is a folder with `index.json`
//! (one record per image) and `crops.bin`; both are written to temporary names and renamed,
//! so a failed or interrupted build never destroys a cache that was already there.

use crate::error::{DataError, io};
use crate::image_io::load_rgb;
use crate::pad::{Label, Sample};
use facegate_face::specs::CONTEXT_VIEW;
use facegate_face::{Detector, central_face, centred_square, crop_and_resize, widen};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Image path as given to the builder.
    pub path: String,
    /// `None` for live, otherwise the attack kind.
    pub attack: Option<String>,
    pub group: String,
    /// False when the detector found no face and the whole image was used.
    pub found: bool,
    pub score: f32,
    /// Square face box in image pixels [x1, y1, x2, y2].
    pub square: [f32; 4],
    pub landmarks: [[f32; 2]; 6],
}

impl Record {
    /// The record of `s` cut around a face (`found`: the detector's, else an assumed one), in
    /// image pixels; stored as f32.
    pub fn new(s: &Sample, found: bool, score: f32, square: [f64; 4], landmarks: [[f64; 2]; 6]) -> Self {
        Record {
            path: s.path.display().to_string(),
            attack: match &s.label {
                Label::Live => None,
                Label::Attack(k) => Some(k.clone()),
            },
            group: s.group.clone(),
            found,
            score,
            square: square.map(|v| v as f32),
            landmarks: landmarks.map(|p| p.map(|v| v as f32)),
        }
    }

    pub fn label(&self) -> Label {
        self.attack.clone().map(Label::Attack).unwrap_or(Label::Live)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub version: u32,
    /// What produced the crops; a cache made by another detector or crop is stale.
    pub key: String,
    pub size: usize,
    pub records: Vec<Record>,
}

/// An opened cache: records and their crops in memory (`size`x`size`x3 bytes each).
pub struct FaceCache {
    pub index: Index,
    crops: Vec<u8>,
}

impl FaceCache {
    /// A cache held only in memory (synthetic data in tests, or crops made elsewhere).
    pub fn from_parts(index: Index, crops: Vec<u8>) -> Result<Self, String> {
        let want = index.records.len() * index.size * index.size * 3;
        if crops.len() != want {
            return Err(format!("{} crop bytes for {} records of {}px (need {want})", crops.len(), index.records.len(), index.size));
        }
        Ok(Self { index, crops })
    }

    pub fn len(&self) -> usize {
        self.index.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.records.is_empty()
    }

    pub fn size(&self) -> usize {
        self.index.size
    }

    /// HWC RGB bytes of record `i`.
    pub fn crop(&self, i: usize) -> &[u8] {
        let n = self.index.size * self.index.size * 3;
        &self.crops[i * n..(i + 1) * n]
    }

    pub fn missed(&self) -> usize {
        self.index.records.iter().filter(|r| !r.found).count()
    }

    /// Images without a detected face, per source group (replay set, NUAA subject, ...).
    pub fn missed_by_group(&self) -> std::collections::BTreeMap<String, (usize, usize)> {
        let mut out = std::collections::BTreeMap::new();
        for r in &self.index.records {
            let e: &mut (usize, usize) = out.entry(r.group.clone()).or_default();
            e.1 += 1;
            if !r.found {
                e.0 += 1;
            }
        }
        out.retain(|_, (missed, _)| *missed > 0);
        out
    }

    /// Opens `dir` if it holds a complete cache made with `key`.
    pub fn open(dir: &Path, key: &str) -> Result<Option<Self>, DataError> {
        let index_path = dir.join("index.json");
        if !index_path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&index_path).map_err(io(&index_path))?;
        let index: Index = serde_json::from_str(&text).map_err(|e| DataError::Malformed { path: index_path.clone(), line: e.line(), reason: e.to_string() })?;
        if index.version != VERSION || index.key != key {
            return Ok(None);
        }
        let bin = dir.join("crops.bin");
        let crops = std::fs::read(&bin).map_err(io(&bin))?;
        if crops.len() != index.records.len() * index.size * index.size * 3 {
            return Err(DataError::Malformed { path: bin, line: 0, reason: "size does not match index.json (truncated cache?)".into() });
        }
        Ok(Some(Self { index, crops }))
    }

    /// Opens the cache at `dir` only if it was made with `key` and `size` from exactly
    /// `samples`, in order.
    pub fn open_matching(dir: &Path, key: &str, samples: &[Sample], size: usize) -> Result<Option<Self>, DataError> {
        Ok(Self::open(dir, key)?.filter(|c| {
            c.index.size == size
                && c.index.records.len() == samples.len()
                && c.index.records.iter().zip(samples).all(|(r, s)| r.path == s.path.display().to_string())
        }))
    }

    /// Cuts every sample with `detector` and writes the cache to `dir`, replacing what was
    /// there only once all images succeeded. `progress` is called after each image.
    pub fn build(dir: &Path, key: &str, samples: &[Sample], detector: &Detector, size: usize, mut progress: impl FnMut(usize)) -> Result<Self, DataError> {
        if samples.is_empty() {
            return Err(DataError::Empty { path: dir.to_path_buf() });
        }
        let mut records = Vec::with_capacity(samples.len());
        let mut crops = Vec::with_capacity(samples.len() * size * size * 3);
        for (i, s) in samples.iter().enumerate() {
            let (record, crop) = cut(s, detector, size)?;
            records.push(record);
            crops.extend(crop);
            progress(i + 1);
        }
        let cache = Self { index: Index { version: VERSION, key: key.into(), size, records }, crops };
        cache.save(dir)?;
        Ok(cache)
    }

    /// Opens the cache at `dir`, building it first when missing or stale.
    pub fn open_or_build(dir: &Path, key: &str, samples: &[Sample], detector: &Detector, size: usize, progress: impl FnMut(usize)) -> Result<Self, DataError> {
        match Self::open_matching(dir, key, samples, size)? {
            Some(c) => Ok(c),
            None => Self::build(dir, key, samples, detector, size, progress),
        }
    }

    /// Writes the cache to `dir` (temporary names, then renamed: see the module doc).
    pub fn save(&self, dir: &Path) -> Result<(), DataError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let tmp = |name: &str| dir.join(format!(".{name}.tmp-{}", std::process::id()));
        let (bin_tmp, idx_tmp) = (tmp("crops.bin"), tmp("index.json"));
        std::fs::write(&bin_tmp, &self.crops).map_err(io(&bin_tmp))?;
        let json = serde_json::to_vec(&self.index).expect("index serialises");
        std::fs::write(&idx_tmp, json).map_err(io(&idx_tmp))?;
        // Index last: a reader never sees an index without its crops.
        let bin = dir.join("crops.bin");
        std::fs::rename(&bin_tmp, &bin).map_err(io(&bin))?;
        let idx = dir.join("index.json");
        std::fs::rename(&idx_tmp, &idx).map_err(io(&idx))?;
        Ok(())
    }
}

fn cut(s: &Sample, detector: &Detector, size: usize) -> Result<(Record, Vec<u8>), DataError> {
    let img = load_rgb(&s.path)?;
    let faces = detector.detect(&img).map_err(|e| DataError::Image { path: s.path.clone(), reason: e.to_string() })?;
    let (w, h) = (img.width() as f64, img.height() as f64);
    let (found, score, square, landmarks) = match central_face(&faces, img.width(), img.height()) {
        Some(f) => (true, f.score, f.square, f.landmarks),
        // The sets are face crops already: fall back to the largest centred square.
        None => (false, 0.0, centred_square(img.width(), img.height()), [[w / 2.0, h / 2.0]; 6]),
    };
    let [x1, y1, x2, y2] = widen(square, CONTEXT_VIEW);
    let crop = crop_and_resize(&img, (y1 / h) as f32, (x1 / w) as f32, (y2 / h) as f32, (x2 / w) as f32, size, size);
    Ok((Record::new(s, found, score, square, landmarks), crop.into_iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect()))
}

/// Where a cache for `name` lives: `$FACEGATE_CACHE` or `./cache`.
pub fn cache_root() -> PathBuf {
    std::env::var_os("FACEGATE_CACHE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("cache"))
}
