//! Dataset image -> the face crop every model reads, through the shared pipeline.

use facegate_datasets::{DataError, load_rgb};
use facegate_face::{Alignment, Detector, DetectorConfig, central_face, centred_square, crop_and_resize, face_crop_view, widen};
use facegate_teachers::teachers_dir;
use facegate_tfjs::GraphModel;
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
pub fn detector(device: &burn::tensor::Device, name: &str) -> Result<Detector, Box<dyn std::error::Error>> {
    let graph = GraphModel::load(&teachers_dir()?.join(format!("{name}.json")), device)?;
    Ok(Detector::new(graph, DetectorConfig::default())?)
}

/// Crops faces from dataset images and counts the images where the detector found none.
pub struct Cropper {
    detector: Detector,
    pub alignment: Alignment,
    pub missed: Vec<String>,
}

impl Cropper {
    pub fn new(device: &burn::tensor::Device, alignment: Alignment, detector_name: &str) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Self { detector: detector(device, detector_name)?, alignment, missed: Vec::new() })
    }

    /// The `size`x`size` crop of the dataset subject (HWC, 0..255), spanning `view` face-box
    /// sides. When the detector finds no face, the centred square of the image is used
    /// (these sets are face crops already, and the training cache does the same) and the
    /// file is recorded in `missed`.
    pub fn crop(&mut self, path: &Path, size: usize, view: f64) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let img = load_rgb(path)?;
        let faces = self.detector.detect(&img)?;
        match central_face(&faces, img.width(), img.height()) {
            Some(face) => Ok(face_crop_view(&img, face, size, self.alignment, view)),
            None => {
                self.missed.push(path.display().to_string());
                let [x1, y1, x2, y2] = widen(centred_square(img.width(), img.height()), view);
                let (w, h) = (img.width() as f64, img.height() as f64);
                Ok(crop_and_resize(&img, (y1 / h) as f32, (x1 / w) as f32, (y2 / h) as f32, (x2 / w) as f32, size, size))
            }
        }
    }
}

pub fn check_dir(path: &Path) -> Result<(), DataError> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(DataError::Io { path: path.to_path_buf(), source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder") })
    }
}

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
