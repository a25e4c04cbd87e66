//! facegate's weight file: small, float16 or int8, and refused loudly when it is not what the
//! loader expects. Layout (little endian):
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
//! `meta` carries the architecture id, input size and normalisation, thresholds and the
//! metrics the weights reached.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};
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
    pub thresholds: serde_json::Map<String, serde_json::Value>,
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

    /// The crop these weights read, as every path that measures or ships them cuts it.
    pub fn crop_spec(&self) -> facegate_face::CropSpec {
        match self.crop {
            CropKind::Box => facegate_face::CropSpec::Box { size: self.input, view: self.view(), alignment: facegate_face::Alignment::None },
            CropKind::Aligned => facegate_face::CropSpec::Aligned { size: self.input, view: self.view() },
        }
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

struct Collect {
    path: Vec<String>,
    tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let data = t.to_data().convert::<f32>().try_to_vec::<f32>().expect("f32 params");
        self.tensors.push((self.path.join("."), t.dims().to_vec(), data));
    }
}

/// `param` with these values. A trainable network stays trainable (fine-tuning starts from a
/// weight file).
fn assign<const D: usize>(param: Param<Tensor<D>>, shape: Vec<usize>, data: Vec<f32>) -> Param<Tensor<D>> {
    let device = param.val().device();
    let trainable = param.val().is_require_grad();
    param.map(|_| {
        let t = Tensor::<D>::from_data(TensorData::new(data, shape), &device);
        if trainable { t.require_grad() } else { t }
    })
}

/// Serialises every float tensor of `module` (parameters and running statistics) as f16.
pub fn to_bytes<M: Module>(module: &M, meta: &WeightsMeta) -> Vec<u8> {
    to_bytes_as(module, meta, Storage::F16)
}

pub fn to_bytes_as<M: Module>(module: &M, meta: &WeightsMeta, storage: Storage) -> Vec<u8> {
    let mut c = Collect { path: Vec::new(), tensors: Vec::new() };
    module.visit(&mut c);
    let meta = serde_json::to_vec(meta).expect("meta serialises");
    let mut out = Vec::new();
    out.extend(MAGIC);
    out.extend(if storage == Storage::F16 { 1u16 } else { FORMAT_VERSION }.to_le_bytes());
    out.extend(0u64.to_le_bytes()); // file length, patched below
    out.extend((meta.len() as u32).to_le_bytes());
    out.extend(&meta);
    out.extend((c.tensors.len() as u32).to_le_bytes());
    for (name, shape, data) in &c.tensors {
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
    let total = (out.len() + 4) as u64;
    out[6..14].copy_from_slice(&total.to_le_bytes());
    let crc = crc32(&out);
    out.extend(crc.to_le_bytes());
    out
}

/// The same file with another header: tensors byte for byte as they were (re-encoding an int8
/// file would round its weights again), length and checksum made anew. For re-measuring a
/// file's operating points without its training run.
pub fn replace_meta(bytes: &[u8], meta: &WeightsMeta) -> Result<Vec<u8>, WeightsError> {
    let tensors = tensor_section(bytes)?;
    let meta = serde_json::to_vec(meta).map_err(|e| WeightsError::Meta(e.to_string()))?;
    let mut out = Vec::with_capacity(bytes.len() + meta.len());
    out.extend(&bytes[..14]);
    out.extend((meta.len() as u32).to_le_bytes());
    out.extend(&meta);
    out.extend(tensors);
    let total = (out.len() + 4) as u64;
    out[6..14].copy_from_slice(&total.to_le_bytes());
    let crc = crc32(&out);
    out.extend(crc.to_le_bytes());
    Ok(out)
}

/// The tensors of a checked file as stored (tensor count to the last value, checksum
/// excluded): what stays the same when only the header changes.
pub fn tensor_section(bytes: &[u8]) -> Result<&[u8], WeightsError> {
    parse(bytes)?;
    let meta_len = u32::from_le_bytes(bytes[14..18].try_into().unwrap()) as usize;
    Ok(&bytes[18 + meta_len..bytes.len() - 4])
}

/// A weight file's identity: its stored checksum (CRC-32 of everything before it). Note a
/// CRC over the whole file, checksum included, is the same constant for every file.
pub fn file_id(bytes: &[u8]) -> u32 {
    crc32(&bytes[..bytes.len().saturating_sub(4)])
}

/// Reads the header and checksum only.
pub fn read_meta(bytes: &[u8]) -> Result<WeightsMeta, WeightsError> {
    Ok(parse(bytes)?.0)
}

/// Loads weights into `module`, checking magic, version, checksum, architecture and every
/// tensor's name and shape; on any error the module is returned untouched inside the error path.
pub fn load<M: Module>(module: M, bytes: &[u8], arch: &str) -> Result<(M, WeightsMeta), WeightsError> {
    let (meta, tensors) = read_tensors(bytes, arch)?;
    let count = tensors.len();
    let (module, m) = assign_matching(module, tensors);
    if let Some(first) = m.missing.first() {
        return Err(WeightsError::Mismatch(first.1.clone()));
    }
    if !m.tensors.is_empty() {
        return Err(WeightsError::Mismatch(format!("{} of {count} tensors left over", m.tensors.len())));
    }
    Ok((module, meta))
}

/// Fine-tuning from a file of an earlier architecture: every tensor of `module` that the file
/// has under the same name and shape takes the file's values; the others keep theirs. Returns
/// the module and the names it kept (the file's checksum and header are checked as [`load`]
/// checks them; its architecture is not).
pub fn load_matching<M: Module>(module: M, bytes: &[u8]) -> Result<(M, Vec<String>), WeightsError> {
    let (_, tensors) = parse(bytes)?;
    let (module, m) = assign_matching(module, tensors);
    Ok((module, m.missing.into_iter().map(|(name, _)| name).collect()))
}

/// Every parameter of `module` that `tensors` has by name and shape takes its values.
fn assign_matching<M: Module>(module: M, tensors: Tensors) -> (M, Match) {
    let mut m = Match { path: Vec::new(), tensors: tensors.into_iter().map(|(n, s, d)| (n, (s, d))).collect(), missing: Vec::new() };
    (module.map(&mut m), m)
}

struct Match {
    path: Vec<String>,
    /// The file's tensors not (yet) taken.
    tensors: std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>,
    /// Parameters the file had nothing for: name, and why.
    missing: Vec<(String, String)>,
}

impl ModuleMapper for Match {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let here = self.path.join(".");
        let want = param.val().dims().to_vec();
        match self.tensors.remove(&here) {
            Some((shape, data)) if shape == want => assign(param, shape, data),
            Some((shape, _)) => {
                self.missing.push((here.clone(), format!("`{here}` {shape:?} where the network has {want:?}")));
                param
            }
            None => {
                self.missing.push((here.clone(), format!("no tensor for `{here}`")));
                param
            }
        }
    }
}

