//! Dataset image -> the face crop every model reads, through the shared pipeline.

use facegate_datasets::load_rgb;
use facegate_face::{CropSpec, Detection, Detector, DetectorConfig, RgbImage, central_face, centred_square, template4};
use facegate_teachers::teachers_dir;
use facegate_tfjs::KernelGraph;
use std::path::Path;

/// The detector for models whose file does not name one (the TF.js teachers, whose baselines
/// were measured on its crops) and the default of `train`.
pub const DETECTOR: &str = "blazeface";

/// The detector to evaluate `model` with: the one asked for, else the one its facegate weight
/// file was trained and measured with, else [`DETECTOR`].
pub fn detector_for(model: &str, asked: Option<String>) -> Result<String, Box<dyn std::error::Error>> {
    if let Some(name) = asked {
        return Ok(name);
    }
    let path = Path::new(model);
    if !path.is_file() {
        return Ok(DETECTOR.into());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{model}: {e}"))?;
    Ok(facegate_nets::weights::read_meta(&bytes).map_err(|e| format!("{model}: {e}"))?.detector().to_string())
}

/// A face detector of the human-models package by name: `blazeface` (256x256) or
/// `facemesh-detection-short` (128x128), both decoded by [`Detector`].
pub fn detector(name: &str) -> Result<Detector, Box<dyn std::error::Error>> {
    let graph = KernelGraph::load(&teachers_dir()?.join(format!("{name}.json")))?;
    Ok(Detector::new(graph, DetectorConfig::default())?)
}

/// Crops faces from dataset images and counts the images where the detector found none.
pub struct Cropper {
    detector: Detector,
    pub missed: Vec<String>,
}

impl Cropper {
    pub fn new(detector_name: &str) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Self { detector: detector(detector_name)?, missed: Vec::new() })
    }

    /// The dataset subject's crop as `spec` describes it. When the detector finds no face (or
    /// its landmarks are degenerate), the image is taken as a centred face crop (these sets are
    /// face crops already, and the training cache does the same) and the file is recorded in
    /// `missed`.
    pub fn cut(&mut self, path: &Path, spec: CropSpec) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        Ok(self.cut_each(path, &[spec])?.swap_remove(0))
    }

    /// One crop per spec of the same detection (the image is read and detected once).
    pub fn cut_each(&mut self, path: &Path, specs: &[CropSpec]) -> Result<Vec<Vec<f32>>, Box<dyn std::error::Error>> {
        let img = load_rgb(path)?;
        let (face, crops) = cut_detected(&self.detector, &img, specs)?;
        if face.is_none() {
            self.missed.push(path.display().to_string());
        }
        Ok(crops)
    }
}

/// The face found (if any) and one HWC crop per spec.
pub type DetectedCrops = (Option<Detection>, Vec<Vec<f32>>);

/// The central face of `img` and one crop of it per spec; when the detector finds none (or
/// its landmarks are degenerate), `None` and the crops of the face [`assumed_face`] takes.
pub fn cut_detected(detector: &Detector, img: &RgbImage, specs: &[CropSpec]) -> Result<DetectedCrops, Box<dyn std::error::Error>> {
    let faces = detector.detect(img)?;
    let (w, h) = (img.width(), img.height());
    let found = central_face(&faces, w, h).and_then(|f| specs.iter().map(|spec| spec.cut(img, f)).collect::<Option<Vec<_>>>().map(|c| (f.clone(), c)));
    Ok(match found {
        Some((f, crops)) => (Some(f), crops),
        None => (None, specs.iter().map(|spec| spec.cut(img, &assumed_face(w, h, spec)).expect("the assumed face has the template's landmarks")).collect()),
    })
}

/// The face a face-crop image is assumed to show when none is detected: for box crops the
/// centred square itself (widened as a detected box would be, as the training cache does);
/// for aligned crops the template's landmarks on that square; for reflected views a box that
/// the view widens back to the square.
pub fn assumed_face(width: usize, height: usize, spec: &CropSpec) -> Detection {
    let square = centred_square(width, height);
    let side = square[2] - square[0];
    let view = match *spec {
        CropSpec::Reflected { view, .. } => view,
        CropSpec::Box { .. } | CropSpec::Aligned { .. } => 1.0,
    };
    let (cx, cy) = ((square[0] + square[2]) / 2.0, (square[1] + square[3]) / 2.0);
    let half = side / view / 2.0;
    let inner = [cx - half, cy - half, cx + half, cy + half];
    let mut landmarks = [[cx, cy]; 6];
    for (l, t) in landmarks.iter_mut().zip(template4(112)) {
        *l = [square[0] + t[0] * side / 112.0, square[1] + t[1] * side / 112.0];
    }
    Detection { score: 0.0, raw_box: inner, square: inner, landmarks }
}

pub use facegate_datasets::check_dir;

#[cfg(test)]
mod tests {
    use super::*;
    use facegate_nets::weights::{WeightsMeta, to_bytes};
    use facegate_nets::{PADNET_ARCH, PadNet};

    #[test]
    fn evaluation_follows_the_detector_a_weight_file_names() {
        let dir = std::env::temp_dir().join(format!("fg-detector-for-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let net = PadNet::shell(&burn::tensor::Device::flex());
        let file = |name: &str, detector: Option<&str>| {
            let meta = WeightsMeta { arch: PADNET_ARCH.into(), detector: detector.map(String::from), ..Default::default() };
            let path = dir.join(name);
            std::fs::write(&path, to_bytes(&net, &meta)).unwrap();
            path.display().to_string()
        };
        let (short, legacy) = (file("short.fgw", Some("facemesh-detection-short")), file("legacy.fgw", None));
        assert_eq!(detector_for(&short, None).unwrap(), "facemesh-detection-short");
        assert_eq!(detector_for(&legacy, None).unwrap(), "blazeface");
        assert_eq!(detector_for(&short, Some("blazeface".into())).unwrap(), "blazeface");
        assert_eq!(detector_for("faceres", None).unwrap(), DETECTOR);
        std::fs::write(dir.join("bad.fgw"), b"not a weight file").unwrap();
        assert!(detector_for(dir.join("bad.fgw").to_str().unwrap(), None).unwrap_err().to_string().contains("bad.fgw"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
