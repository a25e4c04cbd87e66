//! facegate's weight file on burn: a module's tensors into the file ([`to_bytes`]) and back
//! ([`load`]). The file itself (layout, header, checks) is `facegate-format`'s, re-exported here.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

pub use facegate_format::{
    CropKind, FORMAT_VERSION, LEGACY_DETECTOR, MAGIC, Storage, StoredThresholds, Tensors, WeightsError, WeightsMeta, crc32, decode, file_id, legacy_detector,
    read_meta, read_tensors, replace_meta, tensor_section,
};

struct Collect {
    path: Vec<String>,
    tensors: Tensors,
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
    facegate_format::encode(meta, &c.tensors, storage)
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
    let (_, tensors) = decode(bytes)?;
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

    /// Files name how their crop is cut; files from before the field read box crops, and a
    /// box file's header is written as it was.
    #[test]
    fn the_crop_is_recorded_and_older_files_mean_box_crops() {
        use facegate_face::{Alignment, CropSpec};
        let net = PadNet::shell(&Device::flex());
        let boxed = WeightsMeta { view: Some(1.5), ..meta() };
        let bytes = to_bytes(&net, &boxed);
        assert!(!String::from_utf8_lossy(&bytes[..200]).contains("crop"));
        assert_eq!(CropSpec::of(&read_meta(&bytes).unwrap()), CropSpec::Box { size: PADNET_INPUT, view: 1.5, alignment: Alignment::None });
        let aligned = WeightsMeta { crop: CropKind::Aligned, ..boxed };
        let got = read_meta(&to_bytes(&net, &aligned)).unwrap();
        assert_eq!((got.crop, CropSpec::of(&got)), (CropKind::Aligned, CropSpec::Aligned { size: PADNET_INPUT, view: 1.5 }));
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
