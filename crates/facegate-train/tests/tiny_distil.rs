//! A tiny distillation run on synthetic faces and synthetic teacher targets: every enabled
//! loss term falls, and the exported float16 student answers like the training graph.

mod common;

use burn::module::Module;
use common::synthetic;
use facegate_nets::weights::{WeightsError, WeightsMeta, load, to_bytes};
use facegate_nets::{PADNET_ARCH, STUDENT_ARCH, STUDENT_INPUT, STUDENT_VIEW, Student};
use facegate_train::distil::targets::{DESCRIPTOR, Projection, Targets, maps_len};
use facegate_train::distil::{DistilConfig, DistilNet, Source, infer, student_crop, train};
use half::f16;

/// Four "identities" with their own descriptor direction; live faces get a confident
/// teacher logit, attacks a negative one; stage maps follow the identity.
fn targets(n: usize) -> Targets {
    let mut descriptor = Vec::new();
    let mut fr_maps = Vec::new();
    for i in 0..n {
        let id = i % 4;
        descriptor.extend((0..DESCRIPTOR).map(|k| if k % 4 == id { 1.0 + (k % 7) as f32 * 0.1 } else { 0.05 }));
        fr_maps.extend((0..maps_len()).map(|k| f16::from_f32(((k + id * 5) % 11) as f32 / 11.0)));
    }
    let pad_logit = (0..n).map(|i| if i % 2 == 0 { 3.0 } else { -3.0 }).collect();
    Targets { key: "synthetic".into(), descriptor, pad_logit, fr_maps }
}

