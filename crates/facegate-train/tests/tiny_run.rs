//! A few steps on a handful of synthetic crops: the loss goes down, checkpoints resume, and
//! a resume with another configuration is refused.

mod common;

use burn::module::Module;
use common::synthetic;
use facegate_nets::weights::{WeightsMeta, load};
use facegate_nets::{PADNET_ARCH, PADNET_INPUT, PADNET_VIEW, PadNet};
use facegate_train::augment::center;
use facegate_train::pad_teacher::{PadTrainConfig, export, load_checkpoint, predict, train, valid_device};

#[test]
fn loss_falls_and_training_resumes() {
    let data = synthetic(16, 160, false);
    let dev = synthetic(8, 160, false);
    let extra = synthetic(8, 160, true);
    let out = std::env::temp_dir().join(format!("fg-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let cfg =
        PadTrainConfig { epochs: 4, batch: 8, lr: 2e-3, weight_decay: 0.0, seed: 3, max_steps: 0, init: "none".into(), extra_live: 4, ..Default::default() };
    let mut stepped = 0;
    let two = PadTrainConfig { epochs: 2, ..cfg.clone() };
    let state = train(&[&data], &[&extra], &[&dev], &two, &out, false, None, |_| stepped += 1).unwrap();
    assert_eq!(state.epochs_done, 2);
    assert!(stepped >= 4, "progress events: {stepped}");
    for f in ["last.bpk", "best.bpk", "optim.bpk", "state.json", "log.json"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    // Resume to four epochs: the first two are not redone.
    let state = train(&[&data], &[&extra], &[&dev], &cfg, &out, true, None, |_| {}).unwrap();
    assert_eq!(state.epochs_done, 4);
    assert_eq!(state.log.len(), 4);
    let first = state.log[0].train_loss;
    let last = state.log[3].train_loss;
    assert!(last < first, "loss did not fall: {first} -> {last}");
    assert!(state.log.iter().all(|l| l.dev["eer"].is_number()), "{:?}", state.log);
    // Export to the float16 file and back: same predictions within float16 error.
    let net = load_checkpoint(&out.join("best.bpk")).unwrap();
    let meta = WeightsMeta {
        arch: PADNET_ARCH.into(),
        input: PADNET_INPUT,
        normalisation: "rgb/127.5-1".into(),
        view: Some(PADNET_VIEW),
        thresholds: Default::default(),
        metrics: Default::default(),
        command: "test".into(),
        detector: None,
        crop: Default::default(),
    };
    let bytes = export(&net, meta);
    let (loaded, _) = load(PadNet::new(&valid_device()), &bytes, PADNET_ARCH).unwrap();
    let crops: Vec<Vec<f32>> = (0..dev.len()).map(|i| center(dev.crop(i), dev.size(), PADNET_INPUT, PADNET_VIEW)).collect();
    let a = predict(&net, &crops, &valid_device());
    let b = predict(&loaded.valid(), &crops, &valid_device());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-2, "{a:?} vs {b:?}");
    }
    // Another learning rate is another run: refuse to mix them.
    let other = PadTrainConfig { lr: 1e-2, ..cfg.clone() };
    assert!(train(&[&data], &[&extra], &[&dev], &other, &out, true, None, |_| {}).is_err());
    std::fs::remove_dir_all(&out).unwrap();
}
