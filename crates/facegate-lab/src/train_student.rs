//! `facegate train student` and `facegate export student`: data, teacher targets and the
//! committed student file around `facegate_train::distil`.

use crate::progress::epoch_reporter;
use crate::student_data::{Teachers, open_or_build};
use burn::module::Module;
use facegate_datasets::cache::FaceCache;
use facegate_datasets::sources::{dev_sources, training_sources};
use facegate_nets::weights::{CropKind, Storage, WeightsMeta, load};
use facegate_nets::{STUDENT_ARCH, STUDENT_INPUT, STUDENT_VIEW, Student};
use facegate_train::checkpoint::RunState;
use facegate_train::distil::dev_report::LIVENESS_DEV;
use facegate_train::distil::targets::{Projection, Targets};
use facegate_train::distil::{DistilConfig, DistilNet, Source, dev_metrics, train};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct StudentArgs {
    pub data: PathBuf,
    pub splits: PathBuf,
    pub pad_teacher: String,
    pub extra: Option<PathBuf>,
    pub threads: usize,
    pub out: PathBuf,
    pub config: DistilConfig,
    pub resume: bool,
}

/// Identity index per record of each cache, numbered in name order over all of them (CelebA
/// identities share one number across sources); records of other groups get `None`.
fn identities(caches: &[&FaceCache], prefix: &str) -> (Vec<Vec<Option<usize>>>, usize) {
    let names: BTreeMap<&str, usize> = {
        let set: std::collections::BTreeSet<&str> =
            caches.iter().flat_map(|c| c.index.records.iter()).map(|r| r.group.as_str()).filter(|g| g.starts_with(prefix)).collect();
        set.into_iter().enumerate().map(|(i, g)| (g, i)).collect()
    };
    (caches.iter().map(|c| c.index.records.iter().map(|r| names.get(r.group.as_str()).copied()).collect()).collect(), names.len())
}

pub fn run(args: &StudentArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let det = args.config.detector.as_str();
    let teachers = Teachers::load(&args.pad_teacher)?;
    let mut train_data: Vec<(String, FaceCache, Targets)> = Vec::new();
    for s in training_sources(&args.data, &args.splits, args.extra.as_deref())? {
        let (cache, targets) = open_or_build(&s, det, &teachers, args.threads)?;
        train_data.push((s.name, cache, targets));
    }
    let dev = DevSet { data: &args.data, splits: &args.splits, pad_teacher: &args.pad_teacher }.open(det, Some(&teachers), args.threads)?;
    let caches: Vec<&FaceCache> = train_data.iter().map(|(_, c, _)| c).collect();
    let (ids, n_ids) = identities(&caches, "celeba/");
    let sources: Vec<Source> =
        train_data.iter().zip(ids).map(|((name, cache, targets), identity)| Source { cache, targets, identity, pad_labelled: name == "pad-train" }).collect();
    let descriptors: Vec<&[f32]> = train_data.iter().flat_map(|(_, _, t)| (0..t.len()).map(move |i| t.descriptor(i))).collect();
    let proj = Projection::fit(&descriptors, facegate_nets::student::EMBEDDING, args.config.seed);
    let (pad_dev, fr_dev) = dev.views();
    let n: usize = caches.iter().map(|c| c.len()).sum();
    for (name, c, _) in &train_data {
        eprintln!("  {name}: {} faces", c.len());
    }
    eprintln!(
        "distil: {n} faces ({n_ids} CelebA identities), dev: {} PAD crops, {} held-out CelebA faces",
        pad_dev.iter().map(|c| c.len()).sum::<usize>(),
        dev.fr.len()
    );
    let cfg = DistilConfig { identities: n_ids, ..args.config.clone() };
    let state = train(&sources, &pad_dev, &fr_dev, &proj, &cfg, &args.out, args.resume, epoch_reporter(cfg.epochs))?;
    Ok(serde_json::to_value(&state)?)
}

/// Where the dev data comes from: the protocol's dev split and the held-out CelebA identities,
/// cut as the student's view (its cache is keyed by the anti-spoofing teacher too).
pub struct DevSet<'a> {
    pub data: &'a Path,
    pub splits: &'a Path,
    pub pad_teacher: &'a str,
}

impl DevSet<'_> {
    fn open(&self, detector: &str, teachers: Option<&Teachers>, threads: usize) -> Result<DevData, Box<dyn std::error::Error>> {
        let loaded;
        let teachers = match teachers {
            Some(t) => t,
            None => {
                loaded = Teachers::load(self.pad_teacher)?;
                &loaded
            }
        };
        let mut caches = Vec::new();
        for s in dev_sources(self.data, self.splits)? {
            caches.push(open_or_build(&s, detector, teachers, threads)?.0);
        }
        let fr = caches.pop().expect("two dev sources");
        Ok(DevData { pad: caches, fr })
    }
}

