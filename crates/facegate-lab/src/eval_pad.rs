//! `facegate eval pad`: presentation-attack detection metrics (ISO/IEC 30107-3).

use crate::faces::{Cropper, check_dir};
use crate::own_model::Loaded;
use crate::progress::Progress;
use facegate_datasets::pad::{Label, Sample, folder, nuaa, replay};
use facegate_datasets::splits::{CrossCameraSplits, PadSplits, Split, is_full_frame};
use facegate_face::{Alignment, CropSpec};
use facegate_metrics::{Calibration, PadLabel, PadSample, auc, eer_threshold, fuse, pad_report};
use facegate_teachers::{CROP, OnnxKind, OnnxTeacher, Recipe, Task, Teacher};
use serde_json::json;
use std::path::{Path, PathBuf};

/// A pretrained teacher by name, or one of our weight files by path.
pub enum PadModel {
    Teacher(Teacher),
    /// MiniFASNet (ONNX), on its own border-reflected wide view; a fine-tuned file brings the
    /// threshold it stores.
    Onnx(OnnxTeacher, Option<f32>),
    Own(Loaded),
}

impl PadModel {
    pub fn load(model: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let device = burn::tensor::Device::flex();
        if Path::new(model).is_file() {
            if let Some((teacher, meta)) = crate::own_model::open_minifas(model)? {
                return Ok(PadModel::Onnx(teacher, stored_liveness(&meta)));
            }
            return Ok(PadModel::Own(Loaded::open(model)?));
        }
        if let Some(kind) = OnnxTeacher::kind_of(model) {
            if kind != OnnxKind::Minifas {
                return Err(format!("`{model}` is not an anti-spoofing model").into());
            }
            return Ok(PadModel::Onnx(OnnxTeacher::load(model)?, None));
        }
        let teacher = Teacher::load(model, Recipe::Human, &device)?;
        if teacher.spec.task != Task::Liveness {
            return Err(format!("`{model}` is not an anti-spoofing model").into());
        }
        Ok(PadModel::Teacher(teacher))
    }

    /// The crop the model reads.
    pub fn crop_spec(&self) -> CropSpec {
        match self {
            PadModel::Teacher(_) => CropSpec::Box { size: CROP, view: 1.0, alignment: Alignment::None },
            PadModel::Onnx(t, _) => t.crop_spec(),
            PadModel::Own(m) => CropSpec::of(&m.meta),
        }
    }

    /// P(live) per crop.
    pub fn scores(&self, crops: &[Vec<f32>]) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        Ok(match self {
            PadModel::Teacher(t) => {
                let refs: Vec<&[f32]> = crops.iter().map(|c| c.as_slice()).collect();
                t.predict(&refs)?.into_iter().map(|p| p[0]).collect()
            }
            PadModel::Onnx(t, _) => crops.iter().map(|c| t.live(c)).collect::<Result<_, _>>()?,
            PadModel::Own(m) => m.live(crops),
        })
    }

    /// The operating threshold stored with the weights (fixed on dev when they were made).
    pub fn stored_threshold(&self) -> Option<f32> {
        match self {
            PadModel::Own(m) => stored_liveness(&m.meta),
            PadModel::Onnx(_, t) => *t,
            PadModel::Teacher(_) => None,
        }
    }
}

fn stored_liveness(meta: &facegate_nets::weights::WeightsMeta) -> Option<f32> {
    meta.thresholds.liveness.map(|v| v as f32)
}

/// Where test (and optionally dev) samples come from.
#[derive(Default, Clone)]
pub struct PadSources {
    pub nuaa: Option<PathBuf>,
    pub replay: Option<PathBuf>,
    pub replay_sets: Vec<String>,
    pub live: Vec<PathBuf>,
    pub attack: Vec<(String, PathBuf)>,
}

impl PadSources {
    pub fn is_empty(&self) -> bool {
        self.nuaa.is_none() && self.replay.is_none() && self.live.is_empty() && self.attack.is_empty()
    }

    fn samples(&self, nuaa_split: &str) -> Result<Vec<Sample>, Box<dyn std::error::Error>> {
        let mut out = Vec::new();
        if let Some(dir) = &self.nuaa {
            check_dir(dir)?;
            out.extend(nuaa(dir, nuaa_split)?);
        }
        if let Some(dir) = &self.replay {
            check_dir(dir)?;
            out.extend(replay(dir, &self.replay_sets)?);
        }
        for dir in &self.live {
            check_dir(dir)?;
            out.extend(folder(dir, Label::Live)?);
        }
        for (kind, dir) in &self.attack {
            check_dir(dir)?;
            out.extend(folder(dir, Label::Attack(kind.clone()))?);
        }
        Ok(out)
    }
}

