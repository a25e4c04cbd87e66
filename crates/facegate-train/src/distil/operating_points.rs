//! The student's operating points, fixed on the dev report of its stored weights: what the
//! browser decides with (`facegate_format::StoredThresholds`).

use facegate_format::StoredThresholds;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The dev frames the liveness threshold is fixed on: full camera views (the protocol's
/// pad-frames and NUAA dev sets), the kind of image the browser gets. The replay dev sets are
/// small face cut-outs from phone videos, scored apart.
pub const LIVENESS_DEV: &str = "full_frame";
/// A student whose liveness EER on [`LIVENESS_DEV`] is above this is not worth a file.
pub const MAX_LIVENESS_EER: f64 = 0.2;

/// What the rule reads of [`super::dev_metrics`]' report.
#[derive(Debug, Clone, Deserialize)]
pub struct DevReport {
    #[serde(default)]
    pub pad_sets: BTreeMap<String, PadDev>,
    pub fr: Option<FrDev>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PadDev {
    pub eer: f64,
    pub threshold_eer: f64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FrDev {
    #[serde(rename = "threshold_fmr_1e-3")]
    pub threshold_fmr_1e3: f64,
}

/// Liveness at the EER point of [`LIVENESS_DEV`] (the threshold every PAD table uses; refused
/// above [`MAX_LIVENESS_EER`] unless `allow_weak`: an ablation row), match at FMR 1e-3 over the
/// held-out identities' pairs.
pub fn operating_points(dev: &serde_json::Value, allow_weak: bool) -> Result<StoredThresholds, String> {
    let report: DevReport = serde_json::from_value(dev.clone()).map_err(|e| format!("dev report: {e}"))?;
    let camera = report.pad_sets.get(LIVENESS_DEV).ok_or(format!("no {LIVENESS_DEV} data to fix the liveness threshold"))?;
    if !camera.eer.is_finite() || (camera.eer > MAX_LIVENESS_EER && !allow_weak) {
        return Err(format!("{LIVENESS_DEV}: dev EER {} is above {MAX_LIVENESS_EER}", camera.eer));
    }
    let fr = report.fr.ok_or("no held-out pairs to fix the match threshold")?;
    // A cosine; float rounding can put the cut of a collapsed embedding a hair above 1.
    Ok(StoredThresholds { liveness: Some(camera.threshold_eer), matching: Some(fr.threshold_fmr_1e3.clamp(-1.0, 1.0)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(eer: f64) -> serde_json::Value {
        json!({
            "pad_sets": { "full_frame": { "eer": eer, "threshold_eer": 0.59, "auc": 0.99 }, "pad-dev": { "eer": 0.3, "threshold_eer": 0.9 } },
            "fr": { "eer": 0.17, "threshold_fmr_1e-3": 0.72, "tar_at_fmr_1e-3": 0.1 }
        })
    }

    #[test]
    fn liveness_comes_from_the_camera_frames_and_matching_from_the_held_out_pairs() {
        let t = operating_points(&report(0.05), false).unwrap();
        assert_eq!(t, StoredThresholds { liveness: Some(0.59), matching: Some(0.72) });
    }

    #[test]
    fn a_weak_student_gets_no_file_unless_asked() {
        assert!(operating_points(&report(0.25), false).unwrap_err().contains("above"));
        assert!(operating_points(&report(0.25), true).is_ok());
        assert!(operating_points(&report(f64::NAN), true).is_err(), "NaN EER");
    }

    #[test]
    fn missing_parts_are_named_and_a_collapsed_cosine_is_clamped() {
        let mut r = report(0.05);
        r["fr"]["threshold_fmr_1e-3"] = json!(1.0000001);
        assert_eq!(operating_points(&r, false).unwrap().matching, Some(1.0));
        r.as_object_mut().unwrap().remove("fr");
        assert!(operating_points(&r, false).unwrap_err().contains("held-out"));
        assert!(operating_points(&json!({ "pad_sets": {} }), false).unwrap_err().contains("full_frame"));
    }
}
