//! Every metric in facegate's README and docs/ is computed here, once, so teachers, students and
//! ablations are measured by the same definitions (thresholds, ties, empty sets) and their
//! numbers can be compared directly.

mod fusion;
mod pad;
mod roc;
mod verification;

pub use fusion::{Calibration, fuse};
pub use pad::{PadLabel, PadReport, PadSample, eer_threshold, pad_report, threshold_at_bpcer};
pub use roc::{auc, eer, tar_at_far};
pub use verification::{FoldReport, Pair, best_threshold, kfold_accuracy};
