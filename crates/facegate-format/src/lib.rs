//! facegate's weight file: small, float16 or int8, and refused loudly when it is not what the
//! reader expects. Read by the browser build (and its build script), written by training; it
//! knows no network library, so what ships never links one. Layout (little endian):
//!
//! ```text
//! magic "FGWT" | u16 format version | u64 file length | u32 meta length | meta JSON | u32 tensor count |
//! per tensor: u16 name length, name, u8 rank, u32 dims..., values |
//! u32 CRC-32 of everything before it
//! ```
//! Version 1 stores every tensor's values as f16. Version 2 starts each tensor's values with a
//! storage byte: 0 = f16 values; 1 = int8, symmetric, one f32 scale per slice along the first
//! dimension (a convolution's output channel), then the i8 values. Weights are widened to f32 on
//! load either way: int8 halves the download, not the arithmetic.
//! `meta` carries the architecture id, input size and normalisation, the crop, the detector,
//! thresholds and the metrics the weights reached.

use serde::{Deserialize, Serialize};

pub const MAGIC: &[u8; 4] = b"FGWT";
/// The newest version this build writes (int8 files); f16 files are still written as version 1.
pub const FORMAT_VERSION: u16 = 2;

/// How a file stores its tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    F16,
    /// Int8 for every tensor of rank 2 or more (convolution and linear weights); biases and
    /// batch-norm statistics stay f16.
    Int8,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WeightsMeta {
    pub arch: String,
    pub input: usize,
    /// How pixels are scaled, e.g. "rgb/127.5-1".
    pub normalisation: String,
    /// Face-box sides the input crop spans; files from before this field were 1.0.
    #[serde(default)]
    pub view: Option<f64>,
    #[serde(default)]
    pub thresholds: StoredThresholds,
    #[serde(default)]
    pub metrics: serde_json::Map<String, serde_json::Value>,
    /// How to reproduce these weights.
    #[serde(default)]
    pub command: String,
    /// The face detector (human-models name) whose crops trained and measured these weights:
    /// a crop is only what it was measured on with the same detector, so evaluation and the
    /// browser build follow this field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
    /// What the input crop is cut around; files from before this field were box crops.
    #[serde(default, skip_serializing_if = "CropKind::is_box")]
    pub crop: CropKind,
}

/// The operating points measured for these weights (on dev data, at export): what the engine
/// decides with unless an app overrides them. A file for one task stores only its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredThresholds {
    /// P(live) at or above which a face is taken as live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<f64>,
    /// Cosine similarity at or above which two faces are taken as one person.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matching: Option<f64>,
}

/// How a model's input is cut from the frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CropKind {
    /// The detector's square box, widened `view` times.
    #[default]
    Box,
    /// The face aligned by its landmarks to the ArcFace template, shrunk `view` times.
    Aligned,
}

impl CropKind {
    fn is_box(&self) -> bool {
        *self == CropKind::Box
    }
}

/// The detector of files from before the `detector` field: all were made on BlazeFace crops.
pub const LEGACY_DETECTOR: &str = "blazeface";

/// For serde defaults of configs that name a detector.
pub fn legacy_detector() -> String {
    LEGACY_DETECTOR.into()
}

impl WeightsMeta {
    pub fn view(&self) -> f64 {
        self.view.unwrap_or(1.0)
    }

    pub fn detector(&self) -> &str {
        self.detector.as_deref().unwrap_or(LEGACY_DETECTOR)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WeightsError {
    #[error("not a facegate weight file (bad magic)")]
    Magic,
    #[error("weight file format {found} is not supported (this build reads 1 to {FORMAT_VERSION})")]
    Version { found: u16 },
    #[error("weight file is truncated")]
    Truncated,
    #[error("weight file is corrupt (checksum mismatch)")]
    Checksum,
    #[error("weight file is for `{found}`, expected `{expected}`")]
    Arch { found: String, expected: String },
    #[error("weight file does not fit the network: {0}")]
    Mismatch(String),
    #[error("weight file metadata: {0}")]
    Meta(String),
}

/// Named tensors: name, shape, float32 values (row-major).
pub type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

/// The file for `meta` and `tensors`, stored as `storage` says.
pub fn encode(meta: &WeightsMeta, tensors: &[(String, Vec<usize>, Vec<f32>)], storage: Storage) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend((tensors.len() as u32).to_le_bytes());
    for (name, shape, data) in tensors {
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(name.as_bytes());
        out.push(shape.len() as u8);
        for d in shape {
            out.extend((*d as u32).to_le_bytes());
        }
        match storage {
            Storage::Int8 if shape.len() >= 2 && !data.is_empty() => {
                out.push(1);
                let slice = data.len() / shape[0];
                let scales: Vec<f32> = data.chunks(slice).map(|s| s.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0).collect();
                for sc in &scales {
                    out.extend(sc.to_le_bytes());
                }
                for (s, sc) in data.chunks(slice).zip(&scales) {
                    out.extend(s.iter().map(|v| if *sc > 0.0 { (v / sc).round().clamp(-127.0, 127.0) as i8 as u8 } else { 0 }));
                }
            }
            _ => {
                if storage == Storage::Int8 {
                    out.push(0);
                }
                for v in data {
                    out.extend(half::f16::from_f32(*v).to_le_bytes());
                }
            }
        }
    }
    // f16 files keep version 1, which every reader since the first understands.
    assemble(if storage == Storage::F16 { 1 } else { FORMAT_VERSION }, meta, &out)
}

/// A checked file's parts: everything the header says, and where the tensors lie. The one place
/// the header's bytes are read.
struct Framed<'a> {
    version: u16,
    meta: WeightsMeta,
    /// Tensor count to the last value: what stays the same when only the header changes.
    tensors: &'a [u8],
}

