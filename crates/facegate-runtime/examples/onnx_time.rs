//! Native time per image of an ONNX model on facegate-kernels (release build):
//! `cargo run --release -p facegate-runtime --example onnx_time -- MODEL.onnx [RUNS]`.

use facegate_runtime::onnx::OnnxModel;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: onnx_time MODEL.onnx [RUNS]");
    let runs: usize = args.next().map_or(20, |v| v.parse().expect("RUNS"));
    let t = Instant::now();
    let model = OnnxModel::load(path.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    println!("{path}: loaded in {:.0} ms, input {:?}, {} parameters", t.elapsed().as_secs_f64() * 1e3, model.input_chw(), model.parameter_count());
    let n: usize = model.input_chw().iter().product();
    let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 255) as f32 / 255.0).collect();
    let outputs = model.output_names().iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let names: Vec<&str> = outputs.iter().map(String::as_str).collect();
    model.run(&x, &names).unwrap(); // warm-up
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(model.run(&x, &names).unwrap());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let out = model.run(&x, &names).unwrap();
    println!("outputs {:?} (first values {:?})", out.iter().map(|t| t.shape.clone()).collect::<Vec<_>>(), &out[0].data[..out[0].data.len().min(4)]);
    println!("per image: median {:.2} ms, min {:.2} ms over {runs} runs", times[runs / 2], times[0]);
}
