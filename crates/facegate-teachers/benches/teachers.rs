//! Native inference time per face: each teacher on one 256x256 crop (preprocessing
//! included), and the BlazeFace detector on a 640x480 frame. `cargo bench -p facegate-teachers`

use burn::tensor::Device;
use criterion::{Criterion, criterion_group, criterion_main};
use facegate_face::{Detector, DetectorConfig, RgbImage};
use facegate_teachers::{CROP, Recipe, Teacher, teachers_dir};
use std::hint::black_box;

fn teachers(c: &mut Criterion) {
    let device = Device::flex();
    let crop: Vec<f32> = (0..CROP * CROP * 3).map(|i| ((i * 7919) % 256) as f32).collect();
    let mut group = c.benchmark_group("teacher_per_face");
    for (name, recipe) in [("faceres", Recipe::Hse), ("faceres-deep", Recipe::Human), ("antispoof", Recipe::Human), ("liveness", Recipe::Human)] {
        let t = Teacher::load(name, recipe, &device).expect("teachers installed (./build.sh setup)");
        group.bench_function(name, |b| b.iter(|| black_box(t.predict(&[&crop]).unwrap())));
    }
    group.finish();
    let graph = facegate_tfjs::KernelGraph::load(&teachers_dir().unwrap().join("blazeface.json")).unwrap();
    let det = Detector::new(graph, DetectorConfig::default()).unwrap();
    let frame = RgbImage::from_rgb(640, 480, (0..640 * 480 * 3).map(|i| ((i * 31) % 251) as u8).collect()).unwrap();
    c.bench_function("blazeface_640x480", |b| b.iter(|| black_box(det.detect(&frame).unwrap())));
}

criterion_group!(benches, teachers);
criterion_main!(benches);