/// Magic, version, length and checksum checked, the header parsed; the tensors left as bytes.
fn frame(bytes: &[u8]) -> Result<Framed<'_>, WeightsError> {
    if bytes.len() < 4 || &bytes[..4] != MAGIC {
        return Err(WeightsError::Magic);
    }
    let mut r = Reader { b: bytes, at: 4 };
    let version = u16::from_le_bytes(r.take(2)?.try_into().unwrap());
    if !(1..=FORMAT_VERSION).contains(&version) {
        return Err(WeightsError::Version { found: version });
    }
    let total = u64::from_le_bytes(r.take(8)?.try_into().unwrap());
    if (bytes.len() as u64) < total {
        return Err(WeightsError::Truncated);
    }
    if bytes.len() as u64 != total || bytes.len() < 18 {
        return Err(WeightsError::Checksum);
    }
    let (body, tail) = bytes.split_at(bytes.len() - 4);
    if crc32(body) != u32::from_le_bytes(tail.try_into().unwrap()) {
        return Err(WeightsError::Checksum);
    }
    let mut r = Reader { b: body, at: r.at };
    let meta_len = r.u32()? as usize;
    let meta: WeightsMeta = serde_json::from_slice(r.take(meta_len)?).map_err(|e| WeightsError::Meta(e.to_string()))?;
    Ok(Framed { version, meta, tensors: &body[r.at..] })
}

/// The header, the tensor section and the checksum around them, length made anew.
fn assemble(version: u16, meta: &WeightsMeta, tensors: &[u8]) -> Vec<u8> {
    let meta = serde_json::to_vec(meta).expect("meta serialises");
    let mut out = Vec::with_capacity(22 + meta.len() + tensors.len());
    out.extend(MAGIC);
    out.extend(version.to_le_bytes());
    out.extend(((18 + meta.len() + tensors.len() + 4) as u64).to_le_bytes());
    out.extend((meta.len() as u32).to_le_bytes());
    out.extend(&meta);
    out.extend(tensors);
    let crc = crc32(&out);
    out.extend(crc.to_le_bytes());
    out
}

/// The same file with another header: tensors byte for byte as they were (re-encoding an int8
/// file would round its weights again), length and checksum made anew. For re-measuring a
/// file's operating points without its training run.
pub fn replace_meta(bytes: &[u8], meta: &WeightsMeta) -> Result<Vec<u8>, WeightsError> {
    let f = frame(bytes)?;
    Ok(assemble(f.version, meta, f.tensors))
}

/// The tensors of a checked file as stored (tensor count to the last value, checksum
/// excluded): what stays the same when only the header changes.
pub fn tensor_section(bytes: &[u8]) -> Result<&[u8], WeightsError> {
    Ok(frame(bytes)?.tensors)
}

/// A weight file's identity: its stored checksum (CRC-32 of everything before it). Note a
/// CRC over the whole file, checksum included, is the same constant for every file.
pub fn file_id(bytes: &[u8]) -> u32 {
    crc32(&bytes[..bytes.len().saturating_sub(4)])
}

/// The header of a checked file (magic, version, length, checksum), its tensors not decoded.
pub fn read_meta(bytes: &[u8]) -> Result<WeightsMeta, WeightsError> {
    Ok(frame(bytes)?.meta)
}

