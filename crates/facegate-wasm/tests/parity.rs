//! The embedded student gives the same answers in every build. `parity.bin` holds reference
//! crops, `parity.json` what the native build answers for them; this test checks the native
//! build against the file (and rewrites it with FACEGATE_WRITE_FIXTURES=1 after a new student
//! is exported), `web.rs` checks the browser build against the same file.

#![cfg(not(target_arch = "wasm32"))]

use facegate_runtime::student::STUDENT_INPUT;
use facegate_wasm::Core;
use std::path::PathBuf;

mod common;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn native_build_matches_the_reference_outputs() {
    let core = Core::new().expect("embedded models load");
    let engine = core.engine();
    if std::env::var_os("FACEGATE_WRITE_FIXTURES").is_some() {
        // Frames with exactly one person in view, a few per sequence.
        let mut crops = Vec::new();
        let mut per_sequence = std::collections::HashMap::new();
        for f in common::sequence_frames(6) {
            let n = per_sequence.entry(f.parent().unwrap().to_path_buf()).or_insert(0);
            if *n == 2 {
                continue;
            }
            let img = image::open(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display())).to_rgb8();
            let frame = facegate_engine::RgbImage::from_rgb(img.width() as usize, img.height() as usize, img.into_raw()).unwrap();
            if let Ok(crop) = engine.face_crop(&frame) {
                *n += 1;
                crops.extend(crop.into_iter().map(|v| v.round().clamp(0.0, 255.0) as u8));
            }
        }
        assert!(crops.len() >= 4 * STUDENT_INPUT * STUDENT_INPUT * 3, "too few single-face frames");
        std::fs::write(fixtures().join("parity.bin"), &crops).unwrap();
        let (emb, live) = engine.student_outputs(&facegate_wasm::parity::crops(&crops));
        let json = serde_json::json!({ "model_id": format!("{:08x}", engine.model_id()), "embeddings": emb, "liveness": live });
        std::fs::write(fixtures().join("parity.json"), serde_json::to_string(&json).unwrap() + "\n").unwrap();
    }
    let crops = std::fs::read(fixtures().join("parity.bin")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("parity.json")).unwrap()).unwrap();
    assert_eq!(crops.len() % (STUDENT_INPUT * STUDENT_INPUT * 3), 0);
    let worst = facegate_wasm::parity::worst_difference(engine, &crops, &reference).unwrap();
    assert!(worst < 1e-3, "native outputs differ from the reference by {worst}");
}
