//! Dataset image -> the face crop every model reads, through the shared pipeline.

use facegate_datasets::{DataError, load_rgb};
use facegate_face::{Alignment, Detector, DetectorConfig, central_face, centred_square, crop_and_resize, face_crop_view, widen};
use facegate_teachers::teachers_dir;
use facegate_tfjs::GraphModel;
use std::path::Path;

/// The detector the caches and evaluations use; crates/facegate-wasm/build.rs embeds the same one
/// unless FACEGATE_DETECTOR names another (to measure a build, never to ship one).
pub const DETECTOR: &str = "blazeface";

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
