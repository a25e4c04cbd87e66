//! Camera frame to face crop, the one implementation shared by training, evaluation and
//! the browser: what was measured is what ships.
//!
//! frame ([`RgbImage`]) -> [`Detector`] -> [`Detection`] -> [`face_crop`] -> model input.

mod crop;
mod detector;
mod error;
mod image;
mod resample;

pub use crop::{Alignment, face_crop, face_crop_view, widen};
pub use detector::{Detection, Detector, DetectorConfig, js_round, non_max_suppression};
pub use error::FaceError;
pub use image::{MAX_PIXELS, RgbImage};
pub use resample::{crop_and_resize, resize_bilinear, resize_bilinear_f32, rotated_crop};

/// The single face a verification step works on; several or none is an error.
/// `min_score` is the confidence above which a detection counts as a person in view.
pub fn single_face(faces: &[Detection], min_score: f32) -> Result<&Detection, FaceError> {
    let confident: Vec<&Detection> = faces.iter().filter(|f| f.score >= min_score).collect();
    match confident.len() {
        0 => Err(FaceError::NoFace),
        1 => Ok(confident[0]),
        count => Err(FaceError::SeveralFaces { count }),
    }
}

/// The largest square centred in a `width`x`height` image, [x1, y1, x2, y2]: the crop used
/// for a dataset image in which no face was detected (those sets are face crops already).
pub fn centred_square(width: usize, height: usize) -> [f64; 4] {
    let (w, h) = (width as f64, height as f64);
    let side = w.min(h);
    let (x0, y0) = ((w - side) / 2.0, (h - side) / 2.0);
    [x0, y0, x0 + side, y0 + side]
}

/// Dataset images show one subject, centred; bystanders or false positives may also be
/// detected. Takes the confident (>= 0.5) face nearest the centre, else the most confident.
pub fn central_face(faces: &[Detection], width: usize, height: usize) -> Option<&Detection> {
    let (cx, cy) = (width as f64 / 2.0, height as f64 / 2.0);
    let dist = |f: &Detection| {
        let (x, y) = ((f.raw_box[0] + f.raw_box[2]) / 2.0, (f.raw_box[1] + f.raw_box[3]) / 2.0);
        (x - cx).powi(2) + (y - cy).powi(2)
    };
    faces.iter().filter(|f| f.score >= 0.5).min_by(|a, b| dist(a).total_cmp(&dist(b))).or_else(|| faces.first())
}
