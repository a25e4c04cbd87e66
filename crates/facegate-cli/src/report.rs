//! `facegate report`: what the student saves over its two teachers, in bytes, parameters and
//! multiply-accumulates per face.

use crate::own_model::{Loaded, OwnModel};
use burn::module::Module;
use facegate_nets::padnet::mobilenet_v1_macs;
use facegate_nets::student::student_macs;
use facegate_nets::{PADNET_INPUT, STUDENT_INPUT};
use facegate_teachers::{TEACHERS, teachers_dir};
use facegate_tfjs::GraphModel;
use serde_json::json;

pub fn run(student: &str, pad_teacher: &str, fr_teacher: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let device = burn::tensor::Device::flex();
    let spec = TEACHERS.iter().find(|t| t.name == fr_teacher).ok_or_else(|| format!("unknown teacher `{fr_teacher}`"))?;
    let fr = GraphModel::load(&teachers_dir()?.join(format!("{fr_teacher}.json")), &device)?;
    let fr_params = fr.parameter_count();
    let fr_macs = mobilenet_v1_macs(spec.input);
    let pad = Loaded::open(pad_teacher)?;
    let pad_params = match &pad.model {
        OwnModel::Pad(net) => net.num_params(),
        OwnModel::Student(_) => return Err(format!("{pad_teacher} is a student, not the anti-spoofing teacher").into()),
    };
    let pad_macs = mobilenet_v1_macs(PADNET_INPUT);
    let st = Loaded::open(student)?;
    let st_params = match &st.model {
        OwnModel::Student(net) => net.num_params(),
        OwnModel::Pad(_) => return Err(format!("{student} is not a student").into()),
    };
    let st_bytes = std::fs::metadata(student).map_err(|e| format!("{student}: {e}"))?.len() as usize;
    let teachers_f32 = 4 * (fr_params + pad_params);
    let st_macs = student_macs();
    Ok(json!({
        "teachers": {
            fr_teacher: { "parameters": fr_params, "float32_bytes": 4 * fr_params, "input": spec.input, "mflops_per_face": 2.0 * fr_macs as f64 / 1e6 },
            "pad-teacher": { "file": pad_teacher, "parameters": pad_params, "float32_bytes": 4 * pad_params, "input": PADNET_INPUT, "mflops_per_face": 2.0 * pad_macs as f64 / 1e6 },
        },
        "student": { "file": student, "file_bytes": st_bytes, "parameters": st_params, "input": STUDENT_INPUT, "mflops_per_face": 2.0 * st_macs as f64 / 1e6 },
        "student_bytes_vs_teachers_float32": st_bytes as f64 / teachers_f32 as f64,
        "student_flops_vs_teachers": st_macs as f64 / (fr_macs + pad_macs) as f64,
        "student_thresholds": st.meta.thresholds,
        "student_metrics": st.meta.metrics,
    }))
}
