//! The `facegate` binary as a user runs it: real data, real teachers, and clear one-line
//! errors naming the offending file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data() -> PathBuf {
    std::env::var_os("FACEGATE_DATA").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

fn facegate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facegate")).args(args).output().expect("run facegate")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("facegate-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails with exit code 1 and a single `error:` line that mentions `needle`.
fn assert_one_line_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains(needle), "{err}");
}

#[test]
fn missing_folder_is_named() {
    let out = facegate(&["eval", "lfw", "--model", "faceres", "--data", "/no/such/lfw", "--folds", "1"]);
    assert_one_line_error(&out, "/no/such/lfw");
    let out = facegate(&["eval", "pad", "--model", "antispoof", "--live", "/no/such/live"]);
    assert_one_line_error(&out, "/no/such/live");
}

#[test]
fn malformed_pairs_file_is_named_with_its_line() {
    let dir = scratch("pairs");
    std::fs::write(dir.join("pairs.txt"), "1 1\nA 1 2\nA one B 2\n").unwrap();
    let out = facegate(&["eval", "lfw", "--model", "faceres", "--data", dir.to_str().unwrap()]);
    assert_one_line_error(&out, "pairs.txt:3");
}

#[test]
fn unreadable_image_is_named() {
    let dir = scratch("img");
    std::fs::create_dir_all(dir.join("A")).unwrap();
    std::fs::write(dir.join("pairs.txt"), "1 1\nA 1 2\nA 1 A 2\n").unwrap();
    std::fs::write(dir.join("A/A_0001.jpg"), b"not a jpeg").unwrap();
    std::fs::copy(data().join("lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg"), dir.join("A/A_0002.jpg")).unwrap();
    let out = facegate(&["eval", "lfw", "--model", "faceres", "--data", dir.to_str().unwrap()]);
    assert_one_line_error(&out, "A_0001.jpg");
}

#[test]
fn wrong_model_for_the_task_is_refused() {
    let out = facegate(&["eval", "lfw", "--model", "antispoof", "--data", data().join("lfw").to_str().unwrap(), "--folds", "1"]);
    assert_one_line_error(&out, "not a face-recognition model");
    let out = facegate(&["eval", "lfw", "--model", "resnet", "--data", data().join("lfw").to_str().unwrap(), "--folds", "1"]);
    assert_one_line_error(&out, "unknown teacher");
}

