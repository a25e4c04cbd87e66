//! `facegate train student` and `facegate export student`: data, teacher targets and the
//! committed student file around `facegate_train::distil`.

use crate::faces::check_dir;
use crate::progress::{Progress, epoch_reporter};
use crate::train_pad::{cache_dir, pad_caches, split_cache};
use burn::module::Module;
use facegate_datasets::cache::FaceCache;
use facegate_datasets::faces::{celeba, utkface};
use facegate_datasets::pad::Sample;
use facegate_datasets::splits::Split;
use facegate_nets::weights::{Storage, WeightsMeta, crc32, file_id, load};
use facegate_nets::{PADNET_ARCH, PadNet, STUDENT_ARCH, STUDENT_INPUT, STUDENT_VIEW, Student};
use facegate_teachers::{Recipe, Teacher, teachers_dir};
use facegate_train::checkpoint::RunState;
use facegate_train::distil::targets::{Projection, Targets};
use facegate_train::distil::{DistilConfig, DistilNet, Source, dev_metrics, train};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct StudentArgs {
    pub data: PathBuf,
    pub splits: PathBuf,
    pub pad_teacher: PathBuf,
    pub out: PathBuf,
    pub config: DistilConfig,
    pub resume: bool,
}

/// CelebA identities held out of distillation: every 10th in name order. Their pairs pick
/// the match threshold (FMR 1e-3) and the best epoch; LFW is never used for either.
pub fn celeba_split(samples: Vec<Sample>) -> (Vec<Sample>, Vec<Sample>) {
    let ids: std::collections::BTreeSet<String> = samples.iter().map(|s| s.group.clone()).collect();
    let dev: std::collections::BTreeSet<String> = ids.into_iter().enumerate().filter(|(i, _)| i % 10 == 9).map(|(_, g)| g).collect();
    samples.into_iter().partition(|s| !dev.contains(&s.group))
}

/// Identity index per record, numbered in name order.
fn identities(cache: &FaceCache) -> (Vec<usize>, usize) {
    let names: BTreeMap<&str, usize> = {
        let set: std::collections::BTreeSet<&str> = cache.index.records.iter().map(|r| r.group.as_str()).collect();
        set.into_iter().enumerate().map(|(i, g)| (g, i)).collect()
    };
    (cache.index.records.iter().map(|r| names[r.group.as_str()]).collect(), names.len())
}

fn file_crc(path: &Path) -> Result<u32, Box<dyn std::error::Error>> {
    Ok(crc32(&std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?))
}

pub fn run(args: &StudentArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let celeba_dir = args.data.join("celeba-subset");
    let utk_dir = args.data.join("utkface-subset");
    check_dir(&celeba_dir)?;
    check_dir(&utk_dir)?;
    let (celeba_train, _) = celeba_split(celeba(&celeba_dir)?);
    // Web photos first (CelebA, whose identities label the `id` term, then UTKFace), then the
    // PAD-labelled camera sets.
    let det = args.config.detector.as_str();
    let mut train_caches = vec![split_cache("celeba-train", &celeba_train, det)?, split_cache("utkface", &utkface(&utk_dir)?, det)?];
    let web_sets = train_caches.len();
    train_caches.extend(pad_caches(&args.data, &args.splits, Split::Train, det)?);
    let dev_data = DevData::open(&args.data, &args.splits, det)?;

    let device = burn::tensor::Device::flex();
    let pad_bytes = std::fs::read(&args.pad_teacher).map_err(|e| format!("{}: {e}", args.pad_teacher.display()))?;
    let (pad, pad_meta) = load(PadNet::new(&device), &pad_bytes, PADNET_ARCH).map_err(|e| format!("{}: {e}", args.pad_teacher.display()))?;
    let pad = pad.valid();
    let fr = Teacher::load("faceres", Recipe::Hse, &device)?;
    let teacher_key = format!("faceres-hse:{:08x}/pad:{:08x}", file_crc(&teachers_dir()?.join("faceres.bin"))?, file_id(&pad_bytes));
    let mut targets = Vec::new();
    for c in &train_caches {
        let name = c.index.key.rsplit('/').next().unwrap_or("cache").to_string();
        let path = cache_dir(det, &name).join("targets.bin");
        let mut bar = Progress::new(&format!("teacher targets {name}"), c.len());
        targets.push(Targets::open_or_build(&path, &format!("{teacher_key}/{}", c.index.key), c, &fr, &pad, pad_meta.view(), |n| bar.inc(n))?);
        bar.finish();
    }
    let (celeba_ids, n_ids) = identities(&train_caches[0]);
    let sources: Vec<Source> = train_caches
        .iter()
        .zip(&targets)
        .enumerate()
        .map(|(k, (cache, targets))| Source {
            cache,
            targets,
            identity: if k == 0 { celeba_ids.iter().map(|&i| Some(i)).collect() } else { vec![None; cache.len()] },
            pad_labelled: k >= web_sets,
        })
        .collect();
    let descriptors: Vec<&[f32]> = targets.iter().flat_map(|t| (0..t.len()).map(move |i| t.descriptor(i))).collect();
    eprintln!("projection: top {} principal directions of {} teacher descriptors", facegate_nets::student::EMBEDDING, descriptors.len());
    let proj = Projection::fit(&descriptors, facegate_nets::student::EMBEDDING, args.config.seed);
    let (pad_dev, fr_dev) = dev_data.views();
    let n: usize = train_caches.iter().map(|c| c.len()).sum();
    eprintln!("distil: {n} faces ({n_ids} CelebA identities), dev: {} PAD crops, {} held-out CelebA faces", pad_dev.iter().map(|c| c.len()).sum::<usize>(), dev_data.fr.len());
    let cfg = DistilConfig { identities: n_ids, ..args.config.clone() };
    let state = train(&sources, &pad_dev, &fr_dev, &proj, &cfg, &args.out, args.resume, epoch_reporter(cfg.epochs))?;
    Ok(serde_json::to_value(&state)?)
}

