//! facegate's own weight files (the anti-spoofing teacher, the student), opened by the
//! architecture their header names.

use burn::module::Module;
use burn::tensor::Device;
use facegate_nets::weights::{WeightsMeta, load, read_meta};
use facegate_nets::{PADNET_ARCH, PADNET_INPUT, PadNet, STUDENT_ARCH, STUDENT_INPUT, Student};

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
            other => return Err(format!("{path}: weights for `{other}`, which this build does not know ({PADNET_ARCH}, {STUDENT_ARCH})").into()),
        };
        Ok(Self { model, meta })
    }

    pub fn input(&self) -> usize {
        match self.model {
            OwnModel::Pad(_) => PADNET_INPUT,
            OwnModel::Student(_) => STUDENT_INPUT,
        }
    }

    /// P(live) per crop.
    pub fn live(&self, crops: &[Vec<f32>]) -> Vec<f32> {
        match &self.model {
            OwnModel::Pad(net) => facegate_train::pad_teacher::predict(net, crops, &Device::flex()),
            OwnModel::Student(net) => facegate_train::distil::infer(net, crops).1,
        }
    }
}
