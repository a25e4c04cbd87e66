//! Training throughput: one forward + backward + AdamW step of the anti-spoofing teacher on a
//! batch of 16 128x128 crops (Flex always; NdArray too with `--features ndarray`, which is how
//! the backend was chosen: `cargo bench -p facegate-train --features ndarray --bench train_step`),
//! and of the student on a batch of 64 at the input sizes it could be trained at (how its
//! input size was chosen).

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use facegate_nets::{PADNET_INPUT, PadNet, Student, padnet_input};

const BATCH: usize = 16;

fn step(c: &mut Criterion, name: &str, device: Device) {
    let mut model = PadNet::new(&device);
    let mut optim = AdamWConfig::new().init();
    let crop: Vec<f32> = (0..PADNET_INPUT * PADNET_INPUT * 3).map(|i| (i % 253) as f32).collect();
    let crops: Vec<&[f32]> = (0..BATCH).map(|_| crop.as_slice()).collect();
    let mut group = c.benchmark_group("padnet_train_step");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.bench_function(name, |b| {
        b.iter(|| {
            let loss = model.forward(padnet_input(&crops, &device)).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-4, model.clone(), grads);
        })
    });
    group.finish();
}

/// The student's step at `size` x `size`: its two heads and its stage maps all take gradients,
/// as in distillation (the loss terms themselves cost little next to the network).
fn student_step(c: &mut Criterion, size: usize) {
    const STUDENT_BATCH: usize = 64;
    let device = Device::flex().autodiff();
    let mut model = Student::new(&device);
    let mut optim = AdamWConfig::new().init();
    let crop: Vec<f32> = (0..size * size * 3).map(|i| (i % 253) as f32).collect();
    let crops: Vec<&[f32]> = (0..STUDENT_BATCH).map(|_| crop.as_slice()).collect();
    let mut group = c.benchmark_group("student_train_step");
    group.throughput(Throughput::Elements(STUDENT_BATCH as u64));
    group.sample_size(10);
    group.bench_function(format!("{size}px"), |b| {
        b.iter(|| {
            let out = model.forward(facegate_nets::blocks::nchw_input(&crops, size, &device));
            let [s1, s2, _] = out.stages;
            let loss = out.embedding.mean() + out.live_logit.mean() + s1.mean() + s2.mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model.clone(), grads);
        })
    });
    group.finish();
}

fn backends(c: &mut Criterion) {
    for size in [96, 112, 128] {
        student_step(c, size);
    }
    step(c, "flex", Device::flex().autodiff());
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    step(c, "ndarray", Device::ndarray().autodiff());
}

criterion_group!(benches, backends);
criterion_main!(benches);
