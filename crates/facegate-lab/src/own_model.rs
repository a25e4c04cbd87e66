//! facegate's own weight files (the anti-spoofing teacher, the student), opened by the
//! architecture their header names.

use burn::module::Module;
use burn::tensor::Device;
use facegate_nets::weights::{WeightsMeta, load, read_meta};
use facegate_nets::{PADNET_ARCH, PadNet, STUDENT_ARCH, Student};

pub enum OwnModel {
    Pad(Box<PadNet>),
    Student(Box<Student>),
}

pub struct Loaded {
    pub model: OwnModel,
    pub meta: WeightsMeta,
}

impl Loaded {
    pub fn open(path: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let meta = read_meta(&bytes).map_err(|e| format!("{path}: {e}"))?;
        let device = Device::flex();
        let model = match meta.arch.as_str() {
            PADNET_ARCH => OwnModel::Pad(Box::new(load(PadNet::new(&device), &bytes, PADNET_ARCH).map_err(|e| format!("{path}: {e}"))?.0.valid())),
            STUDENT_ARCH => OwnModel::Student(Box::new(load(Student::new(&device), &bytes, STUDENT_ARCH).map_err(|e| format!("{path}: {e}"))?.0.valid())),
            facegate_train::minifas::MINIFAS_FT_ARCH => return Err(format!("{path}: a fine-tuned MiniFAS, which `eval pad` opens (see `open_minifas`)").into()),
            other => return Err(format!("{path}: weights for `{other}`, which this build does not know ({PADNET_ARCH}, {STUDENT_ARCH})").into()),
        };
        Ok(Self { model, meta })
    }

    /// P(live) per crop.
    pub fn live(&self, crops: &[Vec<f32>]) -> Vec<f32> {
        match &self.model {
            OwnModel::Pad(net) => facegate_train::pad_teacher::predict(net, crops, &Device::flex()),
            OwnModel::Student(net) => facegate_train::distil::infer(net, crops).1,
        }
    }
}

/// A fine-tuned MiniFAS file (`export minifas`): the base MiniFAS graph with the file's weights,
/// as the `minifas` teacher (same crop, same scoring) on the kernels; `None` for other files.
pub fn open_minifas(path: &str) -> Result<Option<(facegate_teachers::OnnxTeacher, WeightsMeta)>, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if read_meta(&bytes).map_err(|e| format!("{path}: {e}"))?.arch != facegate_train::minifas::MINIFAS_FT_ARCH {
        return Ok(None);
    }
    let (model, meta) = facegate_train::minifas::open(&bytes, &facegate_train::minifas::base_graph()?).map_err(|e| format!("{path}: {e}"))?;
    Ok(Some((facegate_teachers::OnnxTeacher::from_model(facegate_teachers::OnnxKind::Minifas, model)?, meta)))
}
