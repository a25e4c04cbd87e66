//! Native time per camera frame of what the browser runs: the frame's one conversion (RGBA
//! bytes as JavaScript hands them over, to the engine's RGB frame), detect + crop + student on
//! a real 640x480 NUAA frame, and the student alone on a crop. `cargo bench -p facegate-wasm`
//! (the browser figures come from the bench page).

use criterion::{Criterion, criterion_group, criterion_main};
use facegate_wasm::Core;
use std::hint::black_box;
use std::path::PathBuf;

fn pipeline(c: &mut Criterion) {
    let core = Core::new().expect("embedded models load");
    let engine = core.engine();
    let data = std::env::var_os("FACEGATE_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let img = image::open(data.join("nuaa-sequences/live/000.jpg")).expect("nuaa-sequences frame").to_rgb8();
    let frame = facegate_engine::RgbImage::from_rgb(img.width() as usize, img.height() as usize, img.into_raw()).unwrap();
    let rgba: Vec<u8> = frame.data().chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
    c.bench_function("rgba_to_frame_640x480", |b| b.iter(|| black_box(facegate_engine::frame_from_rgba(frame.width(), frame.height(), &rgba).unwrap())));
    c.bench_function("analyze_640x480", |b| b.iter(|| black_box(engine.analyze(&frame).unwrap())));
    let crop = engine.face_crop(&frame).unwrap();
    c.bench_function("student_per_face", |b| b.iter(|| black_box(engine.student_outputs(std::slice::from_ref(&crop)))));
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
