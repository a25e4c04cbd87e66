//! `facegate`: evaluate, train and export face models. This file parses the command line;
//! what each command does is in `facegate-lab`.

use facegate_lab::{eval_lfw, eval_pad, eval_sessions, faces, pad_loso, report, train_minifas, train_pad, train_student};

use clap::{Parser, Subcommand};
use facegate_face::Alignment;
use facegate_teachers::Recipe;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "facegate", version, about = "Face authentication models: evaluation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure a model on a standard protocol.
    Eval {
        #[command(subcommand)]
        what: Eval,
    },
    /// Train one of facegate's own networks (checkpoints every epoch; --resume continues).
    Train {
        #[command(subcommand)]
        what: Train,
    },
    /// Size and cost of the student against its two teachers.
    Report {
        #[arg(long, default_value = "models/student.fgw")]
        student: String,
        /// The anti-spoofing teacher it was distilled from: a fine-tuned MiniFAS or PadNet file, or `minifas`.
        #[arg(long, default_value = "models/minifas-ft.fgw")]
        pad_teacher: String,
        /// The face-recognition teacher it was distilled from (`sface`, or a TF.js teacher).
        #[arg(long, default_value = "sface")]
        fr_teacher: String,
    },
    /// Write a trained run as a committed float16 weight file.
    Export {
        #[command(subcommand)]
        what: Export,
    },
}

#[derive(Subcommand)]
enum Train {
    /// The anti-spoofing teacher (PadNet) on NUAA train + replay train sets (splits/pad.json).
    PadTeacher {
        /// Folder holding nuaa/ and replay/.
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        #[arg(long, default_value = "splits/pad.json")]
        splits: PathBuf,
        #[arg(long, default_value = "runs/pad-teacher")]
        out: PathBuf,
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        #[arg(long, default_value_t = 5e-4)]
        lr: f64,
        #[arg(long, default_value_t = 1e-4)]
        weight_decay: f64,
        #[arg(long, default_value_t = 17)]
        seed: u64,
        /// Cap on batches per epoch (smoke runs); 0 = whole epoch.
        #[arg(long, default_value_t = 0)]
        max_steps: usize,
        /// Continue from the run's last checkpoint.
        #[arg(long)]
        resume: bool,
        /// Trunk initialisation: faceres (the HSE face network, same architecture) or none.
        #[arg(long, default_value = "faceres")]
        init: String,
        /// CelebA faces (data/celeba-subset) added to each epoch as extra live examples; 0 = none.
        #[arg(long, default_value_t = 1000)]
        extra_live: usize,
        /// Face detector whose crops it trains on: blazeface or facemesh-detection-short.
        #[arg(long, default_value = faces::DETECTOR)]
        detector: String,
    },
    /// The multi-task student, distilled from SFace and the fine-tuned MiniFAS on its aligned
    /// view of every non-LFW face: CelebA (9 of 10 identities), UTKFace, the protocol's train
    /// split and, with --extra, the larger public collections. A loss weight of 0 switches its
    /// term off.
    Student(StudentOpts),
    /// MiniFASNet V2 SE fine-tuned on the cross-camera protocol's train split (+ CelebA live
    /// faces) on its own evaluation crop: class-balanced cross-entropy plus KL to the original.
    Minifas {
        #[command(flatten)]
        opts: MinifasOpts,
        #[arg(long, default_value = "runs/minifas-ft")]
        out: PathBuf,
        /// Continue from the run's last checkpoint.
        #[arg(long)]
        resume: bool,
    },
}

/// The fine-tuned MiniFAS recipe (`train minifas`, `eval pad-loso`).
#[derive(clap::Args)]
struct MinifasOpts {
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    #[arg(long, default_value = "splits/pad-cross-camera.json")]
    splits: PathBuf,
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch: usize,
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    #[arg(long, default_value_t = 17)]
    seed: u64,
    /// Cap on batches per epoch (smoke runs); 0 = whole epoch.
    #[arg(long, default_value_t = 0)]
    max_steps: usize,
    /// CelebA live faces drawn into each epoch; 0 = none.
    #[arg(long, default_value_t = 1000)]
    extra_live: usize,
    /// Weight of the KL term to the original MiniFAS's softmax.
    #[arg(long, default_value_t = 0.5)]
    kd: f64,
    #[arg(long, default_value = "facemesh-detection-short")]
    detector: String,
    /// Probability of camera augmentation (resolution, colour, gamma, blur, JPEG) per crop.
    #[arg(long, default_value_t = 0.0)]
    camera: f64,
}