pub struct PadArgs<'a> {
    pub model: &'a str,
    pub test: &'a PadSources,
    /// NUAA's dev split is its official train list.
    pub dev: &'a PadSources,
    /// A committed split file and the data root it refers to: its dev split fixes the
    /// threshold, and `--replay` without `--replay-sets` scores its test sets.
    pub split: Option<(&'a Path, &'a Path)>,
    /// A cross-camera protocol file (splits/pad-cross-camera.json) and the data root: its dev
    /// sets fix the threshold and all its test sets are scored, reported per set and pooled
    /// over full camera views and over tight crops.
    pub protocol: Option<(&'a Path, &'a Path)>,
    pub batch: usize,
    pub scores: Option<&'a Path>,
    pub detector: &'a str,
}

pub fn run(args: &PadArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    if args.test.is_empty() && args.protocol.is_none() {
        return Err("no test data: give --protocol, --nuaa, --replay, --live or --attack".into());
    }
    let _device = burn::tensor::Device::flex();
    // `A+B`: the calibrated fusion of several models (facegate_metrics::fuse).
    let models = args.model.split('+').map(PadModel::load).collect::<Result<Vec<_>, _>>()?;
    let mut cropper = Cropper::new(args.detector)?;
    let mut dev = if args.dev.is_empty() { Vec::new() } else { args.dev.samples("train")? };
    let test = match (args.protocol, args.split) {
        (Some((file, root)), _) => {
            let protocol = CrossCameraSplits::load(file)?;
            dev.extend(protocol.samples(root, Split::Dev)?);
            let mut test = protocol.samples(root, Split::Test)?;
            if !args.test.is_empty() {
                test.extend(args.test.samples("test")?);
            }
            test
        }
        (None, Some((file, root))) => {
            let splits = PadSplits::load(file)?;
            dev.extend(splits.nuaa(&root.join("nuaa"), Split::Dev)?);
            dev.extend(splits.replay(&root.join("replay"), Split::Dev)?);
            let mut test_sources = args.test.clone();
            if test_sources.replay.is_some() && test_sources.replay_sets.is_empty() {
                test_sources.replay_sets = splits.replay_sets(Split::Test).to_vec();
            }
            test_sources.samples("test")?
        }
        (None, None) => args.test.samples("test")?,
    };
    if models.len() > 1 && dev.is_empty() {
        return Err("a fusion (A+B) is calibrated on dev data: give --protocol, --split or --dev-*".into());
    }
    // Every member's P(live) for each sample; the image is detected once for all members.
    let mut score = |samples: &[Sample], label: &str| -> Result<Vec<Vec<f32>>, Box<dyn std::error::Error>> {
        let mut out = vec![Vec::with_capacity(samples.len()); models.len()];
        let specs: Vec<CropSpec> = models.iter().map(PadModel::crop_spec).collect();
        let mut progress = Progress::new(&format!("pad {} {label}", args.model), samples.len());
        for chunk in samples.chunks(args.batch.max(1)) {
            let crops = chunk.iter().map(|s| cropper.cut_each(&s.path, &specs)).collect::<Result<Vec<_>, _>>()?;
            for (k, model) in models.iter().enumerate() {
                let member: Vec<Vec<f32>> = crops.iter().map(|c| c[k].clone()).collect();
                out[k].extend(model.scores(&member)?);
            }
            progress.inc(chunk.len());
        }
        progress.finish();
        Ok(out)
    };
    let labelled = |samples: &[Sample], scores: Vec<f32>| -> Vec<PadSample> {
        samples.iter().zip(scores).map(|(s, score)| PadSample { score, label: PadLabel::from(&s.label) }).collect()
    };
    let (dev_members, test_members) = (score(&dev, "dev")?, score(&test, "test")?);
    let mut fusion = serde_json::Value::Null;
    let (dev_scores, test_scores) = if models.len() == 1 {
        let [d, t] = [dev_members, test_members].map(|mut m| m.swap_remove(0));
        (labelled(&dev, d), labelled(&test, t))
    } else {
        let calibrations = dev_members
            .iter()
            .map(|m| Calibration::fit(&labelled(&dev, m.clone())))
            .collect::<Option<Vec<_>>>()
            .ok_or("a fusion member cannot be calibrated: its dev scores lack a class or all agree")?;
        fusion = json!(args.model.split('+').zip(&calibrations).map(|(m, c)| json!({ "model": m, "calibration": c })).collect::<Vec<_>>());
        (labelled(&dev, fuse(&calibrations, &dev_members)), labelled(&test, fuse(&calibrations, &test_members)))
    };
    let stored = if models.len() == 1 { models[0].stored_threshold() } else { None };
    let (threshold, source) = match (dev_scores.is_empty(), stored) {
        (false, _) => (eer_threshold(&dev_scores), "eer-on-dev"),
        (true, Some(t)) => (t, "model-file"),
        (true, None) => (eer_threshold(&test_scores), "eer-on-test"),
    };
    if let Some(path) = args.scores {
        write_scores(path, &test, &test_scores)?;
    }
    let report = pad_report(&test_scores, threshold);
    let mut out = serde_json::to_value(&report)?;
    let obj = out.as_object_mut().expect("report is an object");
    obj.insert("model".into(), json!(args.model));
    obj.insert("per_group".into(), per_group(&test, &test_scores, threshold));
    if args.protocol.is_some() {
        let pooled = |keep: &dyn Fn(&str) -> bool| {
            let part: Vec<PadSample> = test.iter().zip(&test_scores).filter(|(s, _)| keep(&s.group)).map(|(_, p)| p.clone()).collect();
            serde_json::to_value(pad_report(&part, threshold)).unwrap_or_default()
        };
        obj.insert("full_frame".into(), pooled(&|g| is_full_frame(g)));
        obj.insert("tight_crop".into(), pooled(&|g| !is_full_frame(g)));
        obj.insert("nuaa".into(), pooled(&|g| g.starts_with("nuaa/")));
        obj.insert("pad_frames".into(), pooled(&|g| g.starts_with("pad-frames/")));
        obj.insert("dev_per_group".into(), per_group(&dev, &dev_scores, threshold));
    }
    obj.insert("threshold_from".into(), json!(source));
    if !fusion.is_null() {
        obj.insert("fusion".into(), fusion);
    }
    obj.insert("detector".into(), json!(args.detector));
    obj.insert("no_face".into(), json!(cropper.missed.len()));
    obj.insert("no_face_files".into(), json!(cropper.missed));
    Ok(out)
}

