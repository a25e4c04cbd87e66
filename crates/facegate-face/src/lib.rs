//! Camera frame to face crop, the one implementation shared by training, evaluation and
//! the browser: what was measured is what ships.
//!
//! frame ([`RgbImage`]) -> [`Detector`] -> [`Detection`] -> [`aligned_face`] (recognition) or
//! [`face_crop`] / [`reflected_view`] (anti-spoofing) -> model input.

mod align;
mod crop;
mod detector;
mod error;
mod image;
mod resample;
pub mod specs;

pub use align::{ARCFACE_112, Similarity, aligned_face, aligned_view, alignment, alignment_view, reflected_view, template4, template4_view, warp};
pub use crop::{Alignment, CropSpec, face_crop, face_crop_view, widen};
pub use detector::{Detection, Detector, DetectorConfig, ROW, js_round, non_max_suppression};
pub use error::FaceError;
pub use image::{MAX_PIXELS, RgbImage};
pub use resample::{crop_and_resize, resize_bilinear, resize_bilinear_f32, rotated_crop};

/// A confident face whose box side is under this fraction of the largest one's is a
/// bystander (someone passing behind the user): reported, but it neither blocks a
/// decision nor is the face one is made on. A second face of comparable size is a
/// second person in view, or a photo held up beside the user.
pub const BYSTANDER_RATIO: f64 = 0.5;

/// The faces a decision must consider: confident (`score >= min_score`) and not bystanders.
pub fn people(faces: &[Detection], min_score: f32) -> Vec<&Detection> {
    let side = |f: &Detection| (f.raw_box[2] - f.raw_box[0]).max(f.raw_box[3] - f.raw_box[1]);
    let confident: Vec<&Detection> = faces.iter().filter(|f| f.score >= min_score).collect();
    let largest = confident.iter().map(|f| side(f)).fold(0.0, f64::max);
    confident.into_iter().filter(|f| side(f) >= BYSTANDER_RATIO * largest).collect()
}

/// The single face a verification step works on; several people or none is an error.
/// `min_score` is the confidence above which a detection counts as a person in view.
pub fn single_face(faces: &[Detection], min_score: f32) -> Result<&Detection, FaceError> {
    let people = people(faces, min_score);
    match people.len() {
        0 => Err(FaceError::NoFace),
        1 => Ok(people[0]),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn face(score: f32, side: f64) -> Detection {
        Detection { score, raw_box: [10.0, 10.0, 10.0 + side, 10.0 + side], square: [0.0; 4], landmarks: [[0.0; 2]; 6] }
    }

    #[test]
    fn bystanders_neither_block_nor_decide() {
        let user = face(0.9, 200.0);
        let passer_by = face(0.95, 60.0);
        let faces = [passer_by.clone(), user.clone(), face(0.3, 220.0)];
        assert_eq!(people(&faces, 0.5), vec![&faces[1]]);
        assert_eq!(single_face(&faces, 0.5), Ok(&faces[1]));
        let photo_beside = [user.clone(), face(0.8, 120.0)];
        assert_eq!(single_face(&photo_beside, 0.5), Err(FaceError::SeveralFaces { count: 2 }));
        assert_eq!(single_face(std::slice::from_ref(&passer_by), 0.5), Ok(&passer_by));
        assert_eq!(single_face(&[face(0.2, 200.0)], 0.5), Err(FaceError::NoFace));
    }
}
