//! Splits cannot leak, and the face cache round-trips without losing what was built.

use facegate_datasets::cache::FaceCache;
use facegate_datasets::pad::{Label, Sample};
use facegate_datasets::splits::{PadSplits, Split};
use facegate_face::{Detector, DetectorConfig};
use facegate_teachers::teachers_dir;
use facegate_tfjs::KernelGraph;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn data() -> PathBuf {
    std::env::var_os("FACEGATE_DATA").map(PathBuf::from).unwrap_or_else(|| repo().join("../shared/data"))
}

fn splits() -> PadSplits {
    PadSplits::load(&repo().join("splits/pad.json")).unwrap()
}

#[test]
fn replay_sets_and_nuaa_subjects_do_not_leak() {
    let s = splits();
    let all: Vec<&String> = s.replay.train.iter().chain(&s.replay.dev).chain(&s.replay.test).collect();
    let unique: HashSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "a replay set is in two splits");
    // Every set on disk is assigned, and only sets on disk are named.
    let on_disk: HashSet<String> = std::fs::read_dir(data().join("replay")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(unique.iter().map(|s| s.to_string()).collect::<HashSet<_>>(), on_disk);

    let root = data().join("nuaa");
    let groups = |split| s.nuaa(&root, split).unwrap().into_iter().map(|x| x.group).collect::<HashSet<_>>();
    let files = |split| s.nuaa(&root, split).unwrap().into_iter().map(|x| x.path).collect::<HashSet<_>>();
    assert!(groups(Split::Train).is_disjoint(&groups(Split::Dev)), "dev subjects also in train");
    assert!(files(Split::Train).is_disjoint(&files(Split::Test)));
    assert!(files(Split::Dev).is_disjoint(&files(Split::Test)));
    for split in [Split::Train, Split::Dev, Split::Test] {
        let samples = s.nuaa(&root, split).unwrap();
        assert!(samples.iter().any(|x| x.label == Label::Live) && samples.iter().any(|x| x.label != Label::Live), "{split:?}");
        let rep = s.replay(&data().join("replay"), split).unwrap();
        let sets: HashSet<String> = rep.iter().map(|x| x.group.clone()).collect();
        let want: HashSet<String> = s.replay_sets(split).iter().map(|n| format!("replay/{n}")).collect();
        assert_eq!(sets, want);
    }
}

#[test]
fn cache_round_trips_and_survives_a_corrupt_image() {
    let graph = KernelGraph::load(&teachers_dir().unwrap().join("blazeface.json")).unwrap();
    let detector = Detector::new(graph, DetectorConfig::default()).unwrap();
    let nuaa = splits().nuaa(&data().join("nuaa"), Split::Test).unwrap();
    let samples: Vec<Sample> = vec![nuaa[0].clone(), nuaa.last().unwrap().clone()];
    let dir = std::env::temp_dir().join(format!("fg-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let built = FaceCache::open_or_build(&dir, "test-key", &samples, &detector, 64, |_| {}).unwrap();
    assert_eq!(built.len(), 2);
    assert!(built.index.records.iter().all(|r| r.found && r.score > 0.5));
    assert_eq!(built.index.records[1].label(), Label::Attack("print".into()));
    let reopened = FaceCache::open(&dir, "test-key").unwrap().expect("cache on disk");
    assert_eq!(reopened.index, built.index);
    assert_eq!(reopened.crop(1), built.crop(1));
    assert_eq!(reopened.crop(0).len(), 64 * 64 * 3);
    // A different key (other detector or crop) is stale, not silently reused.
    assert!(FaceCache::open(&dir, "other-key").unwrap().is_none());

    // A corrupt image fails the rebuild with its name, and the old cache is still there.
    let bad = dir.join("corrupt.jpg");
    std::fs::write(&bad, b"\xff\xd8\xff garbage").unwrap();
    let mut more = samples.clone();
    more.push(Sample { path: bad.clone(), label: Label::Live, group: "x".into() });
    let err = FaceCache::open_or_build(&dir, "test-key", &more, &detector, 64, |_| {}).err().unwrap().to_string();
    assert!(err.contains("corrupt.jpg"), "{err}");
    assert_eq!(FaceCache::open(&dir, "test-key").unwrap().unwrap().index, built.index);
    // Truncated crops are detected.
    std::fs::write(dir.join("crops.bin"), [0u8; 10]).unwrap();
    assert!(FaceCache::open(&dir, "test-key").is_err());
    assert!(FaceCache::open_or_build(&dir.join("empty"), "k", &[], &detector, 64, |_| {}).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The committed cross-camera protocol: every set on disk is assigned once, and no image,
/// set or NUAA subject is in two splits.
#[test]
fn the_cross_camera_protocol_assigns_every_set_once() {
    use facegate_datasets::splits::{CrossCameraSplits, SET_FAMILIES};
    let s = CrossCameraSplits::load(&repo().join("splits/pad-cross-camera.json")).unwrap();
    let named: HashSet<String> = s.sets.train.iter().chain(&s.sets.dev).chain(&s.sets.test).cloned().collect();
    let mut on_disk = HashSet::new();
    for (family, _) in SET_FAMILIES {
        for e in std::fs::read_dir(data().join(family)).unwrap() {
            on_disk.insert(format!("{family}/{}", e.unwrap().file_name().to_string_lossy()));
        }
    }
    assert_eq!(named, on_disk, "sets on disk and in the split file differ");
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let mut groups: Vec<HashSet<String>> = Vec::new();
    for split in [Split::Train, Split::Dev, Split::Test] {
        let samples = s.samples(&data(), split).unwrap();
        assert!(samples.iter().any(|x| x.label == Label::Live) && samples.iter().any(|x| x.label != Label::Live), "{split:?}");
        for x in &samples {
            assert!(seen.insert(x.path.clone()), "{} in two splits", x.path.display());
        }
        groups.push(samples.into_iter().map(|x| x.group).collect());
    }
    assert!(groups[0].is_disjoint(&groups[1]) && groups[0].is_disjoint(&groups[2]) && groups[1].is_disjoint(&groups[2]));
}
