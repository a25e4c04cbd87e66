//! facegate in the browser: the engine of `facegate-engine` with the detector and the student
//! compiled in, exported to JavaScript through wasm-bindgen. The npm package's JavaScript
//! (pkg-templates/) wraps this `Core` with frame conversion, template encryption and a worker.
//!
//! Every export validates its input and returns a `FaceGateError` (with a stable `code`)
//! instead of panicking: a Rust panic in wasm is an `unreachable` trap that kills the instance.

use facegate_engine::{Engine, EngineError, Readback, RgbImage, Thresholds, frame_from_rgba};
use js_sys::{Array, Float32Array, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;

pub mod parity;

#[cfg(test)]
mod tests {
    #[test]
    fn interleave_undoes_the_byte_planes() {
        for n in [0usize, 1, 2, 7, 10] {
            let bytes: Vec<u8> = (0..n as u8).collect();
            let planes: Vec<u8> = bytes.iter().step_by(2).chain(bytes.iter().skip(1).step_by(2)).copied().collect();
            assert_eq!(super::interleave(&planes), bytes, "{n} bytes");
        }
    }
}

static DETECTOR_JSON: &[u8] = include_bytes!(env!("FACEGATE_DETECTOR_JSON"));
/// The detector's weight shard as byte planes (build.rs `byte_planes`): see [`interleave`].
static DETECTOR_PLANES: &[u8] = include_bytes!(env!("FACEGATE_DETECTOR_PLANES"));
static STUDENT: &[u8] = include_bytes!(env!("FACEGATE_STUDENT_FILE"));

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// The bytes build.rs split into planes (all even-indexed bytes, then all odd ones), in
/// their order again.
pub fn interleave(planes: &[u8]) -> Vec<u8> {
    let (even, odd) = planes.split_at(planes.len().div_ceil(2));
    let mut out = Vec::with_capacity(planes.len());
    for (i, &b) in even.iter().enumerate() {
        out.push(b);
        if let Some(&o) = odd.get(i) {
            out.push(o);
        }
    }
    out
}

/// A JS `Error` named FaceGateError with the error's stable `code`.
pub fn js_error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    err.set_name("FaceGateError");
    let _ = Reflect::set(&err, &"code".into(), &code.into());
    err.into()
}

fn engine_error(e: EngineError) -> JsValue {
    js_error(e.code(), &e.to_string())
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| js_error("INTERNAL", &e.to_string()))
}

fn dim(v: u32, what: &str) -> Result<usize, JsValue> {
    usize::try_from(v).map_err(|_| js_error("BAD_ARGUMENT", &format!("{what} {v} is out of range")))
}

/// An RGBA buffer and its size, checked, as a frame.
pub fn frame(rgba: &[u8], width: u32, height: u32) -> Result<RgbImage, JsValue> {
    frame_from_rgba(dim(width, "width")?, dim(height, "height")?, rgba).map_err(engine_error)
}

/// `{data, width, height}` (ImageData or a plain object) as a frame.
fn frame_of(obj: &JsValue) -> Result<RgbImage, JsValue> {
    let get = |k: &str| Reflect::get(obj, &k.into()).map_err(|_| js_error("BAD_ARGUMENT", &format!("frame has no `{k}`")));
    let num = |k: &str| -> Result<usize, JsValue> {
        let v = get(k)?.as_f64().ok_or_else(|| js_error("BAD_ARGUMENT", &format!("frame `{k}` is not a number")))?;
        if !v.is_finite() || v < 0.0 || v.fract() != 0.0 || v > u32::MAX as f64 {
            return Err(js_error("BAD_ARGUMENT", &format!("frame `{k}` is {v}, not a pixel count")));
        }
        Ok(v as usize)
    };
    let (width, height) = (num("width")?, num("height")?);
    let data = get("data")?;
    if !(data.is_instance_of::<Uint8Array>() || data.is_instance_of::<js_sys::Uint8ClampedArray>()) {
        return Err(js_error("BAD_ARGUMENT", "frame `data` must be a Uint8Array or Uint8ClampedArray of RGBA bytes"));
    }
    let bytes = Uint8Array::new(&data).to_vec();
    frame_from_rgba(width, height, &bytes).map_err(engine_error)
}

