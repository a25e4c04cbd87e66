//! `facegate eval lfw`: the LFW View-2 protocol (10 folds of 300 + 300 pairs).

use crate::faces::{Cropper, check_dir};
use crate::progress::Progress;
use facegate_datasets::lfw::read_pairs;
use facegate_face::Alignment;
use facegate_metrics::{Pair, auc, kfold_accuracy, tar_at_far};
use facegate_teachers::{CROP, Recipe, Task, Teacher};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub struct LfwArgs<'a> {
    pub model: &'a str,
    pub data: &'a Path,
    pub folds: Option<usize>,
    pub recipe: Recipe,
    pub alignment: Alignment,
    pub batch: usize,
}

pub fn run(args: &LfwArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    check_dir(args.data)?;
    let mut pairs = read_pairs(args.data)?;
    let total_folds = pairs.iter().map(|p| p.fold + 1).max().unwrap_or(0);
    let folds = args.folds.unwrap_or(total_folds).min(total_folds);
    pairs.retain(|p| p.fold < folds);
    let device = burn::tensor::Device::flex();
    let teacher = Teacher::load(args.model, args.recipe, &device)?;
    if teacher.spec.task != Task::Descriptor {
        return Err(format!("`{}` is not a face-recognition model", args.model).into());
    }
    let mut cropper = Cropper::new(&device, args.alignment)?;
    let mut images: Vec<PathBuf> = pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    images.sort();
    images.dedup();
    let mut embeddings: HashMap<PathBuf, Vec<f32>> = HashMap::new();
    let mut progress = Progress::new(&format!("lfw {}", args.model), images.len());
    for chunk in images.chunks(args.batch.max(1)) {
        let crops = chunk.iter().map(|p| cropper.crop(p, CROP, 1.0)).collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&[f32]> = crops.iter().map(|c| c.as_slice()).collect();
        for (path, e) in chunk.iter().zip(teacher.predict(&refs)?) {
            embeddings.insert(path.clone(), e);
        }
        progress.inc(chunk.len());
    }
    progress.finish();
    let scored: Vec<Pair> = pairs
        .iter()
        .map(|p| Pair { fold: p.fold, same: p.same, score: cosine(&embeddings[&p.a], &embeddings[&p.b]) })
        .collect();
    let report = kfold_accuracy(&scored, folds);
    let genuine: Vec<f32> = scored.iter().filter(|p| p.same).map(|p| p.score).collect();
    let impostor: Vec<f32> = scored.iter().filter(|p| !p.same).map(|p| p.score).collect();
    let (tar, _) = tar_at_far(&genuine, &impostor, 1e-3);
    Ok(json!({
        "model": args.model,
        "recipe": args.recipe.to_string(),
        "alignment": format!("{:?}", args.alignment).to_lowercase(),
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
