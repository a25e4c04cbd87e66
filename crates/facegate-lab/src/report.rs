//! `facegate report`: what the student saves over its two teachers, in bytes, parameters and
//! multiply-accumulates per face.

use crate::own_model::{Loaded, OwnModel, open_minifas};
use burn::module::Module;
use facegate_nets::padnet::mobilenet_v1_macs;
use facegate_nets::student::student_macs;
use facegate_nets::{PADNET_INPUT, STUDENT_INPUT};
use facegate_teachers::{OnnxTeacher, TEACHERS, teachers_dir};
use facegate_tfjs::GraphModel;
use serde_json::json;

/// One teacher's size and cost.
struct Cost {
    parameters: usize,
    macs: u64,
    input: usize,
}

impl Cost {
    fn of_onnx(t: &OnnxTeacher) -> Self {
        Self { parameters: t.model().parameter_count(), macs: t.model().macs(), input: t.crop_spec().size() }
    }

    fn json(&self, file: &str) -> serde_json::Value {
        json!({ "file": file, "parameters": self.parameters, "float32_bytes": 4 * self.parameters, "input": self.input, "mflops_per_face": 2.0 * self.macs as f64 / 1e6 })
    }
}

/// A recognition teacher: an ONNX one (`sface`) or a TF.js one by name.
fn fr_cost(name: &str) -> Result<Cost, Box<dyn std::error::Error>> {
    if OnnxTeacher::kind_of(name).is_some() {
        return Ok(Cost::of_onnx(&OnnxTeacher::load(name)?));
    }
    let spec = TEACHERS.iter().find(|t| t.name == name).ok_or_else(|| format!("unknown teacher `{name}`"))?;
    let graph = GraphModel::load(&teachers_dir()?.join(format!("{name}.json")), &burn::tensor::Device::flex())?;
    Ok(Cost { parameters: graph.parameter_count(), macs: mobilenet_v1_macs(spec.input), input: spec.input })
}

/// An anti-spoofing teacher: `minifas`, a fine-tuned MiniFAS file, or a PadNet file.
fn pad_cost(name: &str) -> Result<Cost, Box<dyn std::error::Error>> {
    if name == "minifas" {
        return Ok(Cost::of_onnx(&OnnxTeacher::load(name)?));
    }
    if let Some((t, _)) = open_minifas(name)? {
        return Ok(Cost::of_onnx(&t));
    }
    match Loaded::open(name)?.model {
        OwnModel::Pad(net) => Ok(Cost { parameters: net.num_params(), macs: mobilenet_v1_macs(PADNET_INPUT), input: PADNET_INPUT }),
        OwnModel::Student(_) => Err(format!("{name} is a student, not an anti-spoofing teacher").into()),
    }
}

pub fn run(student: &str, pad_teacher: &str, fr_teacher: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let (fr, pad) = (fr_cost(fr_teacher)?, pad_cost(pad_teacher)?);
    let st = Loaded::open(student)?;
    let st_params = match &st.model {
        OwnModel::Student(net) => net.num_params(),
        OwnModel::Pad(_) => return Err(format!("{student} is not a student").into()),
    };
    let st_bytes = std::fs::metadata(student).map_err(|e| format!("{student}: {e}"))?.len() as usize;
    let teachers_f32 = 4 * (fr.parameters + pad.parameters);
    let st_macs = student_macs();
    Ok(json!({
        "teachers": { "recognition": fr.json(fr_teacher), "anti-spoofing": pad.json(pad_teacher) },
        "student": { "file": student, "file_bytes": st_bytes, "parameters": st_params, "input": STUDENT_INPUT, "mflops_per_face": 2.0 * st_macs as f64 / 1e6 },
        "student_bytes_vs_teachers_float32": st_bytes as f64 / teachers_f32 as f64,
        "student_flops_vs_teachers": st_macs as f64 / (fr.macs + pad.macs) as f64,
        "student_thresholds": st.meta.thresholds,
        "student_metrics": st.meta.metrics,
    }))
}
