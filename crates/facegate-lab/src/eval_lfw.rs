//! `facegate eval lfw`: the LFW View-2 protocol (10 folds of 300 + 300 pairs).

use crate::faces::{Cropper, check_dir};
use crate::own_model::{Loaded, OwnModel};
use crate::progress::Progress;
use facegate_datasets::lfw::read_pairs;
use facegate_face::{Alignment, CropSpec};
use facegate_metrics::{Pair, auc, kfold_accuracy, tar_at_far};
use facegate_teachers::{CROP, OnnxKind, OnnxTeacher, Recipe, Task, Teacher};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A recognition teacher by name, or our student by weight-file path.
enum FrModel {
    Teacher(Teacher),
    /// SFace (ONNX), on landmark-aligned crops.
    Onnx(OnnxTeacher),
    Student(Box<facegate_nets::Student>, facegate_nets::WeightsMeta),
}

impl FrModel {
    fn load(model: &str, recipe: Recipe, device: &burn::tensor::Device) -> Result<Self, Box<dyn std::error::Error>> {
        if Path::new(model).is_file() {
            let own = Loaded::open(model)?;
            return match own.model {
                OwnModel::Student(net) => Ok(FrModel::Student(net, own.meta)),
                OwnModel::Pad(_) => Err(format!("`{model}` is not a face-recognition model").into()),
            };
        }
        if let Some(kind) = OnnxTeacher::kind_of(model) {
            if kind != OnnxKind::Sface {
                return Err(format!("`{model}` is not a face-recognition model").into());
            }
            return Ok(FrModel::Onnx(OnnxTeacher::load(model)?));
        }
        let teacher = Teacher::load(model, recipe, device)?;
        if teacher.spec.task != Task::Descriptor {
            return Err(format!("`{model}` is not a face-recognition model").into());
        }
        Ok(FrModel::Teacher(teacher))
    }

    /// The crop the model reads.
    fn crop_spec(&self, alignment: Alignment) -> CropSpec {
        match self {
            FrModel::Teacher(_) => CropSpec::Box { size: CROP, view: 1.0, alignment },
            FrModel::Onnx(t) => t.crop_spec(),
            FrModel::Student(_, meta) => match CropSpec::of(meta) {
                CropSpec::Box { size, view, .. } => CropSpec::Box { size, view, alignment },
                aligned => aligned,
            },
        }
    }

    fn embed(&self, crops: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, Box<dyn std::error::Error>> {
        Ok(match self {
            FrModel::Teacher(t) => t.predict(&crops.iter().map(|c| c.as_slice()).collect::<Vec<_>>())?,
            FrModel::Onnx(t) => crops.iter().map(|c| t.forward(c)).collect::<Result<_, _>>()?,
            FrModel::Student(net, _) => facegate_train::distil::infer(net, crops).0,
        })
    }
}

pub struct LfwArgs<'a> {
    pub model: &'a str,
    pub data: &'a Path,
    pub folds: Option<usize>,
    pub recipe: Recipe,
    pub alignment: Alignment,
    pub batch: usize,
    pub detector: &'a str,
}

pub fn run(args: &LfwArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    check_dir(args.data)?;
    let mut pairs = read_pairs(args.data)?;
    let total_folds = pairs.iter().map(|p| p.fold + 1).max().unwrap_or(0);
    let folds = args.folds.unwrap_or(total_folds).min(total_folds);
    pairs.retain(|p| p.fold < folds);
    let device = burn::tensor::Device::flex();
    let model = FrModel::load(args.model, args.recipe, &device)?;
    let mut cropper = Cropper::new(args.detector)?;
    let mut images: Vec<PathBuf> = pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    images.sort();
    images.dedup();
    let mut embeddings: HashMap<PathBuf, Vec<f32>> = HashMap::new();
    let mut progress = Progress::new(&format!("lfw {}", args.model), images.len());
    for chunk in images.chunks(args.batch.max(1)) {
        let crops = chunk.iter().map(|p| cropper.cut(p, model.crop_spec(args.alignment))).collect::<Result<Vec<_>, _>>()?;
        for (path, e) in chunk.iter().zip(model.embed(&crops)?) {
            embeddings.insert(path.clone(), e);
        }
        progress.inc(chunk.len());
    }
    progress.finish();
    let scored: Vec<Pair> = pairs.iter().map(|p| Pair { fold: p.fold, same: p.same, score: cosine(&embeddings[&p.a], &embeddings[&p.b]) }).collect();
    let report = kfold_accuracy(&scored, folds);
    let genuine: Vec<f32> = scored.iter().filter(|p| p.same).map(|p| p.score).collect();
    let impostor: Vec<f32> = scored.iter().filter(|p| !p.same).map(|p| p.score).collect();
    let (tar, _) = tar_at_far(&genuine, &impostor, 1e-3);
    Ok(json!({
        "model": args.model,
        "recipe": args.recipe.to_string(),
        "alignment": match model.crop_spec(args.alignment) { CropSpec::Aligned { .. } => "landmarks".to_string(), _ => format!("{:?}", args.alignment).to_lowercase() },
        "detector": args.detector,
        "folds": folds,
        "pairs": scored.len(),
        "accuracy": report.mean,
        "accuracy_std": report.std,
        "fold_accuracies": report.accuracies,
        "thresholds": report.thresholds,
        "tar_at_far_1e-3": tar,
        "auc": auc(&genuine, &impostor),
        "images": images.len(),
        "no_face": cropper.missed.len(),
        "no_face_files": cropper.missed,
    }))
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        ab += (*x as f64) * (*y as f64);
        aa += (*x as f64).powi(2);
        bb += (*y as f64).powi(2);
    }
    if aa == 0.0 || bb == 0.0 { 0.0 } else { (ab / (aa.sqrt() * bb.sqrt())) as f32 }
}
