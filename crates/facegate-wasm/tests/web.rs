//! In headless Chromium: the embedded student answers like the native build, and every bad
//! input is a FaceGateError with a stable code, after which the instance still works.

#![cfg(target_arch = "wasm32")]

use facegate_wasm::Core;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsValue;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

static CROPS: &[u8] = include_bytes!("fixtures/parity.bin");
static REFERENCE: &str = include_str!("fixtures/parity.json");

fn code(err: JsValue) -> String {
    let name = Reflect::get(&err, &"name".into()).unwrap().as_string().unwrap_or_default();
    assert_eq!(name, "FaceGateError", "not a FaceGateError: {err:?}");
    Reflect::get(&err, &"code".into()).unwrap().as_string().unwrap_or_default()
}

fn frame(data: &[u8], width: f64, height: f64) -> JsValue {
    let o = Object::new();
    Reflect::set(&o, &"data".into(), &Uint8Array::from(data).into()).unwrap();
    Reflect::set(&o, &"width".into(), &width.into()).unwrap();
    Reflect::set(&o, &"height".into(), &height.into()).unwrap();
    o.into()
}

#[wasm_bindgen_test]
fn embedded_student_matches_the_native_build() {
    let core = Core::new().unwrap();
    let reference: serde_json::Value = serde_json::from_str(REFERENCE).unwrap();
    let worst = facegate_wasm::parity::worst_difference(core.engine(), CROPS, &reference).unwrap();
    assert!(worst < 1e-3, "browser outputs differ from native by {worst}");
}

#[wasm_bindgen_test]
fn bad_input_is_a_typed_error_and_the_instance_survives() {
    let mut core = Core::new().unwrap();
    assert_eq!(code(core.analyze(&[0; 10], 4, 4, None).unwrap_err()), "BAD_BUFFER_SIZE");
    assert_eq!(code(core.analyze(&[], 0, 0, None).unwrap_err()), "EMPTY_IMAGE");
    assert_eq!(code(core.analyze(&[], 100_000, 100_000, None).unwrap_err()), "IMAGE_TOO_LARGE");
    let grey = vec![128u8; 64 * 48 * 4];
    assert_eq!(code(core.verify(&grey, 64, 48, b"garbage", None).unwrap_err()), "CORRUPT_TEMPLATE");
    assert_eq!(code(core.enroll(Array::new()).unwrap_err()), "NO_FRAMES");
    let frames = Array::of1(&frame(&grey, 64.0, 48.0));
    assert_eq!(code(core.enroll(frames).unwrap_err()), "NOT_ENOUGH_FRAMES");
    assert_eq!(code(core.enroll(Array::of1(&Object::new().into())).unwrap_err()), "BAD_ARGUMENT");
    assert_eq!(code(core.enroll(Array::of1(&frame(&grey, f64::NAN, 48.0))).unwrap_err()), "BAD_ARGUMENT");
    assert_eq!(code(core.enroll(Array::of1(&frame(&grey[..100], 64.0, 48.0))).unwrap_err()), "BAD_BUFFER_SIZE");
    let before = core.thresholds().unwrap();
    let nan = Object::new();
    Reflect::set(&nan, &"liveness".into(), &f64::NAN.into()).unwrap();
    assert_eq!(code(core.set_thresholds(nan.into()).unwrap_err()), "BAD_OPTION");
    assert_eq!(code(core.set_thresholds(JsValue::from_str("strict")).unwrap_err()), "BAD_OPTION");
    assert_eq!(js_sys::JSON::stringify(&core.thresholds().unwrap()).unwrap(), js_sys::JSON::stringify(&before).unwrap());
    assert_eq!(code(core.decide(&[], &[]).unwrap_err()), "NO_FRAMES");
    assert_eq!(code(core.decide(&[0.9], &[0.8, 0.7]).unwrap_err()), "BAD_ARGUMENT");
    assert_eq!(code(core.decide(&[0.9, f32::NAN], &[0.8, 0.7]).unwrap_err()), "BAD_ARGUMENT");
    // A WebGPU readback that is truncated, corrupt or missing is refused, never decoded.
    let read = facegate_engine::readback::at::LEN;
    assert_eq!(code(core.analyze(&grey, 64, 48, Some(vec![0.0; read - 1])).unwrap_err()), "MODEL");
    let mut bad = vec![0.0f32; read];
    bad[facegate_engine::readback::at::KEPT] = 1.5;
    assert_eq!(code(core.analyze(&grey, 64, 48, Some(bad.clone())).unwrap_err()), "MODEL");
    bad[facegate_engine::readback::at::KEPT] = 1.0;
    bad[facegate_engine::readback::at::ROWS] = 1e6;
    assert_eq!(code(core.analyze(&grey, 64, 48, Some(bad.clone())).unwrap_err()), "MODEL");
    assert_eq!(code(core.analyze(&grey[..10], 64, 48, Some(vec![0.0; read])).unwrap_err()), "BAD_BUFFER_SIZE");
    let with_read = frame(&grey, 64.0, 48.0);
    Reflect::set(&with_read, &"read".into(), &JsValue::from_str("not floats")).unwrap();
    assert_eq!(code(core.enroll(Array::of1(&with_read)).unwrap_err()), "BAD_ARGUMENT");
    assert_eq!(code(core.verify(&grey, 64, 48, b"garbage", Some(vec![0.0; read])).unwrap_err()), "CORRUPT_TEMPLATE");
    // An empty readback (no face kept) is a frame without a face.
    let none: Array = core.analyze(&grey, 64, 48, Some(vec![0.0; read])).unwrap().into();
    assert_eq!(none.length(), 0);
    let sure = core.decide(&[1.0, 1.0], &[1.0, 1.0]).unwrap();
    assert_eq!(Reflect::get(&sure, &"reason".into()).unwrap().as_string().as_deref(), Some("ok"));
    // Still working: a grey frame has no face, and says so without an error.
    let faces: Array = core.analyze(&grey, 64, 48, None).unwrap().into();
    assert!(faces.iter().all(|f| Reflect::get(&f, &"detectorScore".into()).unwrap().as_f64().unwrap() < 0.5));
    assert!(Reflect::get(&core.info().unwrap(), &"modelId".into()).unwrap().is_string());
    assert_eq!(Reflect::get(&core.info().unwrap(), &"detector".into()).unwrap().as_string().as_deref(), Some(env!("FACEGATE_DETECTOR_NAME")));
}