/// A frame object's `read`, the WebGPU backend's readback for it, if it has one.
fn readback_of(obj: &JsValue) -> Result<Option<Readback>, JsValue> {
    let read = Reflect::get(obj, &"read".into()).map_err(|_| js_error("BAD_ARGUMENT", "frame has no `read`"))?;
    if read.is_undefined() || read.is_null() {
        return Ok(None);
    }
    if !read.is_instance_of::<Float32Array>() {
        return Err(js_error("BAD_ARGUMENT", "frame `read` must be a Float32Array"));
    }
    Readback::parse(&Float32Array::new(&read).to_vec()).map(Some).map_err(engine_error)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Info {
    arch: String,
    model_id: String,
    input: usize,
    thresholds: Thresholds,
    metrics: serde_json::Map<String, serde_json::Value>,
    simd: bool,
    /// The embedded face detector (human-models name): the one the student was measured with.
    detector: &'static str,
    wasm_bytes_embedded: usize,
}

#[wasm_bindgen]
pub struct Core {
    engine: Engine,
}

/// Rust-side access (tests, benchmarks); not exported to JavaScript.
impl Core {
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

#[wasm_bindgen]
impl Core {
    /// Builds the engine from the embedded models.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Result<Core, JsValue> {
        Ok(Core { engine: Engine::from_bytes(DETECTOR_JSON, &interleave(DETECTOR_PLANES), STUDENT).map_err(engine_error)? })
    }

    /// Model identity, operating points and the metrics the student reached.
    pub fn info(&self) -> Result<JsValue, JsValue> {
        let meta = self.engine.meta();
        to_js(&Info {
            arch: meta.arch.clone(),
            model_id: format!("{:08x}", self.engine.model_id()),
            input: meta.input,
            thresholds: self.engine.thresholds(),
            metrics: meta.metrics.clone(),
            simd: cfg!(target_feature = "simd128"),
            detector: env!("FACEGATE_DETECTOR_NAME"),
            wasm_bytes_embedded: DETECTOR_JSON.len() + DETECTOR_PLANES.len() + STUDENT.len(),
        })
    }

    /// Faces in an RGBA frame: box, keypoints, liveness, quality hints.
    /// Faces in an RGBA frame: box, keypoints, liveness, quality hints. `read`: the networks'
    /// outputs the WebGPU backend read back for this frame (facegate-engine `readback`
    /// layout), else the engine runs them.
    pub fn analyze(&self, rgba: &[u8], width: u32, height: u32, read: Option<Vec<f32>>) -> Result<JsValue, JsValue> {
        let frame = frame(rgba, width, height)?;
        let faces = match read {
            Some(read) => self.engine.analyze_read(&frame, &Readback::parse(&read).map_err(engine_error)?),
            None => self.engine.analyze(&frame),
        };
        to_js(&faces.map_err(engine_error)?)
    }

    /// Template bytes (unencrypted; the JavaScript layer encrypts them) from an array of
    /// `{data, width, height}` frames, each with its readback in `read` (a Float32Array) when
    /// the WebGPU backend ran it.
    pub fn enroll(&self, frames: Array) -> Result<Vec<u8>, JsValue> {
        let (mut images, mut reads) = (Vec::new(), Vec::new());
        for f in frames.iter() {
            images.push(frame_of(&f)?);
            reads.extend(readback_of(&f)?);
        }
        // Every frame's readback, or the engine runs them all.
        let template = if reads.len() == images.len() { self.engine.enroll_read(&images, &reads) } else { self.engine.enroll(&images) };
        Ok(template.map_err(engine_error)?.to_bytes())
    }

    /// `{live, match, similarity, livenessScore, reason, quality}` for the one face in the frame;
    /// `read` as for [`analyze`](Self::analyze).
    pub fn verify(&self, rgba: &[u8], width: u32, height: u32, template: &[u8], read: Option<Vec<f32>>) -> Result<JsValue, JsValue> {
        let template = self.engine.template(template).map_err(engine_error)?;
        let frame = frame(rgba, width, height)?;
        let verification = match read {
            Some(read) => self.engine.verify_read(&frame, &template, &Readback::parse(&read).map_err(engine_error)?),
            None => self.engine.verify(&frame, &template),
        };
        to_js(&verification.map_err(engine_error)?)
    }

    /// The log-in decision on several verifications of one person (their P(live) and
    /// similarity, index for index), by the engine's rule: `{accept, reason, live, matched,
    /// liveness, similarity, frames}` with the mean scores.
    pub fn decide(&self, liveness: &[f32], similarity: &[f32]) -> Result<JsValue, JsValue> {
        if liveness.len() != similarity.len() {
            return Err(js_error("BAD_ARGUMENT", &format!("{} liveness scores and {} similarities", liveness.len(), similarity.len())));
        }
        let frames: Vec<(f32, f32)> = liveness.iter().copied().zip(similarity.iter().copied()).collect();
        to_js(&self.engine.thresholds().decide(&frames).map_err(engine_error)?)
    }

    pub fn thresholds(&self) -> Result<JsValue, JsValue> {
        to_js(&self.engine.thresholds())
    }

    /// Overrides operating points: `{liveness?, matching?, minEnrollFrames?}`. Invalid values
    /// are refused and the previous ones kept.
    #[wasm_bindgen(js_name = setThresholds)]
    pub fn set_thresholds(&mut self, options: JsValue) -> Result<JsValue, JsValue> {
        let mut t = self.engine.thresholds();
        let field = |k: &str| -> Result<Option<f64>, JsValue> {
            let v = Reflect::get(&options, &k.into()).map_err(|_| js_error("BAD_OPTION", "options must be an object"))?;
            if v.is_undefined() {
                return Ok(None);
            }
            v.as_f64().map(Some).ok_or_else(|| js_error("BAD_OPTION", &format!("option `{k}` must be a number")))
        };
        if !options.is_object() {
            return Err(js_error("BAD_OPTION", "options must be an object"));
        }
        if let Some(v) = field("liveness")? {
            t.liveness = v as f32;
        }
        if let Some(v) = field("matching")? {
            t.matching = v as f32;
        }
        if let Some(v) = field("minEnrollFrames")? {
            if !(v.is_finite() && v.fract() == 0.0 && (0.0..=1e6).contains(&v)) {
                return Err(engine_error(EngineError::BadOption { name: "minEnrollFrames", value: v, range: "1..=64" }));
            }
            t.min_enroll_frames = v as usize;
        }
        self.engine.set_thresholds(t).map_err(engine_error)?;
        self.thresholds()
    }
}
