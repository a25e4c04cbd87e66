//! The engine's contract on bad input: a typed error with a stable code, and an engine that
//! keeps working afterwards. These tests use an untrained student (behaviour, not accuracy);
//! the committed student's accuracy is measured by `facegate eval`.

use burn::tensor::Device;
use facegate_engine::{Engine, EngineError, RgbImage, Template, Thresholds, frame_from_rgba};
use facegate_nets::weights::{StoredThresholds, WeightsMeta, to_bytes};
use facegate_nets::{STUDENT_ARCH, STUDENT_INPUT, STUDENT_VIEW, Student};
use facegate_teachers::teachers_dir;
use std::path::PathBuf;

fn student_bytes(seed_threshold: f32) -> Vec<u8> {
    let mut meta =
        WeightsMeta { arch: STUDENT_ARCH.into(), input: STUDENT_INPUT, normalisation: "rgb/127.5-1".into(), view: Some(STUDENT_VIEW), ..Default::default() };
    meta.thresholds = StoredThresholds { liveness: Some(seed_threshold as f64), matching: Some(0.5) };
    to_bytes(&Student::new(&Device::flex()), &meta)
}

/// Both face detectors a student can be trained with (its file names which one).
const DETECTORS: [&str; 2] = ["blazeface", "facemesh-detection-short"];

fn engine_with(detector: &str, student: &[u8]) -> Engine {
    let dir = teachers_dir().unwrap();
    let json = std::fs::read(dir.join(format!("{detector}.json"))).unwrap();
    let bin = std::fs::read(dir.join(format!("{detector}.bin"))).unwrap();
    Engine::from_bytes(&json, &bin, student).unwrap()
}

fn engine(student: &[u8]) -> Engine {
    engine_with(DETECTORS[0], student)
}

fn data() -> PathBuf {
    std::env::var_os("FACEGATE_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn jpeg(path: PathBuf) -> RgbImage {
    let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    RgbImage::from_rgb(img.width() as usize, img.height() as usize, img.into_raw()).unwrap()
}

/// Two people side by side at the distance of a login, one 4:3 frame: the middle half of
/// each person's frame (where the face is), full size.
fn two_faces() -> RgbImage {
    let a = jpeg(data().join("nuaa-sequences/live/000.jpg"));
    let b = jpeg(data().join("nuaa-sequences/other-live/000.jpg"));
    let (w, h) = (a.width() / 2, a.height());
    let mut out = vec![0u8; 2 * w * h * 3];
    for (k, img) in [a, b].iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    out[(y * 2 * w + x + k * w) * 3 + c] = img.at(x + w / 2, y, c);
                }
            }
        }
    }
    RgbImage::from_rgb(2 * w, h, out).unwrap()
}

#[test]
fn bad_frames_get_typed_errors_and_the_engine_keeps_working() {
    for detector in DETECTORS {
        eprintln!("{detector}");
        bad_frames_with(&engine_with(detector, &student_bytes(0.5)), detector == "blazeface");
    }
}

/// `sees_far`: the detector finds faces far behind the user (BlazeFace's full range; the
/// short-range one is made for faces within arm's length and does not report them).
fn bad_frames_with(e: &Engine, sees_far: bool) {
    let code = |r: Result<RgbImage, EngineError>| r.unwrap_err().code();
    assert_eq!(code(frame_from_rgba(4, 4, &[0; 10])), "BAD_BUFFER_SIZE");
    assert_eq!(code(frame_from_rgba(0, 0, &[])), "EMPTY_IMAGE");
    assert_eq!(code(frame_from_rgba(100_000, 100_000, &[])), "IMAGE_TOO_LARGE");

    let grey = frame_from_rgba(64, 48, &[128; 64 * 48 * 4]).unwrap();
    assert!(e.analyze(&grey).unwrap().iter().all(|f| f.detector_score < 0.5));
    let t = Template { model_id: e.model_id(), embedding: vec![0.0; 128] };
    assert_eq!(e.verify(&grey, &t).unwrap_err().code(), "NO_FACE");
    assert_eq!(e.verify(&two_faces(), &t).unwrap_err().code(), "SEVERAL_FACES");
    assert_eq!(e.enroll(&[]).unwrap_err().code(), "NO_FRAMES");
    let err = e.enroll(&[grey.clone(), grey.clone(), grey]).unwrap_err();
    assert_eq!(err.code(), "NOT_ENOUGH_FRAMES");
    assert!(err.to_string().contains("no_face: 3"), "{err}");

    // Degenerate but valid frames answer without a face rather than failing.
    for (w, h) in [(1, 1), (1, 4000), (4000, 1), (3, 2)] {
        let f = frame_from_rgba(w, h, &vec![200; w * h * 4]).unwrap();
        assert!(e.analyze(&f).unwrap().iter().all(|f| f.detector_score < 0.5), "{w}x{h}");
    }

    // Still answers after all of that.
    let live = jpeg(data().join("nuaa-sequences/live/000.jpg"));
    let faces = e.analyze(&live).unwrap();
    let people: Vec<_> = faces.iter().filter(|f| f.detector_score >= 0.5).collect();
    assert_eq!(people.len(), 1, "{faces:?}");
    assert!(people[0].liveness_score.is_some_and(|s| (0.0..=1.0).contains(&s)));
    assert!(!people[0].quality.several_faces);
    let two = e.analyze(&two_faces()).unwrap();
    assert!(two.iter().filter(|f| f.quality.several_faces).count() >= 2, "{two:?}");

    // Someone passing far behind the user is reported (or not seen) but does not block the decision.
    let busy = jpeg(data().join("nuaa-sequences/live/014.jpg"));
    let faces = e.analyze(&busy).unwrap();
    assert!(faces.iter().filter(|f| f.detector_score >= 0.5).count() >= if sees_far { 2 } else { 1 }, "{faces:?}");
    assert!(faces.iter().all(|f| !f.quality.several_faces && f.liveness_score.is_some() == (f.detector_score >= 0.5)));
    let t = Template { model_id: e.model_id(), embedding: vec![0.0; 128] };
    assert!(e.verify(&busy, &t).is_ok());
}

