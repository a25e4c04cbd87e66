//! PadNet seeded from `faceres` computes what `faceres` computes: its pooled trunk features
//! on an RGB -1..1 input match the graph's `global_pooling/Mean` on the HSE-normalised input.

use burn::module::Module;
use burn::tensor::{Device, Tensor, TensorData};
use facegate_nets::PadNet;
use facegate_teachers::teachers_dir;
use facegate_tfjs::GraphModel;
use facegate_train::init::faceres_trunk;

#[test]
fn seeded_trunk_reproduces_the_face_model() {
    let device = Device::flex();
    let graph = GraphModel::load(&teachers_dir().unwrap().join("faceres.json"), &device).unwrap();
    let mut net = PadNet::new(&device);
    net.assign_trunk(faceres_trunk(&graph).unwrap()).unwrap();
    let net = net.valid();
    let s = 224;
    let rgb: Vec<f32> = (0..s * s)
        .flat_map(|i| {
            let (x, y) = ((i % s) as f32, (i / s) as f32);
            [120.0 + 60.0 * (x / 30.0).sin(), 90.0 + 50.0 * (y / 20.0).cos(), 70.0 + (x + y) / 8.0]
        })
        .collect();
    let hse: Vec<f32> = rgb.chunks(3).flat_map(|p| [p[2] - 103.939, p[1] - 116.779, p[0] - 123.68]).collect();
    let want = graph.run(Tensor::<4>::from_data(TensorData::new(hse, [1, s, s, 3]), &device), &["global_pooling/Mean"]).unwrap()[0].to_tf_vec().1;
    let x: Vec<f32> = rgb.iter().map(|v| v / 127.5 - 1.0).collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [1, s, s, 3]), &device).permute([0, 3, 1, 2]);
    let got = net.pooled(x).into_data().try_to_vec::<f32>().unwrap();
    let dot: f32 = got.iter().zip(&want).map(|(a, b)| a * b).sum();
    let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
    let cosine = dot / (norm(&got) * norm(&want));
    // Not exactly 1: PadNet pads stride-2 layers symmetrically where TF pads the far side.
    assert!(cosine > 0.95, "cosine {cosine}");
    // A random PadNet is nowhere near.
    let random = PadNet::new(&device).valid();
    let x: Vec<f32> = rgb.iter().map(|v| v / 127.5 - 1.0).collect();
    let r = random.pooled(Tensor::<4>::from_data(TensorData::new(x, [1, s, s, 3]), &device).permute([0, 3, 1, 2])).into_data().try_to_vec::<f32>().unwrap();
    let c2 = r.iter().zip(&want).map(|(a, b)| a * b).sum::<f32>() / (norm(&r) * norm(&want));
    assert!(c2 < cosine - 0.1, "random trunk cosine {c2} vs seeded {cosine}");
}