/// The dev data both training and export measure on: the PAD dev split and the held-out
/// CelebA identities.
struct DevData {
    pad: Vec<FaceCache>,
    fr: FaceCache,
}

impl DevData {
    /// The borrowed form `train` and `dev_metrics` take: PAD caches, and the CelebA cache with
    /// each face's identity.
    fn views(&self) -> (Vec<&FaceCache>, Vec<(&FaceCache, Vec<usize>)>) {
        let ids = identities(&[&self.fr], "celeba/").0.swap_remove(0).into_iter().map(|i| i.expect("CelebA groups")).collect();
        (self.pad.iter().collect(), vec![(&self.fr, ids)])
    }
}

/// Writes the best epoch's student (adapters and identity classifier dropped) as the
/// committed float16 (or int8) file. Its operating thresholds and dev metrics are measured
/// again on the weights as stored, so an int8 file carries int8 thresholds.
pub fn export(
    run: &Path,
    out: &Path,
    command: &str,
    storage: Storage,
    dev: &DevSet,
    allow_weak: bool,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let state_path = run.join("state.json");
    let state: RunState = serde_json::from_str(&std::fs::read_to_string(&state_path).map_err(|e| format!("{}: {e}", state_path.display()))?)
        .map_err(|e| format!("{}: {e}", state_path.display()))?;
    let cfg: DistilConfig = serde_json::from_value(state.config.clone()).map_err(|e| format!("{}: {e}", state_path.display()))?;
    let best = state.best_epoch.ok_or_else(|| format!("{}: no finished epoch", state_path.display()))?;
    let device = burn::tensor::Device::flex();
    let best_path = run.join("best.bpk");
    let net = DistilNet::for_config(&cfg, &device).try_load_file(&best_path).map_err(|e| format!("{}: {e}", best_path.display()))?;
    let mut meta = WeightsMeta {
        arch: STUDENT_ARCH.into(),
        input: STUDENT_INPUT,
        normalisation: "rgb/127.5-1".into(),
        view: Some(STUDENT_VIEW),
        command: command.into(),
        detector: Some(cfg.detector.clone()),
        crop: CropKind::Aligned,
        ..Default::default()
    };
    let student = net.student.valid();
    let draft = facegate_nets::weights::to_bytes_as(&student, &meta, storage);
    let (stored, _) = load(Student::shell(&device), &draft, STUDENT_ARCH)?;
    operating_points(&stored, &mut meta, dev, allow_weak)?;
    meta.metrics.insert("best_epoch".into(), best.into());
    meta.metrics.insert("epochs".into(), state.epochs_done.into());
    write(out, &facegate_nets::weights::to_bytes_as(&student, &meta, storage), &meta)
}

/// Measures the stored weights on the dev data with the detector `meta` names and writes their
/// operating points into it (the rule: `DevReport::operating_points` in facegate-train).
fn operating_points(student: &Student, meta: &mut WeightsMeta, dev: &DevSet, allow_weak: bool) -> Result<(), Box<dyn std::error::Error>> {
    if meta.crop != CropKind::Aligned {
        return Err("the dev data is cut as the aligned view; this file reads box crops (export it from a run of this build)".into());
    }
    let dev_data = dev.open(meta.detector(), None, 2)?;
    let (pad_dev, fr_dev) = dev_data.views();
    let dev = dev_metrics(student, &pad_dev, &fr_dev);
    meta.thresholds = dev.operating_points(allow_weak)?;
    meta.metrics.insert("liveness_threshold".into(), format!("EER point of {LIVENESS_DEV}").into());
    meta.metrics.insert("dev".into(), serde_json::to_value(&dev)?);
    Ok(())
}

fn write(out: &Path, bytes: &[u8], meta: &WeightsMeta) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(serde_json::json!({ "file": out.display().to_string(), "bytes": bytes.len(), "meta": meta }))
}

/// Re-measures an exported student's operating points (on the crops of `detector`, which then
/// goes into its header) without its training run; the tensors are kept byte for byte.
pub fn recalibrate(model: &Path, out: &Path, detector: Option<String>, command: &str, dev: &DevSet) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let (student, mut meta) = load(Student::shell(&burn::tensor::Device::flex()), &bytes, STUDENT_ARCH).map_err(|e| format!("{}: {e}", model.display()))?;
    meta.detector = Some(detector.unwrap_or_else(|| meta.detector().to_string()));
    operating_points(&student, &mut meta, dev, false)?;
    meta.command = format!("{}; then {command}", meta.command);
    write(out, &facegate_nets::weights::replace_meta(&bytes, &meta)?, &meta)
}