impl MinifasOpts {
    fn into_args(self, out: PathBuf, resume: bool) -> train_minifas::MinifasArgs {
        let config = facegate_train::minifas::MinifasTrainConfig {
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr,
            weight_decay: self.weight_decay,
            seed: self.seed,
            max_steps: self.max_steps,
            extra_live: self.extra_live,
            kd: self.kd,
            detector: self.detector,
            camera: self.camera,
        };
        train_minifas::MinifasArgs { data: self.data, splits: self.splits, out, config, resume }
    }
}

/// `train student` options; a loss weight of 0 switches its term off.
#[derive(clap::Args)]
struct StudentOpts {
    /// Folder holding celeba-subset/, utkface-subset/, nuaa/, replay/ and pad-frames/.
    #[arg(long, default_value = "../shared/data")]
    data: PathBuf,
    #[arg(long, default_value = "splits/pad-cross-camera.json")]
    splits: PathBuf,
    /// The anti-spoofing teacher: a fine-tuned MiniFAS file, or `minifas`.
    #[arg(long, default_value = "models/minifas-ft.fgw")]
    pad_teacher: String,
    /// Folder where the larger public face collections were unpacked (docs/data.md).
    #[arg(long)]
    extra: Option<PathBuf>,
    /// Threads that cut crops and run the teachers when the data is first built.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value = "runs/student")]
    out: PathBuf,
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    #[arg(long, default_value_t = 23)]
    seed: u64,
    #[arg(long, default_value_t = 0)]
    max_steps: usize,
    #[arg(long)]
    resume: bool,
    /// Cosine to the centred recognition-teacher descriptor.
    #[arg(long, default_value_t = 1.0)]
    w_emb: f64,
    /// Pairwise-similarity (relational) distillation.
    #[arg(long, default_value_t = 1.0)]
    w_rel: f64,
    /// Soft labels of the anti-spoofing teacher.
    #[arg(long, default_value_t = 1.0)]
    w_kd: f64,
    /// Live/attack labels.
    #[arg(long, default_value_t = 0.5)]
    w_hard: f64,
    /// Multi-layer feature alignment with SFace (2 stages).
    #[arg(long, default_value_t = 1.0)]
    w_feat: f64,
    /// CelebA identity classification (the labels-only baseline).
    #[arg(long, default_value_t = 0.0)]
    w_id: f64,
    /// Soft-label temperature.
    #[arg(long, default_value_t = 2.0)]
    temperature: f64,
    /// Fine-tune: start from this checkpoint (e.g. runs/student/best.bpk) or an exported student (.fgw) instead of random weights.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Probability of camera augmentation (resolution, colour, blur, JPEG) per training crop.
    #[arg(long, default_value_t = 0.0)]
    camera: f64,
    /// Face detector whose crops it trains on (blazeface or facemesh-detection-short); the
    /// exported file records it and the browser build embeds the same one.
    #[arg(long, default_value = "facemesh-detection-short")]
    detector: String,
    /// Also checkpoint every this many batches (an epoch can outlast a session); 0 = at epoch ends.
    #[arg(long, default_value_t = 200)]
    checkpoint_steps: usize,
    /// Threads a training step runs on: the batch is cut into this many shards, each run
    /// forward and backward on its own core (1.8x the images/s of one on this 2-core machine).
    #[arg(long, default_value_t = 2)]
    train_threads: usize,
}

impl StudentOpts {
    fn config(&self) -> facegate_train::distil::DistilConfig {
        facegate_train::distil::DistilConfig {
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr,
            weight_decay: self.weight_decay,
            seed: self.seed,
            max_steps: self.max_steps,
            w_emb: self.w_emb,
            w_rel: self.w_rel,
            w_kd: self.w_kd,
            w_hard: self.w_hard,
            w_feat: self.w_feat,
            w_id: self.w_id,
            temperature: self.temperature,
            identities: 0,
            init: self.init.clone(),
            camera: self.camera,
            checkpoint_steps: self.checkpoint_steps,
            threads: self.train_threads,
            detector: self.detector.clone(),
        }
    }
}