pub type Tensors = Vec<(String, Vec<usize>, Vec<f32>)>;

/// The header and every tensor (name, shape, float32 values) of a file for `arch`, checked as
/// [`load`] checks them, without a network to load them into.
pub fn read_tensors(bytes: &[u8], arch: &str) -> Result<(WeightsMeta, Tensors), WeightsError> {
    let (meta, tensors) = parse(bytes)?;
    if meta.arch != arch {
        return Err(WeightsError::Arch { found: meta.arch, expected: arch.into() });
    }
    Ok((meta, tensors))
}

fn parse(bytes: &[u8]) -> Result<(WeightsMeta, Tensors), WeightsError> {
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
    if r.at != body.len() {
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
    use crate::padnet::{PADNET_ARCH, PADNET_INPUT, PadNet, padnet_input};
    use burn::tensor::Device;

    fn meta() -> WeightsMeta {
        WeightsMeta { arch: PADNET_ARCH.into(), input: PADNET_INPUT, normalisation: "rgb/127.5-1".into(), ..Default::default() }
    }

    /// Float parameters that will get gradients, and all float parameters.
    struct Trainable(usize, usize);
    impl burn::module::ModuleVisitor for Trainable {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0 += param.val().is_require_grad() as usize;
            self.1 += 1;
        }
    }

    #[test]
    fn loading_into_a_trainable_network_keeps_it_trainable() {
        let device = Device::flex().autodiff();
        let bytes = to_bytes(&PadNet::new(&Device::flex()), &meta());
        let count = |net: &PadNet| {
            let mut t = Trainable(0, 0);
            net.visit(&mut t);
            (t.0, t.1)
        };
        let fresh = count(&PadNet::new(&device));
        let (loaded, _) = load(PadNet::new(&device), &bytes, PADNET_ARCH).unwrap();
        assert!(fresh.0 > 0);
        assert_eq!(count(&loaded), fresh, "(trainable, all) after loading vs fresh");
        // A shell for inference stays inert.
        let (inert, _) = load(PadNet::shell(&Device::flex()), &bytes, PADNET_ARCH).unwrap();
        assert_eq!(count(&inert).0, 0);
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn round_trip_keeps_outputs_and_rejects_bad_files() {
        let device = Device::flex();
        let net = PadNet::new(&device).valid();
        let crop: Vec<f32> = (0..PADNET_INPUT * PADNET_INPUT * 3).map(|i| (i % 251) as f32).collect();
        let before = net.forward(padnet_input(&[&crop], &device)).into_data().try_to_vec::<f32>().unwrap();
        let bytes = to_bytes(&net, &meta());
        // Into a shell, as the browser loads: the file alone makes the network.
        let (loaded, m) = load(PadNet::shell(&device), &bytes, PADNET_ARCH).unwrap();
        assert_eq!(m, meta());
        let after = loaded.valid().forward(padnet_input(&[&crop], &device)).into_data().try_to_vec::<f32>().unwrap();
        assert!((before[0] - after[0]).abs() < 1e-2 * before[0].abs().max(1.0), "{before:?} vs {after:?}");

        assert_eq!(load(PadNet::new(&device), &bytes[..bytes.len() / 2], PADNET_ARCH).err(), Some(WeightsError::Truncated));
        let mut tampered = bytes.clone();
        tampered[bytes.len() / 2] ^= 0x40;
        assert_eq!(load(PadNet::new(&device), &tampered, PADNET_ARCH).err(), Some(WeightsError::Checksum));
        let mut version = bytes.clone();
        version[4] = 9;
        assert_eq!(load(PadNet::new(&device), &version, PADNET_ARCH).err(), Some(WeightsError::Version { found: 9 }));
        assert_eq!(load(PadNet::new(&device), b"PK\x03\x04zip", PADNET_ARCH).err(), Some(WeightsError::Magic));
        assert!(matches!(load(PadNet::new(&device), &bytes, "student-v1"), Err(WeightsError::Arch { .. })));
        assert_eq!(load(PadNet::new(&device), &[], PADNET_ARCH).err(), Some(WeightsError::Magic));
    }

    #[test]
    fn the_detector_is_recorded_and_older_files_mean_blazeface() {
        let net = PadNet::shell(&Device::flex());
        let legacy = to_bytes(&net, &meta());
        assert!(!String::from_utf8_lossy(&legacy).contains("\"detector\""), "an unnamed detector adds no field");
        assert_eq!(read_meta(&legacy).unwrap().detector(), LEGACY_DETECTOR);
        let named = WeightsMeta { detector: Some("facemesh-detection-short".into()), ..meta() };
        assert_eq!(read_meta(&to_bytes(&net, &named)).unwrap().detector(), "facemesh-detection-short");
    }

    /// Files name how their crop is cut; files from before the field read box crops, and a
    /// box file's header is written as it was.
    #[test]
    fn the_crop_is_recorded_and_older_files_mean_box_crops() {
        use facegate_face::{Alignment, CropSpec};
        let net = PadNet::shell(&Device::flex());
        let boxed = WeightsMeta { view: Some(1.5), ..meta() };
        let bytes = to_bytes(&net, &boxed);
        assert!(!String::from_utf8_lossy(&bytes[..200]).contains("crop"));
        assert_eq!(read_meta(&bytes).unwrap().crop_spec(), CropSpec::Box { size: PADNET_INPUT, view: 1.5, alignment: Alignment::None });
        let aligned = WeightsMeta { crop: CropKind::Aligned, ..boxed };
        let got = read_meta(&to_bytes(&net, &aligned)).unwrap();
        assert_eq!((got.crop, got.crop_spec()), (CropKind::Aligned, CropSpec::Aligned { size: PADNET_INPUT, view: 1.5 }));
    }

    #[test]
    fn a_new_header_keeps_every_tensor_byte_and_a_valid_checksum() {
        let net = PadNet::shell(&Device::flex());
        let old = to_bytes_as(&net, &meta(), Storage::Int8);
        let mut new_meta = WeightsMeta { detector: Some("facemesh-detection-short".into()), ..meta() };
        new_meta.thresholds.insert("liveness".into(), 0.5.into());
        let new = replace_meta(&old, &new_meta).unwrap();
        let (_, read) = load(PadNet::shell(&Device::flex()), &new, PADNET_ARCH).unwrap();
        assert_eq!(read, new_meta);
        assert_eq!(tensor_section(&new).unwrap(), tensor_section(&old).unwrap());
        assert_eq!(replace_meta(&old[..old.len() - 1], &new_meta).err(), Some(WeightsError::Truncated));
    }

    #[test]
    fn int8_files_are_smaller_load_close_and_are_checked_the_same() {
        let device = Device::flex();
        let net = PadNet::new(&device).valid();
        let crop: Vec<f32> = (0..PADNET_INPUT * PADNET_INPUT * 3).map(|i| (i % 251) as f32).collect();
        let out = |n: &PadNet| n.forward(padnet_input(&[&crop], &device)).into_data().try_to_vec::<f32>().unwrap()[0];
        let (f16, int8) = (to_bytes(&net, &meta()), to_bytes_as(&net, &meta(), Storage::Int8));
        assert_eq!(u16::from_le_bytes([f16[4], f16[5]]), 1, "f16 files keep version 1");
        assert_eq!(u16::from_le_bytes([int8[4], int8[5]]), 2);
        assert!(int8.len() * 10 < f16.len() * 6, "int8 {} vs f16 {} bytes", int8.len(), f16.len());
        let (a, b) = (out(&load(PadNet::new(&device), &f16, PADNET_ARCH).unwrap().0), out(&load(PadNet::new(&device), &int8, PADNET_ARCH).unwrap().0));
        assert!((a - b).abs() < 0.05 * a.abs().max(1.0), "f16 {a} vs int8 {b}");
        assert_eq!(load(PadNet::new(&device), &int8[..int8.len() - 9], PADNET_ARCH).err(), Some(WeightsError::Truncated));
        let mut tampered = int8.clone();
        tampered[int8.len() / 2] ^= 0x01;
        assert_eq!(load(PadNet::new(&device), &tampered, PADNET_ARCH).err(), Some(WeightsError::Checksum));
    }
}
