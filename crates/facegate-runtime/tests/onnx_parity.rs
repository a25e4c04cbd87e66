//! Parity of the ONNX teachers on facegate-kernels with onnxruntime itself, and the loader's
//! errors for files it cannot run.
//!
//! Fixtures come from `tests/reference/make-onnx-fixtures.py` (onnxruntime CPU, graph
//! optimisations off). Per tensor, max |rust - ref| must be <= 1e-4 + 1e-5 * max |ref|, for the
//! final output and at least three intermediate tensors per model.

use facegate_fixtures::{Parity, f32s, mulberry32};
use facegate_runtime::onnx::{OnnxError, OnnxModel};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/onnx_fixtures")
}

/// A teacher's file; a missing one fails the test (never a silent skip).
fn require(path: PathBuf) -> PathBuf {
    assert!(path.exists(), "ONNX teacher {} not found: run ./build.sh setup (or set FACEGATE_SFACE / FACEGATE_DATA)", path.display());
    path
}

fn sface_path() -> PathBuf {
    require(std::env::var_os("FACEGATE_SFACE").map(PathBuf::from).unwrap_or_else(|| repo().join(".teachers/face_recognition_sface_2021dec_int8bq.onnx")))
}

fn minifas_path() -> PathBuf {
    let teachers = match std::env::var_os("FACEGATE_DATA") {
        Some(data) => PathBuf::from(data).join("../teachers"),
        None => repo().join("../shared/teachers"),
    };
    require(teachers.join("minifas/minifas_v2_se_98.20.onnx"))
}

fn usizes(v: &Json) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect()
}

/// The case's input, NCHW.
fn input_for(case: &Json, chw: [usize; 3], bin: &[u8]) -> Vec<f32> {
    let [c, h, w] = chw;
    let input = &case["input"];
    match input["kind"].as_str().unwrap() {
        "random" => {
            let (lo, hi) = (input["lo"].as_f64().unwrap(), input["hi"].as_f64().unwrap());
            let mut next = mulberry32(input["seed"].as_u64().unwrap() as u32);
            (0..c * h * w).map(|_| (lo + (hi - lo) * (next() as f64 / 4294967296.0)) as f32).collect()
        }
        "u8" => {
            let off = input["offset"].as_u64().unwrap() as usize;
            let (scale, bias) = (input["scale"].as_f64().unwrap() as f32, input["bias"].as_f64().unwrap() as f32);
            let hwc = &bin[off..off + c * h * w];
            let mut x = vec![0f32; c * h * w];
            for (i, &v) in hwc.iter().enumerate() {
                let (p, ch) = (i / c, i % c);
                x[ch * h * w + p] = v as f32 * scale + bias;
            }
            x
        }
        k => panic!("unknown input kind {k}"),
    }
}