/// The quick check from docs/training.md, with an accuracy floor measured on this data
/// (fold 1 scored 97.2% with faceres + HSE recipe).
#[test]
fn lfw_first_fold_writes_the_documented_keys_and_is_accurate() {
    let dir = scratch("lfw-json");
    let json = dir.join("out.json");
    let out = facegate(&[
        "eval",
        "lfw",
        "--model",
        "faceres",
        "--recipe",
        "hse",
        "--data",
        data().join("lfw").to_str().unwrap(),
        "--folds",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in ["model", "folds", "accuracy", "accuracy_std", "tar_at_far_1e-3", "auc"] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["folds"], 1);
    assert_eq!(v["pairs"], 600);
    assert!(v["accuracy"].as_f64().unwrap() >= 0.95, "{v}");
    assert!(v["auc"].as_f64().unwrap() >= 0.98, "{v}");
}

/// PAD on the full-frame camera sequences: 48 live and 48 print frames of one person.
#[test]
fn pad_on_folders_reports_per_kind_metrics() {
    let seq = data().join("nuaa-sequences");
    let dir = scratch("pad-json");
    let (json, csv) = (dir.join("pad.json"), dir.join("scores.csv"));
    let out = facegate(&[
        "eval",
        "pad",
        "--model",
        "liveness",
        "--live",
        seq.join("live").to_str().unwrap(),
        "--attack",
        &format!("print={}", seq.join("print").display()),
        "--json",
        json.to_str().unwrap(),
        "--scores",
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in ["model", "apcer", "bpcer", "acer", "hter", "auc", "threshold"] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["n_live"], 48);
    assert_eq!(v["n_attack"]["print"], 48);
    assert_eq!(v["threshold_from"], "eer-on-test");
    assert!(v["apcer"]["print"].as_f64().unwrap() <= 1.0);
    // Per-group breakdown: each folder is a group with its own counts.
    let groups = v["per_group"].as_object().unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert!(groups.values().any(|g| g["n_live"] == 48 && g["n_attack"] == 0));
    // --scores: one row per image, and the rows give back the reported APCER.
    let csv = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.rsplitn(3, ',').collect()).collect();
    assert_eq!(rows.len(), 96);
    let threshold = v["threshold"].as_f64().unwrap();
    let passed = rows.iter().filter(|r| r[1] == "print" && r[0].parse::<f64>().unwrap() >= threshold).count();
    assert_eq!(passed as f64 / 48.0, v["apcer"]["print"].as_f64().unwrap());
}

#[test]
fn a_foreign_or_truncated_weight_file_is_refused() {
    let dir = scratch("fgw");
    let bad = dir.join("model.fgw");
    std::fs::write(&bad, b"PK\x03\x04 this is a zip").unwrap();
    let live = data().join("nuaa-sequences/live");
    let out = facegate(&["eval", "pad", "--model", bad.to_str().unwrap(), "--live", live.to_str().unwrap()]);
    assert_one_line_error(&out, "not a facegate weight file");
    std::fs::write(&bad, b"FGWT\x01\x00\xff\xff\x00\x00\x00\x00\x00\x00").unwrap();
    let out = facegate(&["eval", "pad", "--model", bad.to_str().unwrap(), "--live", live.to_str().unwrap()]);
    assert_one_line_error(&out, "truncated");
}

fn committed(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models").join(file).display().to_string()
}

#[test]
fn the_student_fits_its_budget_and_is_not_taken_for_a_teacher() {
    // Its teachers: SFace and the fine-tuned MiniFAS.
    let out = facegate(&["report", "--student", &committed("student.fgw"), "--pad-teacher", &committed("minifas-ft.fgw")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Issue targets: <= 600 KB, <= 3% of the teachers' float32 bytes, <= 100 MFLOPs per face.
    assert!(r["student"]["file_bytes"].as_u64().unwrap() <= 600_000, "{r}");
    assert!(r["student_bytes_vs_teachers_float32"].as_f64().unwrap() <= 0.03, "{r}");
    assert!(r["student"]["mflops_per_face"].as_f64().unwrap() <= 100.0, "{r}");
    assert!(r["student_flops_vs_teachers"].as_f64().unwrap() <= 0.1, "{r}");
    assert_eq!(r["teachers"]["recognition"]["mflops_per_face"].as_f64().unwrap(), 2.0 * 574.13888, "{r}");
    assert!(r["student_thresholds"]["liveness"].is_number() && r["student_thresholds"]["match"].is_number(), "{r}");
    let lfw = data().join("lfw");
    let out = facegate(&["eval", "lfw", "--model", &committed("pad-teacher.fgw"), "--data", lfw.to_str().unwrap(), "--folds", "1"]);
    assert_one_line_error(&out, "not a face-recognition model");
}

/// The committed student's operating points are what `export recalibrate` measures on the dev
/// data today, and recalibrating rewrites only the header.
#[test]
fn recalibrating_the_committed_student_gives_back_its_thresholds() {
    let out_file = scratch("recalibrate").join("student.fgw");
    let splits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../splits/pad-cross-camera.json");
    let out = Command::new(env!("CARGO_BIN_EXE_facegate"))
        .env("FACEGATE_CACHE", Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache"))
        .args(["export", "recalibrate", "--model", &committed("student.fgw"), "--out", out_file.to_str().unwrap()])
        .args(["--data", data().to_str().unwrap(), "--splits", splits.to_str().unwrap(), "--pad-teacher", &committed("minifas-ft.fgw")])
        .output()
        .expect("run facegate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (old, new) = (std::fs::read(committed("student.fgw")).unwrap(), std::fs::read(&out_file).unwrap());
    let (old_meta, new_meta) = (facegate_nets::weights::read_meta(&old).unwrap(), facegate_nets::weights::read_meta(&new).unwrap());
    let (old_t, new_t) = (old_meta.thresholds, new_meta.thresholds);
    for (key, a, b) in [("liveness", old_t.liveness, new_t.liveness), ("match", old_t.matching, new_t.matching)] {
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!((a - b).abs() < 2e-3, "{key}: committed {a}, measured now {b}");
    }
    assert_eq!(new_meta.detector(), old_meta.detector());
    let tensors = facegate_nets::weights::tensor_section;
    assert!(tensors(&old).unwrap() == tensors(&new).unwrap(), "the weights changed");
}

/// SFace through facegate's own short-range detector, landmark alignment and kernels: the
/// first LFW fold (the 10-fold figure is in docs/teachers.md; floor set below the fold's measured value).
#[test]
fn sface_on_aligned_short_range_crops_is_accurate_on_the_first_lfw_fold() {
    let dir = scratch("lfw-sface");
    let json = dir.join("out.json");
    let out = facegate(&[
        "eval",
        "lfw",
        "--model",
        "sface",
        "--detector",
        "facemesh-detection-short",
        "--data",
        data().join("lfw").to_str().unwrap(),
        "--folds",
        "1",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!((v["pairs"].as_u64(), v["alignment"].as_str()), (Some(600), Some("landmarks")), "{v}");
    assert!(v["accuracy"].as_f64().unwrap() >= 0.975, "{v}");
    let out = facegate(&["eval", "lfw", "--model", "minifas", "--data", data().join("lfw").to_str().unwrap(), "--folds", "1"]);
    assert_one_line_error(&out, "not a face-recognition model");
}

/// MiniFASNet on its own border-reflected view of full camera frames: one person, live
/// against a printed photo of themself.
#[test]
fn minifas_tells_the_live_sequence_from_the_printed_photo() {
    let seq = data().join("nuaa-sequences");
    let dir = scratch("pad-minifas");
    let json = dir.join("pad.json");
    let out = facegate(&[
        "eval",
        "pad",
        "--model",
        "minifas",
        "--detector",
        "facemesh-detection-short",
        "--live",
        seq.join("live").to_str().unwrap(),
        "--attack",
        &format!("print={}", seq.join("print").display()),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(v["auc"].as_f64().unwrap() >= 0.9, "{v}");
}

/// Enrolled in one NUAA session, logging in at another, through the browser's engine: the
/// documented keys, the subjects filmed twice, and no stranger let in (the committed student
/// measured 12 of 3151 impostor log-ins accepted, 0.38%).
#[test]
fn sessions_reports_genuine_and_impostor_log_ins_and_keeps_strangers_out() {
    let dir = scratch("sessions");
    let json = dir.join("sessions.json");
    let out = facegate(&[
        "eval",
        "sessions",
        "--model",
        &committed("student.fgw"),
        "--nuaa",
        data().join("nuaa").to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in ["model", "detector", "thresholds", "subjects", "sessions", "genuine", "impostor", "per_subject"] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    let stored = facegate_nets::weights::read_meta(&std::fs::read(committed("student.fgw")).unwrap()).unwrap();
    assert_eq!(v["detector"], stored.detector(), "the detector the file names");
    let subjects = v["subjects"].as_array().unwrap();
    assert!(subjects.len() >= 5, "{}", v["subjects"]);
    for s in subjects {
        let sessions = v["sessions"][s.as_str().unwrap()].as_array().unwrap();
        assert!(sessions.len() >= 2, "{s}: {sessions:?}");
        assert!(v["per_subject"].get(s.as_str().unwrap()).is_some(), "{s}");
    }
    for side in ["genuine", "impostor"] {
        let t = &v[side];
        for key in ["attempts", "accepted", "rate", "refused_not_live", "refused_no_match", "refused_no_face"] {
            assert!(t.get(key).is_some(), "missing {side}.{key} in {t}");
        }
        assert!(t["attempts"].as_u64().unwrap() > 0, "{side}: {t}");
        let rate = t["rate"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&rate), "{side}: {t}");
        let parts = ["accepted", "refused_not_live", "refused_no_match", "refused_no_face"].iter().map(|k| t[k].as_u64().unwrap()).sum::<u64>();
        assert_eq!(parts, t["attempts"].as_u64().unwrap(), "{side}: {t}");
    }
    assert!(v["frames"]["verify_parity_checked"].as_u64().unwrap() > 0, "{}", v["frames"]);
    assert!(v["impostor"]["rate"].as_f64().unwrap() <= 0.05, "impostor log-ins accepted: {}", v["impostor"]);
}

#[test]
fn sessions_without_the_nuaa_folder_names_it() {
    let out = facegate(&["eval", "sessions", "--model", &committed("student.fgw"), "--nuaa", "/no/such/nuaa"]);
    assert_one_line_error(&out, "/no/such/nuaa");
}

/// The committed fine-tuned MiniFAS opens like the original (same crop, on the kernels) and
/// brings its dev-fixed threshold.
#[test]
fn the_fine_tuned_minifas_uses_the_threshold_it_stores() {
    let seq = data().join("nuaa-sequences");
    let dir = scratch("pad-minifas-ft");
    let json = dir.join("pad.json");
    let out = facegate(&[
        "eval",
        "pad",
        "--model",
        &committed("minifas-ft.fgw"),
        "--detector",
        "facemesh-detection-short",
        "--live",
        seq.join("live").to_str().unwrap(),
        "--attack",
        &format!("print={}", seq.join("print").display()),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["threshold_from"], "model-file", "{v}");
    assert!(v["auc"].as_f64().unwrap() >= 0.9, "{v}");
}
