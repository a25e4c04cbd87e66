//! The embedded detector stores BlazeFace's weights as float16 (build.rs); it must find the
//! same faces as the float32 graph the native tools and the training crops use.

#![cfg(not(target_arch = "wasm32"))]

use facegate_engine::{Engine, RgbImage};
use facegate_wasm::Core;

mod common;

fn frames() -> Vec<RgbImage> {
    common::sequence_frames(4)
        .into_iter()
        .map(|f| {
            let img = image::open(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())).to_rgb8();
            RgbImage::from_rgb(img.width() as usize, img.height() as usize, img.into_raw()).unwrap()
        })
        .collect()
}

/// A crop is what the student was measured on only when the same detector cut it.
#[test]
fn the_embedded_detector_is_the_one_the_student_names() {
    if option_env!("FACEGATE_DETECTOR").is_some() {
        return; // a build made to measure another detector, never shipped
    }
    let meta = facegate_format::read_meta(&std::fs::read(env!("FACEGATE_STUDENT_FILE")).unwrap()).unwrap();
    assert_eq!(env!("FACEGATE_DETECTOR_NAME"), meta.detector());
    let stem = std::path::Path::new(env!("FACEGATE_DETECTOR_F32_JSON")).file_stem().unwrap().to_str().unwrap().to_string();
    assert_eq!(stem, meta.detector());
}

#[test]
fn float16_detector_finds_the_float32_faces() {
    let core = Core::new().expect("embedded models load");
    let read = |p: &str| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let f32_engine =
        Engine::from_bytes(&read(env!("FACEGATE_DETECTOR_F32_JSON")), &read(env!("FACEGATE_DETECTOR_F32_BIN")), &read(env!("FACEGATE_STUDENT_FILE"))).unwrap();
    let (mut faces, mut worst_px, mut worst_score) = (0, 0f64, 0f32);
    for frame in frames() {
        let (a, b) = (core.engine().analyze(&frame).unwrap(), f32_engine.analyze(&frame).unwrap());
        assert_eq!(a.len(), b.len(), "face count differs");
        for (x, y) in a.iter().zip(&b) {
            faces += 1;
            let points = x.box_.iter().zip(&y.box_).chain(x.keypoints.iter().flatten().zip(y.keypoints.iter().flatten()));
            worst_px = points.map(|(p, q)| (p - q).abs()).fold(worst_px, f64::max);
            worst_score = worst_score.max((x.detector_score - y.detector_score).abs());
        }
    }
    eprintln!("{faces} faces: boxes and keypoints within {worst_px:.4} px, scores within {worst_score:.2e}");
    assert!(faces >= 30, "only {faces} faces compared");
    assert!(worst_px < 0.5, "float16 boxes or keypoints move by {worst_px} px");
    assert!(worst_score < 2e-3, "float16 detector scores differ by {worst_score}");
}