#[test]
fn every_enabled_term_falls_and_export_matches() {
    let n = 16;
    let data = synthetic(n, STUDENT_INPUT, false);
    let t = targets(n);
    let ids: Vec<usize> = (0..n).map(|i| i % 4).collect();
    let descriptors: Vec<&[f32]> = (0..n).map(|i| t.descriptor(i)).collect();
    let proj = Projection::fit(&descriptors, facegate_nets::student::EMBEDDING, 1);
    let sources = [Source { cache: &data, targets: &t, identity: ids.iter().map(|&i| Some(i)).collect(), pad_labelled: true }];
    let cfg = DistilConfig {
        epochs: 6,
        batch: 8,
        lr: 3e-3,
        seed: 5,
        // Runs of one seed are not bit-identical (three runs: first-epoch `emb` 1.003, 1.007,
        // 1.026); the embedding term moves slowest and gets the weight that lifts it clear.
        w_emb: 4.0,
        w_rel: 1.0,
        w_kd: 1.0,
        w_hard: 1.0,
        w_feat: 1.0,
        w_id: 1.0,
        identities: 4,
        // One thread: two shards sum their gradients in whichever order the threads finish, so
        // a busy machine changed the run enough to lift the noisy `rel` term (1 run in 10 with
        // both cores taken). Sharding has its own test (`two_shards_give_the_one_thread_step`).
        threads: 1,
        ..DistilConfig::default()
    };
    let out = std::env::temp_dir().join(format!("fg-distil-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let state = train(&sources, &[&data], &[(&data, ids.clone())], &proj, &cfg, &out, false, |_| {}).unwrap();
    assert_eq!(state.epochs_done, 6);
    let term = |epoch: usize, name: &str| state.log[epoch].dev["train_terms"][name].as_f64().unwrap();
    for name in ["emb", "rel", "kd", "hard", "feat", "id"] {
        let (first, last) = (term(0, name), term(5, name));
        assert!(last < first, "{name}: {first} -> {last}");
    }
    assert!(state.log[5].dev["pad"]["eer"].is_number() && state.log[5].dev["fr"]["tar_at_fmr_1e-3"].is_number(), "{}", state.log[5].dev);

    // --init: a run started from that checkpoint begins where the first one ended.
    let tuned = out.with_extension("init");
    let _ = std::fs::remove_dir_all(&tuned);
    let init = DistilConfig { epochs: 1, init: Some(out.join("best.bpk")), ..cfg.clone() };
    let again = train(&sources, &[&data], &[(&data, ids.clone())], &proj, &init, &tuned, false, |_| {}).unwrap();
    let kd = |s: &facegate_train::checkpoint::RunState| s.log[0].dev["train_terms"]["kd"].as_f64().unwrap();
    assert!(kd(&again) < kd(&state), "{} vs {}", kd(&again), kd(&state));
    std::fs::remove_dir_all(&tuned).unwrap();

    // Export: the student alone, float16, answers within 1e-3 of the training graph.
    let device = burn::tensor::Device::flex();
    let net = DistilNet::for_config(&cfg, &device).try_load_file(out.join("best.bpk")).unwrap().valid();
    let meta =
        WeightsMeta { arch: STUDENT_ARCH.into(), input: STUDENT_INPUT, normalisation: "rgb/127.5-1".into(), view: Some(STUDENT_VIEW), ..Default::default() };
    let bytes = to_bytes(&net.student, &meta);
    let (loaded, got_meta) = load(Student::new(&device), &bytes, STUDENT_ARCH).unwrap();
    assert_eq!(got_meta.view(), STUDENT_VIEW);
    let crops: Vec<Vec<f32>> = (0..n).map(|i| student_crop(&data, i)).collect();
    let (e1, l1) = infer(&net.student, &crops);
    let (e2, l2) = infer(&loaded.valid(), &crops);
    for (a, b) in e1.iter().flatten().zip(e2.iter().flatten()).chain(l1.iter().zip(&l2)) {
        assert!((a - b).abs() < 1e-3, "{a} vs {b}");
    }
    // --init from an exported file, with camera effects: the run starts from its weights (its
    // first epoch is as good as the end of the run that made it) and they keep training.
    let fgw = out.join("student.fgw");
    std::fs::write(&fgw, &bytes).unwrap();
    let from_file = out.with_extension("fgw-init");
    let _ = std::fs::remove_dir_all(&from_file);
    let cfg_file = DistilConfig { epochs: 1, init: Some(fgw), camera: 0.5, ..cfg.clone() };
    let again = train(&sources, &[&data], &[(&data, ids.clone())], &proj, &cfg_file, &from_file, false, |_| {}).unwrap();
    assert!(kd(&again) < kd(&state), "{} vs {}", kd(&again), kd(&state));
    let tuned_net = DistilNet::for_config(&cfg, &device).try_load_file(from_file.join("best.bpk")).unwrap().valid();
    let (e3, _) = infer(&tuned_net.student, &crops);
    let moved = e2.iter().flatten().zip(e3.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(moved > 1e-3, "the loaded weights did not train (largest change {moved})");
    std::fs::remove_dir_all(&from_file).unwrap();

    // The loader refuses what is not this student.
    assert_eq!(load(Student::new(&device), &bytes[..bytes.len() - 9], STUDENT_ARCH).unwrap_err(), WeightsError::Truncated);
    assert!(matches!(load(Student::new(&device), &bytes, PADNET_ARCH), Err(WeightsError::Arch { .. })));
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn web_photos_get_no_live_attack_label() {
    let n = 8;
    let data = synthetic(n, STUDENT_INPUT, false);
    let t = targets(n);
    let descriptors: Vec<&[f32]> = (0..n).map(|i| t.descriptor(i)).collect();
    let proj = Projection::fit(&descriptors, facegate_nets::student::EMBEDDING, 1);
    let cfg =
        DistilConfig { epochs: 1, batch: 8, w_emb: 0.0, w_rel: 0.0, w_kd: 1.0, w_hard: 1.0, w_feat: 0.0, w_id: 0.0, identities: 1, ..DistilConfig::default() };
    let mut hard = Vec::new();
    for pad_labelled in [false, true] {
        let sources = [Source { cache: &data, targets: &t, identity: vec![None; n], pad_labelled }];
        let out = std::env::temp_dir().join(format!("fg-distil-web-{}-{pad_labelled}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let state = train(&sources, &[&data], &[(&data, vec![0; n])], &proj, &cfg, &out, false, |_| {}).unwrap();
        let term = |name: &str| state.log[0].dev["train_terms"][name].as_f64().unwrap();
        assert!(term("kd") > 0.0, "the teacher's soft label applies to every face");
        hard.push(term("hard"));
        std::fs::remove_dir_all(&out).unwrap();
    }
    assert_eq!(hard[0], 0.0, "unlabelled faces carry no hard-label loss");
    assert!(hard[1] > 0.0);
}

/// A run stopped within an epoch resumes after the last batch it checkpointed: it trains only
/// the batches left, then closes the epoch as usual.
#[test]
fn a_run_stopped_within_an_epoch_resumes_from_its_last_batch() {
    use facegate_train::checkpoint::Event;
    let n = 24;
    let data = synthetic(n, STUDENT_INPUT, false);
    let t = targets(n);
    let descriptors: Vec<&[f32]> = (0..n).map(|i| t.descriptor(i)).collect();
    let proj = Projection::fit(&descriptors, facegate_nets::student::EMBEDDING, 1);
    let sources = [Source { cache: &data, targets: &t, identity: vec![None; n], pad_labelled: true }];
    let cfg = DistilConfig { epochs: 1, batch: 8, checkpoint_steps: 1, identities: 1, ..DistilConfig::default() };
    let out = std::env::temp_dir().join(format!("fg-distil-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    // Killed while the third of three batches runs: two are checkpointed.
    let killed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        train(&sources, &[&data], &[(&data, vec![0; n])], &proj, &cfg, &out, false, |e| {
            if let Event::Step { step: 2, .. } = e {
                panic!("killed");
            }
        })
    }));
    assert!(killed.is_err());
    let state: facegate_train::checkpoint::RunState = serde_json::from_str(&std::fs::read_to_string(out.join("state.json")).unwrap()).unwrap();
    assert_eq!((state.epochs_done, state.steps_done), (0, 2));
    let mut steps = Vec::new();
    let done = train(&sources, &[&data], &[(&data, vec![0; n])], &proj, &cfg, &out, true, |e| {
        if let Event::Step { step, .. } = e {
            steps.push(step);
        }
    })
    .unwrap();
    assert_eq!(steps, [2], "only the batch left is trained");
    assert_eq!((done.epochs_done, done.steps_done, done.step_rng), (1, 0, None));
    assert_eq!(done.log.len(), 1);
    std::fs::remove_dir_all(&out).unwrap();
}
