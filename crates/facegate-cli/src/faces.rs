//! Dataset image -> the face crop every model reads, through the shared pipeline.

use facegate_datasets::{DataError, load_rgb};
use facegate_face::{Alignment, Detector, DetectorConfig, central_face, face_crop, resize_bilinear};
use facegate_teachers::{CROP, teachers_dir};
use facegate_tfjs::GraphModel;
use std::path::Path;

/// Crops faces from dataset images and counts the images where the detector found none.
pub struct Cropper {
    detector: Detector,
    pub alignment: Alignment,
    pub missed: Vec<String>,
}

impl Cropper {
    pub fn new(device: &burn::tensor::Device, alignment: Alignment) -> Result<Self, Box<dyn std::error::Error>> {
        let graph = GraphModel::load(&teachers_dir()?.join("blazeface.json"), device)?;
        Ok(Self { detector: Detector::new(graph, DetectorConfig::default())?, alignment, missed: Vec::new() })
    }

    /// The 256x256 crop of the dataset subject. When the detector finds no face, the whole
    /// image is used (these sets are already face crops) and the file is recorded in `missed`.
    pub fn crop(&mut self, path: &Path) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let img = load_rgb(path)?;
        let faces = self.detector.detect(&img)?;
        match central_face(&faces, img.width(), img.height()) {
            Some(face) => Ok(face_crop(&img, face, CROP, self.alignment)),
            None => {
                self.missed.push(path.display().to_string());
                Ok(resize_bilinear(&img, CROP, CROP))
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
