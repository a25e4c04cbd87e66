//! Training throughput of the anti-spoofing teacher: one forward + backward + AdamW step on a
//! batch of 16 128x128 crops. Flex always; NdArray too with `--features ndarray`, which is how
//! the backend was chosen:
//! `cargo bench -p facegate-train --features ndarray --bench train_step`

use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::Device;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use facegate_nets::{PADNET_INPUT, PadNet, padnet_input};

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

fn backends(c: &mut Criterion) {
    step(c, "flex", Device::flex().autodiff());
    #[cfg(feature = "ndarray")]
    #[allow(deprecated)]
    step(c, "ndarray", Device::ndarray().autodiff());
}

criterion_group!(benches, backends);
criterion_main!(benches);