#[derive(Subcommand)]
enum Export {
    /// Best epoch of a student run -> FGWT student (float16, or int8 with --int8) with its operating thresholds.
    Student {
        #[arg(long, default_value = "runs/student")]
        run: PathBuf,
        #[arg(long, default_value = "models/student.fgw")]
        out: PathBuf,
        /// Store convolution and linear weights as int8 with per-channel scales (about half the bytes).
        #[arg(long)]
        int8: bool,
        /// Data the thresholds are fixed on: the PAD dev split and the held-out CelebA identities.
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        #[arg(long, default_value = "splits/pad-cross-camera.json")]
        splits: PathBuf,
        /// The anti-spoofing teacher the run's dev data was built with (the cache key names it).
        #[arg(long, default_value = "models/minifas-ft.fgw")]
        pad_teacher: String,
        /// Write the file even when its dev liveness EER is above 20% (an ablation row is
        /// measured whatever it reached; never for a file that ships).
        #[arg(long)]
        allow_weak: bool,
    },
    /// An exported student -> the same weights with operating thresholds measured again on the
    /// dev data (optionally on another detector's crops, which its header then names).
    Recalibrate {
        #[arg(long, default_value = "models/student.fgw")]
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Face detector (human-models name) to measure with; default: the one the file names.
        #[arg(long)]
        detector: Option<String>,
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        #[arg(long, default_value = "splits/pad-cross-camera.json")]
        splits: PathBuf,
        #[arg(long, default_value = "models/minifas-ft.fgw")]
        pad_teacher: String,
    },
    /// Best epoch of a pad-teacher run -> FGWT float16 file with its dev threshold.
    PadTeacher {
        #[arg(long, default_value = "runs/pad-teacher")]
        run: PathBuf,
        #[arg(long, default_value = "models/pad-teacher.fgw")]
        out: PathBuf,
    },
    /// Best epoch of a `train minifas` run -> FGWT float16 file (arch minifas-v2se-ft) with its dev threshold.
    Minifas {
        #[arg(long, default_value = "runs/minifas-ft")]
        run: PathBuf,
        #[arg(long, default_value = "models/minifas-ft.fgw")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once
enum Eval {
    /// Leave-one-set-out AUC of the fine-tuned MiniFAS recipe under the cross-camera protocol:
    /// one model per fold, trained on the train split less the set it then scores (dev and test
    /// sets share the fold that leaves nothing out). Resumable: a fold with a result is skipped.
    PadLoso {
        #[command(flatten)]
        opts: MinifasOpts,
        /// Where each fold's run lives while it trains (deleted once the fold is scored).
        #[arg(long, default_value = "runs/minifas-loso")]
        runs: PathBuf,
        /// `k/n`: run every n-th fold from the k-th, so n processes share the folds.
        #[arg(long, default_value = "0/1")]
        shard: String,
        /// The summary; the folds' results go to a folder of the same name without `.json`.
        #[arg(long, default_value = "results/pad-minifas-ft-loso.json")]
        json: PathBuf,
    },
    /// LFW View 2: 10-fold verification accuracy, TAR at FAR 1e-3, ROC AUC.
    Lfw {
        /// faceres | faceres-deep | sface, or a facegate weight file
        #[arg(long)]
        model: String,
        /// LFW folder with pairs.txt and <Person>/<Person>_NNNN.jpg
        #[arg(long)]
        data: PathBuf,
        /// Evaluate only the first K folds (quick checks; one fold picks its own threshold).
        #[arg(long)]
        folds: Option<usize>,
        /// Descriptor preprocessing: human (RGB 0..255) or hse (BGR, Caffe mean).
        #[arg(long, default_value = "human")]
        recipe: Recipe,
        /// Roll-align crops on the eye line.
        #[arg(long)]
        align: bool,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// Also write the metrics as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Face detector (human-models name): blazeface or facemesh-detection-short. Default:
        /// the one a facegate weight file names, else blazeface.
        #[arg(long)]
        detector: Option<String>,
    },
    /// Presentation-attack detection: APCER per attack kind, BPCER, ACER, HTER, AUC.
    ///
    /// The threshold is the EER point of the dev data when given (--dev-*), otherwise of the
    /// test data itself (reported as such).
    Pad {
        /// antispoof | liveness | minifas, or a facegate weight file
        #[arg(long)]
        model: String,
        /// NUAA folder: its official test split is scored.
        #[arg(long)]
        nuaa: Option<PathBuf>,
        /// Replay folder of <set>/{real,fake}.
        #[arg(long)]
        replay: Option<PathBuf>,
        /// Only these replay sets (comma-separated; default all).
        #[arg(long, value_delimiter = ',')]
        replay_sets: Vec<String>,
        /// A folder of live faces (repeatable).
        #[arg(long)]
        live: Vec<PathBuf>,
        /// KIND=DIR: a folder of attacks of one kind (repeatable), e.g. print=./prints
        #[arg(long, value_parser = parse_attack)]
        attack: Vec<(String, PathBuf)>,
        /// Split file (e.g. splits/pad.json): its dev split fixes the threshold, and --replay
        /// without --replay-sets scores its test sets.
        #[arg(long)]
        split: Option<PathBuf>,
        /// Cross-camera protocol file (splits/pad-cross-camera.json): its dev sets fix the
        /// threshold and every test set is scored (per set, and pooled over full camera views
        /// and over tight crops); --nuaa/--replay/... add more test data.
        #[arg(long)]
        protocol: Option<PathBuf>,
        /// Data root the split or protocol file refers to (holds nuaa/, replay/, pad-frames/).
        #[arg(long, default_value = "../shared/data")]
        split_data: PathBuf,
        /// NUAA folder whose official train split is the dev data.
        #[arg(long)]
        dev_nuaa: Option<PathBuf>,
        #[arg(long)]
        dev_replay: Option<PathBuf>,
        #[arg(long, value_delimiter = ',')]
        dev_replay_sets: Vec<String>,
        #[arg(long)]
        dev_live: Vec<PathBuf>,
        #[arg(long, value_parser = parse_attack)]
        dev_attack: Vec<(String, PathBuf)>,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write every test image's score to this CSV (path,label,score), to study where a
        /// model fails or how scores fuse over a sequence.
        #[arg(long)]
        scores: Option<PathBuf>,
        /// Face detector (human-models name): blazeface or facemesh-detection-short. Default:
        /// the one a facegate weight file names, else blazeface.
        #[arg(long)]
        detector: Option<String>,
    },
    /// Enrolled in one session, logging in at another: NUAA subjects filmed in several
    /// sessions, through the browser's engine (5-frame enrolment, 5-frame log-ins as
    /// www/app.js decides them), genuine and impostor accept rates; optionally TAR/FMR of the
    /// held-out CelebA identities at the matching threshold.
    Sessions {
        /// A student weight file (its header names the detector and the thresholds).
        #[arg(long, default_value = "models/student.fgw")]
        model: PathBuf,
        /// NUAA folder (its ClientRaw/ live frames are used).
        #[arg(long)]
        nuaa: PathBuf,
        /// CelebA folder (celeba-subset): its held-out identities' pairs give TAR and FMR.
        #[arg(long)]
        celeba: Option<PathBuf>,
        /// Replaces the stored liveness threshold.
        #[arg(long)]
        liveness_threshold: Option<f32>,
        /// Replaces the stored matching threshold.
        #[arg(long)]
        match_threshold: Option<f32>,
        /// At most N genuine log-ins per (subject, session) and N (up to 20) impostor log-ins
        /// per other subject, spread evenly (quick runs); default: all genuine, 20 impostor.
        #[arg(long)]
        max_groups: Option<usize>,
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn parse_attack(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((k, d)) if !k.is_empty() && !d.is_empty() => Ok((k.to_string(), PathBuf::from(d))),
        _ => Err(format!("`{s}` is not KIND=DIR")),
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// glibc hands freed blocks of a few MB back to the kernel (mmap, heap trim), so each
/// tensor of a forward pass page-faults in afresh. Measured natively: BlazeFace on a
/// 640x480 frame 66 -> 40 ms median, the PAD teacher's training step +15%. The browser's
/// allocator never gives memory back, so this also makes native timings closer to wasm's.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_TOP_PAD: i32 = -2;
    const M_MMAP_THRESHOLD: i32 = -3;
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 32 << 20); // glibc's maximum
        mallopt(M_TRIM_THRESHOLD, i32::MAX);
        mallopt(M_TOP_PAD, 16 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let (report, json) = match cli.command {
        Command::Eval { what: Eval::Lfw { model, data, folds, recipe, align, batch, json, detector } } => {
            let alignment = if align { Alignment::Roll } else { Alignment::None };
            let detector = faces::detector_for(&model, detector)?;
            let args = eval_lfw::LfwArgs { model: &model, data: &data, folds, recipe, alignment, batch, detector: &detector };
            (eval_lfw::run(&args)?, json)
        }
        Command::Eval {
            what:
                Eval::Pad {
                    model,
                    nuaa,
                    replay,
                    replay_sets,
                    live,
                    attack,
                    split,
                    protocol,
                    split_data,
                    dev_nuaa,
                    dev_replay,
                    dev_replay_sets,
                    dev_live,
                    dev_attack,
                    batch,
                    json,
                    scores,
                    detector,
                },
        } => {
            let test = eval_pad::PadSources { nuaa, replay, replay_sets, live, attack };
            let dev = eval_pad::PadSources { nuaa: dev_nuaa, replay: dev_replay, replay_sets: dev_replay_sets, live: dev_live, attack: dev_attack };
            let split = split.as_deref().map(|f| (f, split_data.as_path()));
            let protocol = protocol.as_deref().map(|f| (f, split_data.as_path()));
            let detector = faces::detector_for(&model, detector)?;
            (
                eval_pad::run(&eval_pad::PadArgs {
                    model: &model,
                    test: &test,
                    dev: &dev,
                    split,
                    protocol,
                    batch,
                    scores: scores.as_deref(),
                    detector: &detector,
                })?,
                json,
            )
        }
        Command::Eval { what: Eval::Sessions { model, nuaa, celeba, liveness_threshold, match_threshold, max_groups, json } } => {
            let args = eval_sessions::SessionsArgs { model: &model, nuaa: &nuaa, celeba: celeba.as_deref(), liveness_threshold, match_threshold, max_groups };
            (eval_sessions::run(&args)?, json)
        }
        Command::Train {
            what: Train::PadTeacher { data, splits, out, epochs, batch, lr, weight_decay, seed, max_steps, resume, init, extra_live, detector },
        } => {
            let config = facegate_train::pad_teacher::PadTrainConfig { epochs, batch, lr, weight_decay, seed, max_steps, init, extra_live, detector };
            let args = train_pad::PadTrainArgs { data, splits, out: out.clone(), config, resume };
            let state = train_pad::run(&args)?;
            (serde_json::json!({ "run": out.display().to_string(), "best_epoch": state["best_epoch"], "log": state["log"] }), None)
        }
        Command::Train { what: Train::Student(o) } => {
            let args = train_student::StudentArgs {
                data: o.data.clone(),
                splits: o.splits.clone(),
                pad_teacher: o.pad_teacher.clone(),
                extra: o.extra.clone(),
                threads: o.threads,
                out: o.out.clone(),
                config: o.config(),
                resume: o.resume,
            };
            let state = train_student::run(&args)?;
            (serde_json::json!({ "run": o.out.display().to_string(), "best_epoch": state["best_epoch"], "log": state["log"] }), None)
        }
        Command::Train { what: Train::Minifas { opts, out, resume } } => {
            let state = train_minifas::run(&opts.into_args(out.clone(), resume))?;
            (serde_json::json!({ "run": out.display().to_string(), "best_epoch": state["best_epoch"], "log": state["log"] }), None)
        }
        Command::Eval { what: Eval::PadLoso { opts, runs, shard, json } } => {
            let shard = pad_loso::Shard::parse(&shard)?;
            (pad_loso::run(&opts.into_args(runs, true), shard, &json)?, Some(json))
        }
        Command::Report { student, pad_teacher, fr_teacher } => (report::run(&student, &pad_teacher, &fr_teacher)?, None),
        Command::Export { what: Export::Student { run, out, int8, data, splits, pad_teacher, allow_weak } } => {
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            let storage = if int8 { facegate_nets::weights::Storage::Int8 } else { facegate_nets::weights::Storage::F16 };
            let dev = train_student::DevSet { data: &data, splits: &splits, pad_teacher: &pad_teacher };
            (train_student::export(&run, &out, &command, storage, &dev, allow_weak)?, None)
        }
        Command::Export { what: Export::Recalibrate { model, out, detector, data, splits, pad_teacher } } => {
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            let dev = train_student::DevSet { data: &data, splits: &splits, pad_teacher: &pad_teacher };
            (train_student::recalibrate(&model, &out, detector, &command, &dev)?, None)
        }
        Command::Export { what: Export::PadTeacher { run, out } } => {
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            (train_pad::export(&run, &out, &command)?, None)
        }
        Command::Export { what: Export::Minifas { run, out } } => {
            let command = std::env::args().collect::<Vec<_>>().join(" ");
            (train_minifas::export(&run, &out, &command)?, None)
        }
    };
    let mut shown = report.clone();
    if let Some(obj) = shown.as_object_mut() {
        obj.remove("no_face_files");
    }
    println!("{}", serde_json::to_string_pretty(&shown)?);
    if let Some(path) = json {
        std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
