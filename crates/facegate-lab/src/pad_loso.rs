//! `facegate eval pad-loso`: how the fine-tuned MiniFAS recipe does on a camera set it never
//! trained on, for every set of the cross-camera protocol, not only its three test webcams.
//! Each fold trains the recipe on the train split less one set and scores that set (AUC: a
//! fold has no dev data of its own to fix a threshold on). Folds are slow (minutes each on one
//! core), so each fold's result is a file and a rerun skips the folds that have one.

use crate::faces::Cropper;
use crate::progress::epoch_reporter;
use crate::train_minifas::{MinifasArgs, crop_spec, cut, extra_live};
use facegate_datasets::pad::Sample;
use facegate_datasets::splits::{CrossCameraSplits, LosoFold, Split, loso_set};
use facegate_train::minifas::{Crop, base_graph, dev_metrics, load_checkpoint, train};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `k/n`: this process runs folds k, k + n, k + 2n, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("--shard `{s}`: expected k/n with k < n, e.g. 0/2");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n) = (k.trim().parse::<usize>().map_err(|_| bad())?, n.trim().parse::<usize>().map_err(|_| bad())?);
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(Self { k, n })
    }
}

/// A fold's result file under the results folder (set names hold a `/`).
fn fold_file(dir: &Path, fold: &LosoFold) -> PathBuf {
    dir.join(format!("{}.json", fold.name.replace('/', "__")))
}

pub fn run(args: &MinifasArgs, shard: Shard, summary: &Path) -> Result<Value, Box<dyn std::error::Error>> {
    let protocol = CrossCameraSplits::load(&args.splits)?;
    let folds = protocol.loso_folds();
    let dir = summary.with_extension("");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let todo: Vec<&LosoFold> = folds.iter().skip(shard.k).step_by(shard.n).filter(|f| !fold_file(&dir, f).exists()).collect();
    if !todo.is_empty() {
        let spec = crop_spec();
        let base = base_graph()?;
        let mut cropper = Cropper::new(&args.config.detector)?;
        let mut samples: Vec<(Sample, Split)> = Vec::new();
        for split in [Split::Train, Split::Dev, Split::Test] {
            samples.extend(protocol.samples(&args.data, split)?.into_iter().map(|s| (s, split)));
        }
        let plain: Vec<Sample> = samples.iter().map(|(s, _)| s.clone()).collect();
        let crops = cut(&mut cropper, spec, &plain, "all sets", false)?;
        let extra = extra_live(&mut cropper, spec, args)?;
        for (i, fold) in todo.iter().enumerate() {
            eprintln!("fold {}/{} of this shard: leaves out {}", i + 1, todo.len(), fold.name);
            let train_set: Vec<Crop> =
                samples.iter().zip(&crops).filter(|((s, split), _)| *split == Split::Train && fold.trains_on(&s.group)).map(|(_, c)| c.clone()).collect();
            let out = args.out.join(fold.name.replace('/', "__"));
            let resume = out.join("state.json").exists();
            // No dev data: the recipe's epoch count is fixed, and the last epoch is the best.
            train(&base, &train_set, &extra, &[], &args.config, &out, resume, epoch_reporter(args.config.epochs))?;
            let net = load_checkpoint(&base, &out.join("last.bpk"))?;
            let mut sets = serde_json::Map::new();
            for set in &fold.scored {
                let mine: Vec<&Crop> = samples.iter().zip(&crops).filter(|((s, _), _)| loso_set(&s.group) == set).map(|(_, c)| c).collect();
                // Its EER and threshold come along: no dev data fixed them, so only AUC is read.
                sets.insert(set.clone(), dev_metrics(&net, &mine, &burn::tensor::Device::flex()).1);
            }
            let result = json!({ "fold": fold.name, "trained_on": train_set.len(), "extra_live": args.config.extra_live.min(extra.len()), "config": args.config, "sets": sets });
            let file = fold_file(&dir, fold);
            std::fs::write(&file, serde_json::to_string_pretty(&result)? + "\n").map_err(|e| format!("{}: {e}", file.display()))?;
            std::fs::remove_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        }
    }
    summarise(&folds, &dir)
}

/// Every set's held-out AUC from the fold files present, with their mean, median and minimum.
fn summarise(folds: &[LosoFold], dir: &Path) -> Result<Value, Box<dyn std::error::Error>> {
    let mut sets = serde_json::Map::new();
    let mut missing = Vec::new();
    for fold in folds {
        let file = fold_file(dir, fold);
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
                for (set, r) in v["sets"].as_object().into_iter().flatten() {
                    sets.insert(set.clone(), json!({ "auc": r["auc"], "n_live": r["n_live"], "n_attack": r["n_attack"], "fold": fold.name }));
                }
            }
            Err(_) => missing.push(fold.name.clone()),
        }
    }
    let mut aucs: Vec<f64> = sets.values().filter_map(|r| r["auc"].as_f64()).collect();
    aucs.sort_by(f64::total_cmp);
    let stats = if aucs.is_empty() {
        Value::Null
    } else {
        let median = if aucs.len() % 2 == 1 { aucs[aucs.len() / 2] } else { (aucs[aucs.len() / 2 - 1] + aucs[aucs.len() / 2]) / 2.0 };
        json!({ "sets": aucs.len(), "mean": aucs.iter().sum::<f64>() / aucs.len() as f64, "median": median, "min": aucs[0] })
    };
    Ok(json!({ "protocol": "leave-one-set-out", "complete": missing.is_empty(), "missing_folds": missing, "auc": stats, "sets": sets }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_bad_ones_are_refused() {
        assert_eq!(Shard::parse("1/2"), Ok(Shard { k: 1, n: 2 }));
        for bad in ["2/2", "1", "a/2", "0/0"] {
            assert!(Shard::parse(bad).unwrap_err().contains(bad), "{bad}");
        }
    }

    #[test]
    fn the_summary_reads_fold_files_and_names_missing_folds() {
        let dir = std::env::temp_dir().join(format!("fg-loso-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let folds = vec![
            LosoFold { name: "none".into(), scored: vec!["replay/a".into(), "replay/b".into()] },
            LosoFold { name: "pad-frames/c".into(), scored: vec!["pad-frames/c".into()] },
            LosoFold { name: "nuaa".into(), scored: vec!["nuaa".into()] },
        ];
        let write = |f: &LosoFold, sets: Value| std::fs::write(fold_file(&dir, f), json!({ "fold": f.name, "sets": sets }).to_string()).unwrap();
        write(&folds[0], json!({ "replay/a": { "auc": 0.9, "n_live": 1, "n_attack": 1 }, "replay/b": { "auc": 0.5, "n_live": 1, "n_attack": 1 } }));
        write(&folds[1], json!({ "pad-frames/c": { "auc": 0.7, "n_live": 1, "n_attack": 1 } }));
        let s = summarise(&folds, &dir).unwrap();
        assert_eq!(s["complete"], false);
        assert_eq!(s["missing_folds"], json!(["nuaa"]));
        assert_eq!(s["auc"]["sets"], 3);
        assert!((s["auc"]["median"].as_f64().unwrap() - 0.7).abs() < 1e-12 && (s["auc"]["min"].as_f64().unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(s["sets"]["pad-frames/c"]["fold"], "pad-frames/c");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