/// Checks every fixture tensor of `key`; returns the largest |diff| / tolerance seen.
fn check(key: &str, path: &Path) -> f32 {
    let index: Json = serde_json::from_str(&std::fs::read_to_string(fixtures().join("onnx.json")).unwrap()).unwrap();
    let bin = std::fs::read(fixtures().join("onnx.bin")).unwrap();
    let spec = &index["models"][key];
    let model = OnnxModel::load(path).unwrap_or_else(|e| panic!("{e}"));
    let chw = usizes(&spec["input"]);
    assert_eq!(model.input_chw().to_vec(), chw, "{key}: input");
    let finals: Vec<String> = spec["outputs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(model.output_names(), finals, "{key}: outputs");
    assert_eq!(model.parameter_count() as u64, spec["parameters"].as_u64().unwrap(), "{key}: parameters");
    let cases = spec["cases"].as_array().unwrap();
    assert!(cases.len() >= 3, "{key}: expected random and real-image cases");
    let mut worst_ratio = 0f32;
    for case in cases {
        let x = input_for(case, [chw[0], chw[1], chw[2]], &bin);
        let tensors = case["tensors"].as_array().unwrap();
        let names: Vec<&str> = tensors.iter().map(|t| t["node"].as_str().unwrap()).collect();
        let intermediates = names.iter().filter(|n| !finals.iter().any(|f| f == *n)).count();
        assert!(intermediates >= 3, "{key}: only {intermediates} intermediate tensors checked");
        let got = model.run(&x, &names).unwrap_or_else(|e| panic!("{e}"));
        for (t, value) in tensors.iter().zip(got) {
            let node = t["node"].as_str().unwrap();
            assert_eq!(value.shape, usizes(&t["shape"]), "{key} {} {node}: shape", case["name"]);
            let stride = t["stride"].as_u64().unwrap() as usize;
            let want = f32s(&bin, t["offset"].as_u64().unwrap() as usize, t["count"].as_u64().unwrap() as usize);
            let Parity { worst, at, tol, max_ref } = Parity::of(&value.data, &want, stride);
            println!("{key} {:>15} {node:>50}: max |diff| {worst:.3e} (tol {tol:.3e}, max |ref| {max_ref:.3e})", case["name"].as_str().unwrap());
            assert!(worst <= tol, "{key} case {} tensor {node}: max |diff| {worst} at {at} > tol {tol}", case["name"]);
            worst_ratio = worst_ratio.max(worst / tol);
        }
    }
    worst_ratio
}

#[test]
fn sface_matches_onnxruntime() {
    check("sface", &sface_path());
}

#[test]
fn minifas_matches_onnxruntime() {
    check("minifas", &minifas_path());
}

/// The cost `facegate report` quotes: SFace's multiply-accumulates as counted independently
/// from the ONNX file (onnx 1.23.0 shape inference: each Conv's output size times its weight's
/// `cin / group * kh * kw`, plus each Gemm's weight count).
#[test]
fn sface_costs_what_its_file_says() {
    assert_eq!(OnnxModel::load(&sface_path()).unwrap().macs(), 574_138_880);
}

#[test]
fn only_the_needed_nodes_run_and_folded_names_are_explained() {
    let model = OnnxModel::load(&minifas_path()).unwrap();
    let x = vec![0.5f32; 3 * 128 * 128];
    // The first convolution alone: the rest of the graph is not evaluated (no error either).
    let first = model.run(&x, &["/conv1/conv/Conv_output_0", "input"]).unwrap();
    assert_eq!(first[0].shape, vec![1, 32, 64, 64]);
    assert_eq!(first[1].data, x, "the input comes back as given (NCHW)");
    let err = model.run(&x, &["onnx::Conv_641"]).unwrap_err();
    assert!(matches!(err, OnnxError::UnknownOutput { .. }) && err.to_string().contains("initializer"), "{err}");
    let err = model.run(&x, &["no such tensor"]).unwrap_err();
    assert!(err.to_string().contains("no such tensor"), "{err}");
    let sface = OnnxModel::load(&sface_path()).unwrap();
    let err = sface.run(&vec![0.0; 3 * 112 * 112], &["conv_1_conv2d"]).unwrap_err();
    assert!(err.to_string().contains("folded with BatchNormalization"), "{err}");
}

#[test]
fn wrong_input_length_is_an_error_and_nan_propagates() {
    let model = OnnxModel::load(&minifas_path()).unwrap();
    for n in [0, 3 * 128 * 128 - 1, 3 * 128 * 128 + 1, 3 * 112 * 112] {
        let err = model.run(&vec![0.0; n], &["output"]).unwrap_err();
        assert!(matches!(err, OnnxError::Input { want: 49152, got } if got == n), "{err}");
    }
    let mut x = vec![0.25f32; 3 * 128 * 128];
    x[1000] = f32::NAN;
    let y = model.run(&x, &["output"]).unwrap();
    assert!(y[0].data.iter().any(|v| v.is_nan()), "NaN in, NaN out: {:?}", y[0].data);
}

#[test]
fn corrupt_and_truncated_files_name_the_file() {
    let bytes = std::fs::read(minifas_path()).unwrap();
    let dir = std::env::temp_dir().join(format!("facegate-runtime-onnx-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Cut inside the graph at several places, and overwrite a stretch of it with garbage.
    let mut broken: Vec<(&str, Vec<u8>)> = [bytes.len() / 2, bytes.len() - 1, 100, 7, 1].into_iter().map(|cut| ("truncated", bytes[..cut].to_vec())).collect();
    let mut garbage = bytes.clone();
    garbage[20..4000].iter_mut().enumerate().for_each(|(i, b)| *b = (i * 151 % 256) as u8);
    broken.push(("corrupt", garbage));
    broken.push(("empty", Vec::new()));
    broken.push(("text", b"this is not an onnx file\n".to_vec()));
    for (i, (kind, data)) in broken.iter().enumerate() {
        let path = dir.join(format!("{kind}-{i}.onnx"));
        std::fs::write(&path, data).unwrap();
        let err = OnnxModel::load(&path).expect_err(kind);
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()), "{kind} {i}: error does not name the file: {msg}");
        assert!(matches!(err, OnnxError::Format { .. }), "{kind} {i}: {msg}");
        let named = OnnxModel::from_bytes(data, "bytes-from-somewhere").expect_err(kind).to_string();
        assert!(named.contains("bytes-from-somewhere"), "{named}");
    }
    std::fs::remove_dir_all(&dir).ok();
    let missing = dir.join("missing.onnx");
    let err = OnnxModel::load(&missing).unwrap_err();
    assert!(matches!(err, OnnxError::Io { .. }) && err.to_string().contains("missing.onnx"), "{err}");
}

#[test]
fn an_unsupported_op_is_refused_at_load_naming_op_node_and_file() {
    let path = fixtures().join("unsupported-einsum.onnx");
    let err = OnnxModel::load(&path).unwrap_err();
    match &err {
        OnnxError::Unsupported { path: p, node, op } => {
            assert!(p.ends_with("unsupported-einsum.onnx"), "{p}");
            assert_eq!((node.as_str(), op.as_str()), ("mystery_einsum", "Einsum"));
        }
        e => panic!("expected Unsupported, got {e}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("Einsum") && msg.contains("unsupported-einsum.onnx") && msg.contains("mystery_einsum"), "{msg}");
    // Every prefix of the small file is an error (truncated, no graph, or still the Einsum),
    // never a panic.
    let bytes = std::fs::read(&path).unwrap();
    for cut in 0..bytes.len() {
        assert!(OnnxModel::from_bytes(&bytes[..cut], "cut.onnx").is_err(), "prefix of {cut} bytes loaded");
    }
}

/// Native time per image (release): `cargo test --release -p facegate-runtime --test onnx_parity -- --ignored --nocapture`.
#[test]
#[ignore]
fn time_per_image() {
    for (name, path) in [("sface", sface_path()), ("minifas", minifas_path())] {
        let model = OnnxModel::load(&path).unwrap();
        let x: Vec<f32> = (0..model.input_chw().iter().product::<usize>()).map(|i| (i % 251) as f32).collect();
        let outs: Vec<String> = model.output_names().iter().map(|s| s.to_string()).collect();
        let outs: Vec<&str> = outs.iter().map(String::as_str).collect();
        model.run(&x, &outs).unwrap();
        let mut ms: Vec<f64> = (0..20)
            .map(|_| {
                let t = std::time::Instant::now();
                std::hint::black_box(model.run(&x, &outs).unwrap());
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        println!("{name}: median {:.2} ms per image (min {:.2}), {} parameters", ms[10], ms[0], model.parameter_count());
    }
}
