//! `facegate train pad-teacher` and `facegate export pad-teacher`.

use crate::faces::{check_dir, detector};
use crate::progress::{Progress, epoch_reporter};
use facegate_datasets::cache::{FaceCache, cache_root};
use facegate_datasets::faces::celeba;
use facegate_datasets::pad::Sample;
use facegate_datasets::splits::{CrossCameraSplits, PadSplits, Split};
use facegate_face::specs::{CONTEXT_SIZE, CONTEXT_VIEW};
use facegate_nets::weights::WeightsMeta;
use facegate_nets::{PADNET_ARCH, PADNET_INPUT, PADNET_VIEW};
use facegate_train::pad_teacher::{PadTrainConfig, load_checkpoint, train};
use std::path::{Path, PathBuf};

pub struct PadTrainArgs {
    pub data: PathBuf,
    pub splits: PathBuf,
    pub out: PathBuf,
    pub config: PadTrainConfig,
    pub resume: bool,
}

/// Where one dataset split's crops by one detector are cached: each detector has its own
/// caches (and teacher targets beside them), so switching detectors never rebuilds another's.
pub fn cache_dir(detector_name: &str, name: &str) -> PathBuf {
    cache_root().join(detector_name).join(name)
}

/// Opens (building when needed) the face cache of one dataset split.
pub fn split_cache(name: &str, samples: &[Sample], detector_name: &str) -> Result<FaceCache, Box<dyn std::error::Error>> {
    let dir = cache_dir(detector_name, name);
    let key = format!("{detector_name}/human-models-3.0.4/context-{CONTEXT_VIEW}/{CONTEXT_SIZE}px/{name}");
    let cache = match FaceCache::open_matching(&dir, &key, samples, CONTEXT_SIZE)? {
        Some(c) => c,
        None => {
            let det = detector(detector_name)?;
            let mut bar = Progress::new(&format!("cache {name}"), samples.len());
            let mut last = 0;
            let cache = FaceCache::build(&dir, &key, samples, &det, CONTEXT_SIZE, |i| {
                bar.inc(i - last);
                last = i;
            })?;
            bar.finish();
            cache
        }
    };
    eprintln!("cache {name}: {} images, detector missed {} (centred square used)", cache.len(), cache.missed());
    for (group, (missed, total)) in cache.missed_by_group() {
        eprintln!("  {group}: missed {missed} of {total}");
    }
    Ok(cache)
}

/// The caches of one split of `splits`: a cross-camera protocol file (`sets` + `nuaa` by
/// subject, one cache per split) or the older `splits/pad.json` (NUAA and replay caches).
pub fn pad_caches(data: &Path, splits: &Path, split: Split, detector_name: &str) -> Result<Vec<FaceCache>, Box<dyn std::error::Error>> {
    if let Ok(protocol) = CrossCameraSplits::load(splits) {
        let stem = splits.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        return Ok(vec![split_cache(&format!("{stem}-{}", split.name()), &protocol.samples(data, split)?, detector_name)?]);
    }
    let s = PadSplits::load(splits)?;
    let nuaa = s.nuaa(&data.join("nuaa"), split)?;
    let replay = s.replay(&data.join("replay"), split)?;
    Ok(vec![split_cache(&format!("nuaa-{}", split.name()), &nuaa, detector_name)?, split_cache(&format!("replay-{}", split.name()), &replay, detector_name)?])
}