/// The dev data both training and export measure on: the PAD dev split and the held-out
/// CelebA identities.
struct DevData {
    pad: Vec<FaceCache>,
    fr: FaceCache,
}

impl DevData {
    fn open(data: &Path, splits: &Path, detector: &str) -> Result<Self, Box<dyn std::error::Error>> {
        let celeba_dir = data.join("celeba-subset");
        check_dir(&celeba_dir)?;
        let (_, celeba_dev) = celeba_split(celeba(&celeba_dir)?);
        Ok(Self { pad: pad_caches(data, splits, Split::Dev, detector)?, fr: split_cache("celeba-dev", &celeba_dev, detector)? })
    }

    /// The borrowed form `train` and `dev_metrics` take: PAD caches, and the CelebA cache with
    /// each face's identity.
    fn views(&self) -> (Vec<&FaceCache>, Vec<(&FaceCache, Vec<usize>)>) {
        (self.pad.iter().collect(), vec![(&self.fr, identities(&self.fr).0)])
    }
}

/// Writes the best epoch's student (adapters and identity classifier dropped) as the
/// committed float16 (or int8) file. Its operating thresholds and dev metrics are measured
/// again on the weights as stored, so an int8 file carries int8 thresholds.
pub fn export(run: &Path, out: &Path, command: &str, storage: Storage, data: &Path, splits: &Path) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let state_path = run.join("state.json");
    let state: RunState = serde_json::from_str(&std::fs::read_to_string(&state_path).map_err(|e| format!("{}: {e}", state_path.display()))?)
        .map_err(|e| format!("{}: {e}", state_path.display()))?;
    let cfg: DistilConfig = serde_json::from_value(state.config.clone()).map_err(|e| format!("{}: {e}", state_path.display()))?;
    let best = state.best_epoch.ok_or_else(|| format!("{}: no finished epoch", state_path.display()))?;
    let device = burn::tensor::Device::flex();
    let best_path = run.join("best.bpk");
    let net = DistilNet::new(cfg.identities, &device).try_load_file(&best_path).map_err(|e| format!("{}: {e}", best_path.display()))?;
    let mut meta = WeightsMeta {
        arch: STUDENT_ARCH.into(),
        input: STUDENT_INPUT,
        normalisation: "rgb/127.5-1".into(),
        view: Some(STUDENT_VIEW),
        command: command.into(),
        detector: Some(cfg.detector.clone()),
        ..Default::default()
    };
    let student = net.student.valid();
    let draft = facegate_nets::weights::to_bytes_as(&student, &meta, storage);
    let (stored, _) = load(Student::shell(&device), &draft, STUDENT_ARCH)?;
    operating_points(&stored, &mut meta, data, splits)?;
    meta.metrics.insert("best_epoch".into(), best.into());
    meta.metrics.insert("epochs".into(), state.epochs_done.into());
    write(out, &facegate_nets::weights::to_bytes_as(&student, &meta, storage), &meta)
}

/// The dev source the liveness threshold is fixed on: NUAA's camera frames, the kind of image
/// the browser gets. The replay dev sets are small face cut-outs from phone videos whose live
/// faces score lower; pooled with them, the threshold lands where most camera prints pass.
pub const LIVENESS_DEV: &str = "nuaa-dev";

/// Measures the stored weights on the dev data with the detector `meta` names and writes their
/// operating points into it: liveness at the EER point of `LIVENESS_DEV` (the threshold every
/// PAD table here uses; it must also keep BPCER within 5% there, else export fails), match at
/// FMR 1e-3 over the held-out CelebA identities' pairs. The BPCER-5% quantile itself is
/// recorded, not used: on two dev subjects it is set by a handful of one person's frames.
fn operating_points(student: &Student, meta: &mut WeightsMeta, data: &Path, splits: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let dev_data = DevData::open(data, splits, meta.detector())?;
    let (pad_dev, fr_dev) = dev_data.views();
    let dev = dev_metrics(student, &pad_dev, &fr_dev);
    let camera = dev.pointer(&format!("/pad_sets/{LIVENESS_DEV}")).ok_or(format!("no {LIVENESS_DEV} data to fix the liveness threshold"))?;
    let liveness = &camera["threshold_eer"];
    if camera["eer"].as_f64().is_none_or(|e| e > 0.05) {
        return Err(format!("{LIVENESS_DEV}: EER {} is above the 5% BPCER the liveness threshold may cost", camera["eer"]).into());
    }
    let matching = dev.pointer("/fr/threshold_fmr_1e-3").ok_or("no held-out CelebA pairs to fix the match threshold")?;
    meta.thresholds.insert("liveness".into(), liveness.clone());
    meta.thresholds.insert("match".into(), matching.clone());
    meta.metrics.insert("liveness_threshold".into(), format!("EER point of {LIVENESS_DEV}").into());
    meta.metrics.insert("dev".into(), dev);
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
pub fn recalibrate(model: &Path, out: &Path, detector: Option<String>, command: &str, data: &Path, splits: &Path) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let bytes = std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let (student, mut meta) = load(Student::shell(&burn::tensor::Device::flex()), &bytes, STUDENT_ARCH).map_err(|e| format!("{}: {e}", model.display()))?;
    meta.detector = Some(detector.unwrap_or_else(|| meta.detector().to_string()));
    operating_points(&student, &mut meta, data, splits)?;
    meta.command = format!("{}; then {command}", meta.command);
    write(out, &facegate_nets::weights::replace_meta(&bytes, &meta)?, &meta)
}