fn write_scores(path: &Path, samples: &[Sample], scores: &[PadSample]) -> Result<(), Box<dyn std::error::Error>> {
    let mut csv = String::from("path,label,score\n");
    for (s, p) in samples.iter().zip(scores) {
        let label = match &s.label {
            Label::Live => "live",
            Label::Attack(kind) => kind.as_str(),
        };
        csv.push_str(&format!("{},{label},{}\n", s.path.display(), p.score));
    }
    std::fs::write(path, csv).map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

/// Error rates per source group (replay set, NUAA subject) at the operating threshold: where a
/// model fails matters as much as how often.
fn per_group(samples: &[Sample], scores: &[PadSample], threshold: f32) -> serde_json::Value {
    let mut groups: std::collections::BTreeMap<&str, (usize, usize, usize, usize)> = Default::default();
    let mut group_scores: std::collections::BTreeMap<&str, (Vec<f32>, Vec<f32>)> = Default::default();
    for (s, p) in samples.iter().zip(scores) {
        let g = group_scores.entry(s.group.as_str()).or_default();
        if s.label == Label::Live { g.0.push(p.score) } else { g.1.push(p.score) }
    }
    for (s, p) in samples.iter().zip(scores) {
        let g = groups.entry(s.group.as_str()).or_default();
        let accepted = p.score >= threshold;
        match s.label {
            Label::Live => {
                g.0 += 1;
                g.1 += usize::from(!accepted);
            }
            Label::Attack(_) => {
                g.2 += 1;
                g.3 += usize::from(accepted);
            }
        }
    }
    let rate = |bad: usize, n: usize| if n == 0 { serde_json::Value::Null } else { json!(bad as f64 / n as f64) };
    groups
        .into_iter()
        .map(|(g, (live, rejected, attacks, accepted))| {
            let (l, a) = &group_scores[g];
            let auc = if l.is_empty() || a.is_empty() { serde_json::Value::Null } else { json!(auc(l, a)) };
            (g.to_string(), json!({ "n_live": live, "bpcer": rate(rejected, live), "n_attack": attacks, "apcer": rate(accepted, attacks), "auc": auc }))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}
