//! `facegate train minifas` and `facegate export minifas`: MiniFASNet V2 SE fine-tuned on the
//! cross-camera protocol's train split (+ CelebA live faces), on exactly its evaluation crop.

use crate::faces::{Cropper, check_dir};
use crate::progress::{Progress, epoch_reporter};
use crate::train_pad::{BestEpoch, write_export};
use facegate_datasets::faces::celeba;
use facegate_datasets::pad::{Label, Sample};
use facegate_datasets::splits::{CrossCameraSplits, Split};
use facegate_face::CropSpec;
use facegate_teachers::{OnnxKind, OnnxTeacher};
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
pub(crate) fn crop_spec() -> CropSpec {
    OnnxTeacher::crop_spec_of(OnnxKind::Minifas)
}

/// Each sample's crop, cut once, as u8 (all live when `live` is set).
pub(crate) fn cut(cropper: &mut Cropper, spec: CropSpec, samples: &[Sample], label: &str, live: bool) -> Result<Vec<Crop>, Box<dyn std::error::Error>> {
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

/// The CelebA live faces epochs draw from: a fixed pool (seeded) of three epochs' worth.
pub(crate) fn extra_live(cropper: &mut Cropper, spec: CropSpec, args: &MinifasArgs) -> Result<Vec<Crop>, Box<dyn std::error::Error>> {
    if args.config.extra_live == 0 {
        return Ok(Vec::new());
    }
    let dir = args.data.join("celeba-subset");
    check_dir(&dir)?;
    let mut all = celeba(&dir)?;
    facegate_train::rng::Rng(args.config.seed ^ 0x00CE_1EBA).shuffle(&mut all);
    all.truncate(3 * args.config.extra_live);
    cut(cropper, spec, &all, "celeba live", true)
}

pub fn run(args: &MinifasArgs) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let spec = crop_spec();
    let base = base_graph()?;
    let protocol = CrossCameraSplits::load(&args.splits)?;
    let mut cropper = Cropper::new(&args.config.detector)?;
    let train_set = cut(&mut cropper, spec, &protocol.samples(&args.data, Split::Train)?, "train", false)?;
    let dev = cut(&mut cropper, spec, &protocol.samples(&args.data, Split::Dev)?, "dev", false)?;
    let extra = extra_live(&mut cropper, spec, args)?;
    let per_epoch = train_set.len() + args.config.extra_live.min(extra.len());
    let steps = facegate_train::checkpoint::steps_per_epoch(per_epoch, args.config.batch, args.config.max_steps);
    eprintln!("train: {per_epoch} crops per epoch ({steps} steps), dev: {} crops", dev.len());
    let state = train(&base, &train_set, &extra, &dev, &args.config, &args.out, args.resume, epoch_reporter(args.config.epochs))?;
    Ok(serde_json::to_value(&state)?)
}

/// Writes the best checkpoint of a run as a float16 weight file with its dev threshold.
pub fn export(run: &Path, out: &Path, command: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let best = BestEpoch::<MinifasTrainConfig>::read(run)?;
    let net = load_checkpoint(&base_graph()?, &run.join("best.bpk"))?;
    let view = match crop_spec() {
        CropSpec::Reflected { view, .. } => view,
        _ => 1.0,
    };
    let meta = best.meta(MINIFAS_FT_ARCH, MINIFAS_INPUT, "rgb/255", view, &best.config.detector, command);
    let bytes = facegate_train::minifas::export(&net, &meta);
    write_export(out, &bytes, &meta)
}
