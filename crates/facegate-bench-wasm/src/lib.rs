//! The bench page's "student vs teachers" row: the student that `facegate-wasm` embeds, and the
//! two teachers it was distilled from (the `faceres` descriptor, HSE recipe, and our
//! anti-spoofing teacher), compiled with the same flags and timed in the same page. The
//! teachers' files are fetched by the page, so none of their weights is in any shipped build.

use burn::module::Module;
use burn::tensor::Device;
use burn::tensor::activation::sigmoid;
use facegate_face::{RgbImage, crop_and_resize};
use facegate_nets::weights::load;
use facegate_nets::{PADNET_ARCH, PADNET_INPUT, PADNET_VIEW, PadNet, STUDENT_INPUT, STUDENT_VIEW, padnet_input};
use facegate_teachers::{CROP, Recipe, Teacher};
use facegate_wasm::{Core, js_error};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct TeacherBench {
    core: Core,
    fr: Teacher,
    pad: PadNet,
    device: Device,
    /// The student's (and the anti-spoofing teacher's) crop: 1.5 face-box sides.
    crop: Vec<f32>,
    /// The recognition teacher's crop: the face box, at the teachers' crop size.
    face: Vec<f32>,
}

fn err(e: impl std::fmt::Display) -> JsValue {
    js_error("BENCH", &e.to_string())
}

#[wasm_bindgen]
impl TeacherBench {
    #[wasm_bindgen(constructor)]
    pub fn new(faceres_json: &[u8], faceres_bin: &[u8], pad_teacher: &[u8]) -> Result<TeacherBench, JsValue> {
        // The two networks share one crop, so one crop feeds both without a second resampling.
        assert_eq!((PADNET_INPUT, PADNET_VIEW), (STUDENT_INPUT, STUDENT_VIEW));
        let device = Device::flex();
        let fr = Teacher::from_bytes("faceres", Recipe::Hse, faceres_json, &[faceres_bin], &device).map_err(err)?;
        let pad = load(PadNet::shell(&device), pad_teacher, PADNET_ARCH).map_err(err)?.0.valid();
        Ok(TeacherBench { core: Core::new()?, fr, pad, device, crop: Vec::new(), face: Vec::new() })
    }

    /// Untimed: the crops of the one face in an RGBA frame.
    pub fn prepare(&mut self, rgba: &[u8], width: u32, height: u32) -> Result<(), JsValue> {
        let frame = facegate_wasm::frame(rgba, width, height)?;
        let crop = self.core.engine().face_crop(&frame).map_err(err)?;
        let bytes: Vec<u8> = crop.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect();
        let img = RgbImage::from_rgb(STUDENT_INPUT, STUDENT_INPUT, bytes).map_err(err)?;
        let (lo, hi) = ((0.5 - 0.5 / STUDENT_VIEW) as f32, (0.5 + 0.5 / STUDENT_VIEW) as f32);
        self.face = crop_and_resize(&img, lo, lo, hi, hi, CROP, CROP);
        self.crop = crop;
        Ok(())
    }

    /// The student on its crop: embedding and P(live). Returns P(live).
    pub fn student(&self) -> f32 {
        self.core.engine().student_outputs(std::slice::from_ref(&self.crop)).1[0]
    }

    /// Both teachers on their crops: the 1,024-d descriptor and P(live). Returns P(live).
    pub fn teachers(&self) -> Result<f32, JsValue> {
        std::hint::black_box(self.fr.predict(&[&self.face]).map_err(err)?);
        let logit = self.pad.forward(padnet_input(&[&self.crop], &self.device));
        let live = sigmoid(logit).into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| err(format!("{e:?}")))?;
        Ok(live[0])
    }
}
