//! The bench's two rows compute what they claim, natively: the student row gives the engine's
//! P(live), the teachers row MiniFAS's (after SFace's descriptor), on a real camera frame.

#![cfg(not(target_arch = "wasm32"))]

use facegate_bench_wasm::TeacherBench;
use facegate_teachers::OnnxKind;
use facegate_teachers::onnx::onnx_path;
use std::path::PathBuf;

#[test]
fn student_and_teacher_rows_score_a_real_frame() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e} (run ./build.sh setup)", p.display()));
    let mut bench = TeacherBench::new(&read(onnx_path(OnnxKind::Sface).unwrap()), &read(onnx_path(OnnxKind::Minifas).unwrap())).unwrap();
    let data = std::env::var_os("FACEGATE_DATA").map(PathBuf::from).unwrap_or_else(|| root.join("../shared/data"));
    let img = image::open(data.join("nuaa-sequences/live/000.jpg")).unwrap().to_rgba8();
    let (w, h) = img.dimensions();
    bench.prepare(img.as_raw(), w, h).unwrap();
    let (student, teacher) = (bench.student(), bench.teachers().unwrap());
    assert!((0.0..=1.0).contains(&student) && (0.0..=1.0).contains(&teacher), "{student} {teacher}");
    // A live person in good light: both call it live by a margin.
    assert!(student > 0.5 && teacher > 0.5, "student {student}, teacher {teacher}");
}