#[test]
fn templates_and_options_are_checked() {
    let mut e = engine(&student_bytes(0.5));
    let other = engine(&student_bytes(0.25));
    assert_ne!(e.model_id(), other.model_id());
    let live = jpeg(data().join("nuaa-sequences/live/000.jpg"));
    let t = Template { model_id: other.model_id(), embedding: vec![0.0; 128] };
    assert_eq!(e.verify(&live, &t).unwrap_err().code(), "FOREIGN_TEMPLATE");
    assert_eq!(e.template(&t.to_bytes()).unwrap_err().code(), "FOREIGN_TEMPLATE");
    assert_eq!(e.template(b"not a template at all").unwrap_err().code(), "CORRUPT_TEMPLATE");

    let before = e.thresholds();
    for bad in [
        Thresholds { liveness: f32::NAN, ..before },
        Thresholds { liveness: 1.5, ..before },
        Thresholds { matching: f32::INFINITY, ..before },
        Thresholds { min_enroll_frames: 0, ..before },
    ] {
        assert_eq!(e.set_thresholds(bad).unwrap_err().code(), "BAD_OPTION");
        assert_eq!(e.thresholds(), before, "a refused option leaves the old ones");
    }
    // Everything accepted: a template from the live frames verifies against itself.
    e.set_thresholds(Thresholds { liveness: 0.0, matching: 0.9, min_enroll_frames: 2 }).unwrap();
    let frames: Vec<RgbImage> = (0..2).map(|i| jpeg(data().join(format!("nuaa-sequences/live/{:03}.jpg", i * 10)))).collect();
    let template = e.enroll(&frames).unwrap();
    let back = e.template(&template.to_bytes()).unwrap();
    let v = e.verify(&frames[0], &back).unwrap();
    assert!(v.live && v.matched && v.reason == "ok", "{v:?}");
}

#[test]
fn a_broken_student_file_is_refused() {
    let dir = teachers_dir().unwrap();
    let json = std::fs::read(dir.join("blazeface.json")).unwrap();
    let bin = std::fs::read(dir.join("blazeface.bin")).unwrap();
    let good = student_bytes(0.5);
    for bad in [&good[..good.len() / 2], b"FGWT".as_slice(), &[]] {
        let err = Engine::from_bytes(&json, &bin, bad).err().expect("refused");
        assert_eq!(err.code(), "MODEL");
    }
    assert_eq!(Engine::from_bytes(b"{", &bin, &good).err().expect("refused").code(), "MODEL");
}

/// The WebGPU build's path: the networks' outputs come back in one buffer and the engine
/// turns them into the same faces, templates and decisions as when it runs them itself. The
/// buffer here is the CPU's own ([`Engine::reference_readback`], what the GPU program is
/// tested against in the browser), on the committed student: a live face, a print, two
/// people, no face.
#[test]
fn read_back_outputs_give_the_engines_own_answers() {
    let student = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/student.fgw")).unwrap();
    let e = engine_with("facemesh-detection-short", &student);
    let live = jpeg(data().join("nuaa-sequences/live/000.jpg"));
    let print = jpeg(data().join("nuaa-sequences/print/000.jpg"));
    let blank = RgbImage::from_rgb(64, 48, vec![128; 64 * 48 * 3]).unwrap();
    let read = |f: &RgbImage, mirror: bool| facegate_engine::Readback::parse(&e.reference_readback(f, mirror).unwrap()).unwrap();
    for frame in [&live, &print, &two_faces(), &blank] {
        assert_eq!(e.analyze_read(frame, &read(frame, false)).unwrap(), e.analyze(frame).unwrap());
    }
    assert!(!e.analyze(&live).unwrap().is_empty());
    let frames: Vec<RgbImage> = (0..3).map(|k| jpeg(data().join(format!("nuaa-sequences/live/{:03}.jpg", k * 5)))).collect();
    let template = e.enroll(&frames).unwrap();
    let reads: Vec<facegate_engine::Readback> = frames.iter().map(|f| read(f, true)).collect();
    assert_eq!(e.enroll_read(&frames, &reads).unwrap(), template);
    assert_eq!(e.enroll_read(&frames, &reads[..2]).unwrap_err().code(), "MODEL");
    for frame in [&live, &print] {
        assert_eq!(e.verify_read(frame, &template, &read(frame, true)).unwrap(), e.verify(frame, &template).unwrap());
    }
    let two = two_faces();
    assert_eq!(e.verify_read(&two, &template, &read(&two, true)).unwrap_err(), e.verify(&two, &template).unwrap_err());
    // Without the mirror pass the target's embedding is recomputed here: same answer.
    assert_eq!(e.verify_read(&live, &template, &read(&live, false)).unwrap(), e.verify(&live, &template).unwrap());
    // Rows naming anchors the detector does not have are refused, not decoded.
    let mut bad = e.reference_readback(&live, false).unwrap();
    bad[facegate_engine::readback::at::ROWS] = 60000.0;
    assert_eq!(e.analyze_read(&live, &facegate_engine::Readback::parse(&bad).unwrap()).unwrap_err().code(), "MODEL");
}