pub fn run(args: &PadTrainArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let train_c = pad_caches(&args.data, &args.splits, Split::Train, &args.config.detector)?;
    let dev_c = pad_caches(&args.data, &args.splits, Split::Dev, &args.config.detector)?;
    let extra_c = if args.config.extra_live > 0 {
        let dir = args.data.join("celeba-subset");
        check_dir(&dir)?;
        vec![split_cache("celeba-live", &celeba(&dir)?, &args.config.detector)?]
    } else {
        Vec::new()
    };
    let train_refs: Vec<&FaceCache> = train_c.iter().collect();
    let extra_refs: Vec<&FaceCache> = extra_c.iter().collect();
    let dev_refs: Vec<&FaceCache> = dev_c.iter().collect();
    let n: usize = train_refs.iter().map(|c| c.len()).sum::<usize>() + args.config.extra_live.min(extra_refs.iter().map(|c| c.len()).sum());
    let steps = facegate_train::checkpoint::steps_per_epoch(n, args.config.batch, args.config.max_steps);
    eprintln!("train: {n} crops ({steps} steps/epoch), dev: {} crops", dev_refs.iter().map(|c| c.len()).sum::<usize>());
    let init = match args.config.init.as_str() {
        "none" => None,
        "faceres" => {
            let graph = facegate_tfjs::GraphModel::load(&facegate_teachers::teachers_dir()?.join("faceres.json"), &burn::tensor::Device::flex())?;
            Some(facegate_train::init::faceres_trunk(&graph)?)
        }
        other => return Err(format!("unknown --init `{other}` (none, faceres)").into()),
    };
    let state = train(&train_refs, &extra_refs, &dev_refs, &args.config, &args.out, args.resume, init, epoch_reporter(args.config.epochs))?;
    Ok(serde_json::to_value(&state)?)
}

/// A finished run's state, its best epoch and that epoch's dev metrics: what an export reads.
pub struct BestEpoch<C> {
    pub state: facegate_train::checkpoint::RunState,
    pub config: C,
    pub best: usize,
    pub dev: serde_json::Value,
}

impl<C: serde::de::DeserializeOwned> BestEpoch<C> {
    pub fn read(run: &Path) -> Result<Self, Box<dyn std::error::Error>> {
        let state_path = run.join("state.json");
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", state_path.display());
        let state: facegate_train::checkpoint::RunState =
            serde_json::from_str(&std::fs::read_to_string(&state_path).map_err(|e| at(&e))?).map_err(|e| at(&e))?;
        let best = state.best_epoch.ok_or_else(|| at(&"no finished epoch"))?;
        let config: C = serde_json::from_value(state.config.clone()).map_err(|e| at(&e))?;
        let dev = state.log.iter().find(|l| l.epoch == best).map(|l| l.dev.clone()).unwrap_or_default();
        Ok(Self { state, config, best, dev })
    }

    /// The exported file's header: the dev-fixed liveness threshold and the run's dev metrics
    /// beside the architecture, input recipe, detector and the producing command.
    pub fn meta(&self, arch: &str, input: usize, normalisation: &str, view: f64, detector: &str, command: &str) -> WeightsMeta {
        let mut meta = WeightsMeta {
            arch: arch.into(),
            input,
            normalisation: normalisation.into(),
            view: Some(view),
            thresholds: Default::default(),
            metrics: Default::default(),
            command: command.into(),
            detector: Some(detector.into()),
            crop: Default::default(),
        };
        meta.thresholds.liveness = self.dev.get("threshold").and_then(serde_json::Value::as_f64);
        meta.metrics.insert("dev".into(), self.dev.clone());
        meta.metrics.insert("best_epoch".into(), self.best.into());
        meta.metrics.insert("epochs".into(), self.state.epochs_done.into());
        meta
    }
}

/// Writes an exported weight file and reports it.
pub fn write_export(out: &Path, bytes: &[u8], meta: &WeightsMeta) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(serde_json::json!({ "file": out.display().to_string(), "bytes": bytes.len(), "meta": meta }))
}

/// Writes the best checkpoint of a run as the committed float16 teacher file, with the
/// dev-fixed operating threshold and the run's dev metrics in its header.
pub fn export(run: &Path, out: &Path, command: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let best = BestEpoch::<facegate_train::pad_teacher::PadTrainConfig>::read(run)?;
    let net = load_checkpoint(&run.join("best.bpk"))?;
    let meta = best.meta(PADNET_ARCH, PADNET_INPUT, "rgb/127.5-1", PADNET_VIEW, &best.config.detector, command);
    let bytes = facegate_train::pad_teacher::export(&net, meta.clone());
    write_export(out, &bytes, &meta)
}
