//! The camera frames the native tests of the embedded models run on.

use std::path::PathBuf;

/// Every `step`-th of the first 48 frames of each nuaa-sequences sequence (live, print, other-live).
pub fn sequence_frames(step: usize) -> Vec<PathBuf> {
    let data = std::env::var_os("FACEGATE_DATA").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let mut out = Vec::new();
    for seq in ["live", "print", "other-live"] {
        out.extend((0..48).step_by(step).map(|i| data.join("nuaa-sequences").join(seq).join(format!("{i:03}.jpg"))));
    }
    out
}
