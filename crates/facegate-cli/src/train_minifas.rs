//! `facegate train minifas` and `facegate export minifas`: MiniFASNet V2 SE fine-tuned on the
//! cross-camera protocol's train split (+ CelebA live faces), on exactly its evaluation crop.

use crate::faces::{Cropper, check_dir};
use crate::progress::{Progress, epoch_reporter};
use facegate_datasets::faces::celeba;
use facegate_datasets::pad::{Label, Sample};
use facegate_datasets::splits::{CrossCameraSplits, Split};
use facegate_face::CropSpec;
use facegate_nets::weights::WeightsMeta;
use facegate_teachers::OnnxTeacher;
use facegate_train::minifas::{Crop, MINIFAS_FT_ARCH, MINIFAS_INPUT, MinifasTrainConfig, base_graph, load_checkpoint, train};
use std::path::{Path, PathBuf};

pub struct MinifasArgs {
    pub data: PathBuf,
    pub splits: PathBuf,
    pub out: PathBuf,
    pub config: MinifasTrainConfig,
    pub resume: bool,
}

/// MiniFAS's own crop (the border-reflected wide view), the one `eval pad` reads.
pub fn crop_spec() -> Result<CropSpec, Box<dyn std::error::Error>> {
    Ok(OnnxTeacher::load("minifas")?.crop_spec())
}

/// Each sample's crop, cut once, as u8 (all live when `live` is set).
fn cut(cropper: &mut Cropper, spec: CropSpec, samples: &[Sample], label: &str, live: bool) -> Result<Vec<Crop>, Box<dyn std::error::Error>> {
    let mut bar = Progress::new(&format!("crop {label}"), samples.len());
    let missed = cropper.missed.len();
    let mut out = Vec::with_capacity(samples.len());
    for s in samples {
        let crop = cropper.cut(&s.path, spec)?;
        debug_assert_eq!(crop.len(), MINIFAS_INPUT * MINIFAS_INPUT * 3);
        out.push(Crop { pixels: crop.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect(), live: live || s.label == Label::Live });
        bar.inc(1);
    }
    bar.finish();
    eprintln!("{label}: {} crops ({} live), detector missed {}", out.len(), out.iter().filter(|c| c.live).count(), cropper.missed.len() - missed);
    Ok(out)
}

pub fn run(args: &MinifasArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let spec = crop_spec()?;
    let base = base_graph()?;
    let protocol = CrossCameraSplits::load(&args.splits)?;
    let mut cropper = Cropper::new(&burn::tensor::Device::flex(), &args.config.detector)?;
    let train_set = cut(&mut cropper, spec, &protocol.samples(&args.data, Split::Train)?, "train", false)?;
    let dev = cut(&mut cropper, spec, &protocol.samples(&args.data, Split::Dev)?, "dev", false)?;
    let extra = if args.config.extra_live > 0 {
        let dir = args.data.join("celeba-subset");
        check_dir(&dir)?;
        // A fixed pool (seeded) of three epochs' worth: each epoch draws its faces from it.
        let mut all = celeba(&dir)?;
        facegate_train::rng::Rng(args.config.seed ^ 0xCE1E_BA).shuffle(&mut all);
        all.truncate(3 * args.config.extra_live);
        cut(&mut cropper, spec, &all, "celeba live", true)?
    } else {
        Vec::new()
    };
    let per_epoch = train_set.len() + args.config.extra_live.min(extra.len());
    let steps = facegate_train::checkpoint::steps_per_epoch(per_epoch, args.config.batch, args.config.max_steps);
    eprintln!("train: {per_epoch} crops per epoch ({steps} steps), dev: {} crops", dev.len());
    let state = train(&base, &train_set, &extra, &dev, &args.config, &args.out, args.resume, epoch_reporter(args.config.epochs))?;
    Ok(serde_json::to_value(&state)?)
}

/// Writes the best checkpoint of a run as a float16 weight file with its dev threshold.
pub fn export(run: &Path, out: &Path, command: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let state_path = run.join("state.json");
    let state: facegate_train::checkpoint::RunState =
        serde_json::from_str(&std::fs::read_to_string(&state_path).map_err(|e| format!("{}: {e}", state_path.display()))?)
            .map_err(|e| format!("{}: {e}", state_path.display()))?;
    let best = state.best_epoch.ok_or_else(|| format!("{}: no finished epoch", state_path.display()))?;
    let cfg: MinifasTrainConfig = serde_json::from_value(state.config.clone()).map_err(|e| format!("{}: {e}", state_path.display()))?;
    let dev = state.log.iter().find(|l| l.epoch == best).map(|l| l.dev.clone()).unwrap_or_default();
    let base = base_graph()?;
    let net = load_checkpoint(&base, &run.join("best.bpk"))?;
    let view = match crop_spec()? {
        CropSpec::Reflected { view, .. } => view,
        _ => 1.0,
    };
    let mut meta = WeightsMeta {
        arch: MINIFAS_FT_ARCH.into(),
        input: MINIFAS_INPUT,
        normalisation: "rgb/255".into(),
        view: Some(view),
        thresholds: Default::default(),
        metrics: Default::default(),
        command: command.into(),
        detector: Some(cfg.detector.clone()),
    };
    if let Some(t) = dev.get("threshold") {
        meta.thresholds.insert("liveness".into(), t.clone());
    }
    meta.metrics.insert("dev".into(), dev.clone());
    meta.metrics.insert("best_epoch".into(), best.into());
    meta.metrics.insert("epochs".into(), state.epochs_done.into());
    let bytes = facegate_train::minifas::export(&net, &meta);
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(serde_json::json!({ "file": out.display().to_string(), "bytes": bytes.len(), "meta": meta }))
}
