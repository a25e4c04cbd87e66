//! What a student reached on the dev data, typed ([`DevReport`], as [`super::dev_metrics`]
//! measures it and the run log and the weight file keep it), and the rule that fixes its
//! operating points on it: what the browser decides with (`facegate_format::StoredThresholds`).

use facegate_format::StoredThresholds;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The dev frames the liveness threshold is fixed on: full camera views (the protocol's
/// pad-frames and NUAA dev sets), the kind of image the browser gets. The replay dev sets are
/// small face cut-outs from phone videos, scored apart.
pub const LIVENESS_DEV: &str = "full_frame";
/// A student whose liveness EER on [`LIVENESS_DEV`] is above this is not worth a file.
pub const MAX_LIVENESS_EER: f64 = 0.2;

/// A student on the dev data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DevReport {
    /// Liveness per dev source (by cache name) and over the full camera views ([`LIVENESS_DEV`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pad_sets: BTreeMap<String, PadDev>,
    /// Liveness over every dev crop pooled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad: Option<PadDev>,
    /// Matching over every pair of the held-out identities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fr: Option<FrDev>,
}

/// Live/attack separation of scored crops (both classes present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PadDev {
    pub eer: f64,
    pub auc: f64,
    pub threshold_eer: f32,
    pub threshold_bpcer_5: f32,
    pub n_live: usize,
    pub n_attack: usize,
}

/// Verification over genuine and impostor pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrDev {
    pub eer: f64,
    #[serde(rename = "tar_at_fmr_1e-3")]
    pub tar_at_fmr_1e3: f64,
    #[serde(rename = "threshold_fmr_1e-3")]
    pub threshold_fmr_1e3: f32,
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
}

impl DevReport {
    /// The dev rule's score (lower is better; it picks the best epoch): the liveness EER on the
    /// full camera views (else all crops pooled) plus the held-out verification EER, a missing
    /// part counted as chance (0.5).
    pub fn score(&self) -> f64 {
        let pad = self.pad_sets.get(LIVENESS_DEV).or(self.pad.as_ref()).map_or(0.5, |p| p.eer);
        pad + self.fr.as_ref().map_or(0.5, |f| f.eer)
    }

    /// Liveness at the EER point of [`LIVENESS_DEV`] (the threshold every PAD table uses;
    /// refused above [`MAX_LIVENESS_EER`] unless `allow_weak`: an ablation row), match at FMR
    /// 1e-3 over the held-out identities' pairs.
    pub fn operating_points(&self, allow_weak: bool) -> Result<StoredThresholds, String> {
        let camera = self.pad_sets.get(LIVENESS_DEV).ok_or(format!("no {LIVENESS_DEV} data to fix the liveness threshold"))?;
        if !camera.eer.is_finite() || (camera.eer > MAX_LIVENESS_EER && !allow_weak) {
            return Err(format!("{LIVENESS_DEV}: dev EER {} is above {MAX_LIVENESS_EER}", camera.eer));
        }
        let fr = self.fr.as_ref().ok_or("no held-out pairs to fix the match threshold")?;
        // A cosine; float rounding can put the cut of a collapsed embedding a hair above 1.
        Ok(StoredThresholds { liveness: Some(camera.threshold_eer as f64), matching: Some((fr.threshold_fmr_1e3 as f64).clamp(-1.0, 1.0)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pad(eer: f64, threshold_eer: f32) -> PadDev {
        PadDev { eer, auc: 0.99, threshold_eer, threshold_bpcer_5: 0.5, n_live: 10, n_attack: 10 }
    }

    fn report(eer: f64) -> DevReport {
        DevReport {
            pad_sets: [("full_frame".to_string(), pad(eer, 0.59)), ("pad-dev".to_string(), pad(0.3, 0.9))].into(),
            pad: Some(pad(0.25, 0.8)),
            fr: Some(FrDev { eer: 0.17, tar_at_fmr_1e3: 0.1, threshold_fmr_1e3: 0.72, genuine_pairs: 5, impostor_pairs: 50 }),
        }
    }

    #[test]
    fn liveness_comes_from_the_camera_frames_and_matching_from_the_held_out_pairs() {
        let t = report(0.05).operating_points(false).unwrap();
        assert_eq!(t, StoredThresholds { liveness: Some(0.59f32 as f64), matching: Some(0.72f32 as f64) });
        assert!((report(0.05).score() - 0.22).abs() < 1e-9, "full-frame EER + verification EER");
    }

    #[test]
    fn a_weak_student_gets_no_file_unless_asked() {
        assert!(report(0.25).operating_points(false).unwrap_err().contains("above"));
        assert!(report(0.25).operating_points(true).is_ok());
        assert!(report(f64::NAN).operating_points(true).is_err(), "NaN EER");
    }

    #[test]
    fn missing_parts_are_named_and_a_collapsed_cosine_is_clamped() {
        let mut r = report(0.05);
        r.fr.as_mut().unwrap().threshold_fmr_1e3 = 1.0000001;
        assert_eq!(r.operating_points(false).unwrap().matching, Some(1.0));
        r.fr = None;
        assert!(r.operating_points(false).unwrap_err().contains("held-out"));
        assert_eq!(r.score(), 0.05 + 0.5, "a missing part counts as chance");
        assert!(DevReport::default().operating_points(false).unwrap_err().contains("full_frame"));
    }

    /// The report is stored as JSON (run logs, the weight file's header) under the names the
    /// files always had, and read back the same.
    #[test]
    fn the_report_keeps_its_json_names() {
        let json = serde_json::to_value(report(0.05)).unwrap();
        assert_eq!(json["fr"]["threshold_fmr_1e-3"], json!(0.72f32));
        assert_eq!(json["pad_sets"]["full_frame"]["threshold_bpcer_5"], json!(0.5));
        assert_eq!(serde_json::from_value::<DevReport>(json).unwrap(), report(0.05));
        let none = serde_json::to_value(DevReport::default()).unwrap();
        assert_eq!(none, json!({}), "parts not measured are left out");
    }
}