/// The header and every tensor of a file for `arch`, checked in full (magic, version, length,
/// checksum, architecture).
pub fn read_tensors(bytes: &[u8], arch: &str) -> Result<(WeightsMeta, Tensors), WeightsError> {
    let (meta, tensors) = decode(bytes)?;
    if meta.arch != arch {
        return Err(WeightsError::Arch { found: meta.arch, expected: arch.into() });
    }
    Ok((meta, tensors))
}

/// The header and every tensor of a file of any architecture, checked as [`read_tensors`] checks.
pub fn decode(bytes: &[u8]) -> Result<(WeightsMeta, Tensors), WeightsError> {
    let Framed { version, meta, tensors: section } = frame(bytes)?;
    let mut r = Reader { b: section, at: 0 };
    let n = r.u32()? as usize;
    let mut tensors = Vec::with_capacity(n.min(4096));
    for _ in 0..n {
        let len = u16::from_le_bytes(r.take(2)?.try_into().unwrap()) as usize;
        let name = String::from_utf8(r.take(len)?.to_vec()).map_err(|_| WeightsError::Meta("tensor name is not UTF-8".into()))?;
        let rank = r.take(1)?[0] as usize;
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(r.u32()? as usize);
        }
        let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or(WeightsError::Truncated)?;
        let int8 = version >= 2
            && match r.take(1)?[0] {
                0 => false,
                1 if shape.len() >= 2 && count > 0 => true,
                other => return Err(WeightsError::Mismatch(format!("`{name}` has an unknown storage {other}"))),
            };
        let data = if int8 {
            let scales: Vec<f32> = (0..shape[0]).map(|_| r.take(4).map(|b| f32::from_le_bytes(b.try_into().unwrap()))).collect::<Result<_, _>>()?;
            let raw = r.take(count)?;
            raw.chunks(count / shape[0]).zip(&scales).flat_map(|(s, sc)| s.iter().map(move |&q| q as i8 as f32 * sc)).collect()
        } else {
            let raw = r.take(count.checked_mul(2).ok_or(WeightsError::Truncated)?)?;
            raw.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
        };
        tensors.push((name, shape, data));
    }
    if r.at != section.len() {
        return Err(WeightsError::Mismatch("trailing bytes after the last tensor".into()));
    }
    Ok((meta, tensors))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WeightsError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or(WeightsError::Truncated)?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, WeightsError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
}

