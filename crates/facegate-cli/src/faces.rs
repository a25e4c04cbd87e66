//! Dataset image -> the face crop every model reads, through the shared pipeline.

use facegate_datasets::{DataError, load_rgb};
use facegate_face::{Alignment, Detector, DetectorConfig, central_face, crop_and_resize, face_crop};
use facegate_teachers::teachers_dir;
use facegate_tfjs::GraphModel;
use std::path::Path;

pub fn detector(device: &burn::tensor::Device) -> Result<Detector, Box<dyn std::error::Error>> {
    let graph = GraphModel::load(&teachers_dir()?.join("blazeface.json"), device)?;
    Ok(Detector::new(graph, DetectorConfig::default())?)
}

/// Crops faces from dataset images and counts the images where the detector found none.
pub struct Cropper {
    detector: Detector,
    pub alignment: Alignment,
    pub missed: Vec<String>,
}

impl Cropper {
    pub fn new(device: &burn::tensor::Device, alignment: Alignment) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Self { detector: detector(device)?, alignment, missed: Vec::new() })
    }

    /// The `size`x`size` crop of the dataset subject (HWC, 0..255). When the detector finds
    /// no face, the centred square of the image is used (these sets are face crops already,
    /// and the training cache does the same) and the file is recorded in `missed`.
    pub fn crop(&mut self, path: &Path, size: usize) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
        let img = load_rgb(path)?;
        let faces = self.detector.detect(&img)?;
        match central_face(&faces, img.width(), img.height()) {
            Some(face) => Ok(face_crop(&img, face, size, self.alignment)),
            None => {
                self.missed.push(path.display().to_string());
                let (w, h) = (img.width() as f32, img.height() as f32);
                let side = w.min(h);
                let (x0, y0) = ((w - side) / 2.0 / w, (h - side) / 2.0 / h);
                Ok(crop_and_resize(&img, y0, x0, y0 + side / h, x0 + side / w, size, size))
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
