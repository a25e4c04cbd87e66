//! The bench page's "student vs teachers" row: the student that `facegate-wasm` embeds, and the
//! two teachers it is distilled from (SFace for recognition, MiniFAS for liveness: the graph the
//! fine-tuned teacher shares, so the same cost), on facegate's own kernels, compiled with the same
//! flags and timed in the same page. The teachers' files are fetched by the page, so none of
//! their weights is in any shipped build.

use facegate_runtime::onnx::OnnxModel;
use facegate_teachers::{OnnxKind, OnnxTeacher};
use facegate_wasm::{Core, js_error};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct TeacherBench {
    core: Core,
    sface: OnnxTeacher,
    minifas: OnnxTeacher,
    /// Each network's own crop of the one face in the frame.
    student_crop: Vec<f32>,
    sface_crop: Vec<f32>,
    minifas_crop: Vec<f32>,
}

fn err(e: impl std::fmt::Display) -> JsValue {
    js_error("BENCH", &e.to_string())
}

#[wasm_bindgen]
impl TeacherBench {
    /// The two teachers' ONNX files, as bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(sface_onnx: &[u8], minifas_onnx: &[u8]) -> Result<TeacherBench, JsValue> {
        let teacher = |kind, bytes: &[u8], name| OnnxTeacher::from_model(kind, OnnxModel::from_bytes(bytes, name).map_err(err)?).map_err(err);
        Ok(TeacherBench {
            core: Core::new()?,
            sface: teacher(OnnxKind::Sface, sface_onnx, "sface")?,
            minifas: teacher(OnnxKind::Minifas, minifas_onnx, "minifas")?,
            student_crop: Vec::new(),
            sface_crop: Vec::new(),
            minifas_crop: Vec::new(),
        })
    }

    /// Untimed: each network's crop of the one face in an RGBA frame.
    pub fn prepare(&mut self, rgba: &[u8], width: u32, height: u32) -> Result<(), JsValue> {
        let frame = facegate_wasm::frame(rgba, width, height)?;
        let engine = self.core.engine();
        let face = engine.face(&frame).map_err(err)?;
        let cut = |spec: facegate_face::CropSpec| spec.cut_or_box(&frame, &face);
        self.student_crop = engine.crop(&frame, &face);
        self.sface_crop = cut(self.sface.crop_spec());
        self.minifas_crop = cut(self.minifas.crop_spec());
        Ok(())
    }

    /// The student on its crop, as `verify` runs it (the crop and its mirror): embedding and
    /// P(live). Returns P(live).
    pub fn student(&self) -> f32 {
        self.core.engine().student_outputs(std::slice::from_ref(&self.student_crop)).1[0]
    }

    /// Both teachers on their crops: SFace's descriptor and MiniFAS's P(live). Returns P(live).
    pub fn teachers(&self) -> Result<f32, JsValue> {
        std::hint::black_box(self.sface.forward(&self.sface_crop).map_err(err)?);
        self.minifas.live(&self.minifas_crop).map_err(err)
    }
}