/// CRC-32 (IEEE), bitwise: weight files are read once, speed does not matter.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> WeightsMeta {
        WeightsMeta { arch: "test-net".into(), input: 4, normalisation: "rgb/127.5-1".into(), ..Default::default() }
    }

    fn tensors() -> Tensors {
        vec![
            ("conv.weight".into(), vec![2, 3], vec![0.5, -1.0, 0.25, 2.0, 0.0, -0.75]),
            ("conv.bias".into(), vec![2], vec![0.125, -3.5]),
            ("empty".into(), vec![0, 4], vec![]),
        ]
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn both_storages_round_trip_and_int8_rounds_per_output_slice() {
        for storage in [Storage::F16, Storage::Int8] {
            let bytes = encode(&meta(), &tensors(), storage);
            assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), if storage == Storage::F16 { 1 } else { 2 });
            let (m, got) = read_tensors(&bytes, "test-net").unwrap();
            assert_eq!(m, meta());
            for ((n1, s1, d1), (n2, s2, d2)) in tensors().iter().zip(&got) {
                assert_eq!((n1, s1), (n2, s2));
                // These values are exact in f16; int8 keeps each slice's largest exactly.
                let tol = if storage == Storage::Int8 && s1.len() >= 2 { 2.0 / 127.0 } else { 0.0 };
                assert!(d1.iter().zip(d2).all(|(a, b)| (a - b).abs() <= tol), "{n1}: {d1:?} vs {d2:?}");
            }
        }
    }

    #[test]
    fn bad_files_are_refused_with_what_is_wrong() {
        let bytes = encode(&meta(), &tensors(), Storage::Int8);
        assert_eq!(decode(&bytes[..bytes.len() / 2]).err(), Some(WeightsError::Truncated));
        let mut tampered = bytes.clone();
        tampered[bytes.len() / 2] ^= 0x40;
        assert_eq!(decode(&tampered).err(), Some(WeightsError::Checksum));
        let mut version = bytes.clone();
        version[4] = 9;
        assert_eq!(decode(&version).err(), Some(WeightsError::Version { found: 9 }));
        assert_eq!(decode(b"PK\x03\x04zip").err(), Some(WeightsError::Magic));
        assert_eq!(decode(&[]).err(), Some(WeightsError::Magic));
        assert_eq!(read_meta(&bytes[..20]).err(), Some(WeightsError::Truncated));
        assert!(matches!(read_tensors(&bytes, "student-v1"), Err(WeightsError::Arch { .. })));
    }

    #[test]
    fn the_detector_is_recorded_and_older_files_mean_blazeface() {
        let legacy = encode(&meta(), &tensors(), Storage::F16);
        assert!(!String::from_utf8_lossy(&legacy).contains("\"detector\""), "an unnamed detector adds no field");
        assert_eq!(read_meta(&legacy).unwrap().detector(), LEGACY_DETECTOR);
        let named = WeightsMeta { detector: Some("facemesh-detection-short".into()), ..meta() };
        assert_eq!(read_meta(&encode(&named, &tensors(), Storage::F16)).unwrap().detector(), "facemesh-detection-short");
    }

    /// Files from before the `crop` field read box crops, and a box file's header is written as
    /// it was.
    #[test]
    fn the_crop_is_recorded_and_older_files_mean_box_crops() {
        let boxed = WeightsMeta { view: Some(1.5), ..meta() };
        let bytes = encode(&boxed, &tensors(), Storage::F16);
        assert!(!String::from_utf8_lossy(&bytes[..200]).contains("crop"));
        assert_eq!(read_meta(&bytes).unwrap().crop, CropKind::Box);
        let aligned = WeightsMeta { crop: CropKind::Aligned, ..boxed };
        assert_eq!(read_meta(&encode(&aligned, &tensors(), Storage::F16)).unwrap().crop, CropKind::Aligned);
    }

    /// Thresholds are typed, stored under the names files have always used, and a file stores
    /// only those it measured.
    #[test]
    fn thresholds_keep_their_stored_names() {
        let pad = WeightsMeta { thresholds: StoredThresholds { liveness: Some(0.59), matching: None }, ..meta() };
        let json = serde_json::to_string(&pad).unwrap();
        assert!(json.contains(r#""thresholds":{"liveness":0.59}"#), "{json}");
        let old: WeightsMeta =
            serde_json::from_str(r#"{"arch":"a","input":1,"normalisation":"","thresholds":{"liveness":0.5902610421180725,"match":0.7199596762657166}}"#)
                .unwrap();
        assert_eq!(old.thresholds, StoredThresholds { liveness: Some(0.5902610421180725), matching: Some(0.7199596762657166) });
        assert!(serde_json::to_string(&old).unwrap().contains(r#""thresholds":{"liveness":0.5902610421180725,"match":0.7199596762657166}"#));
    }

    #[test]
    fn a_new_header_keeps_every_tensor_byte_and_a_valid_checksum() {
        let old = encode(&meta(), &tensors(), Storage::Int8);
        let new_meta =
            WeightsMeta { detector: Some("facemesh-detection-short".into()), thresholds: StoredThresholds { liveness: Some(0.5), matching: None }, ..meta() };
        let new = replace_meta(&old, &new_meta).unwrap();
        assert_eq!(read_meta(&new).unwrap(), new_meta);
        assert_eq!(tensor_section(&new).unwrap(), tensor_section(&old).unwrap());
        assert_eq!(decode(&new).unwrap().1, decode(&old).unwrap().1);
        assert_eq!(replace_meta(&new, &meta()).unwrap(), old, "and back, byte for byte");
        assert_eq!(replace_meta(&old[..old.len() - 1], &new_meta).err(), Some(WeightsError::Truncated));
    }

    /// The typed header loses nothing: every committed weight file, its header read and written
    /// again, has the same header fields and values and the same tensor bytes. (Not byte for
    /// byte: serde_json's default float parser can read a long decimal 1 ulp off, which changes
    /// the last digit of some metrics written again.)
    #[test]
    fn committed_files_keep_every_header_field_when_rewritten() {
        let header = |b: &[u8]| -> serde_json::Value {
            let len = u32::from_le_bytes(b[14..18].try_into().unwrap()) as usize;
            serde_json::from_slice(&b[18..18 + len]).unwrap()
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "fgw") {
                let bytes = std::fs::read(&path).unwrap();
                let meta = read_meta(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let again = replace_meta(&bytes, &meta).unwrap();
                assert_eq!(header(&again), header(&bytes), "{}", path.display());
                assert!(tensor_section(&again).unwrap() == tensor_section(&bytes).unwrap());
                seen += 1;
            }
        }
        assert!(seen >= 4, "{seen} weight files in {}", dir.display());
    }
}
