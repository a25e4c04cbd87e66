//! Face crops: the square detector box, resampled to the size a model wants.

use crate::align::{aligned_view, reflected_view};
use crate::detector::Detection;
use crate::image::RgbImage;
use crate::resample::{crop_and_resize, rotated_crop};

/// How the square around a face is cut out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alignment {
    /// Axis-aligned, exactly as the human library cuts it (TF `cropAndResize`).
    #[default]
    None,
    /// Rotated about the box centre so the eyes are level.
    Roll,
}

/// What a model reads of a face: the one description of a crop's geometry that training,
/// evaluation and the browser share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CropSpec {
    /// The detector's square box widened `view` times (black outside the frame).
    Box { size: usize, view: f64, alignment: Alignment },
    /// Aligned by the landmarks to the ArcFace template shrunk `view` times about the centre
    /// (1.0: the recogniser's own crop).
    Aligned { size: usize, view: f64 },
    /// The raw detector box widened `view` times, squared, border-reflected (MiniFASNet).
    Reflected { size: usize, view: f64 },
}

impl CropSpec {
    /// The crop a weight file's weights read, as every path that measures or ships them cuts it.
    pub fn of(meta: &facegate_format::WeightsMeta) -> CropSpec {
        match meta.crop {
            facegate_format::CropKind::Box => CropSpec::Box { size: meta.input, view: meta.view(), alignment: Alignment::None },
            facegate_format::CropKind::Aligned => CropSpec::Aligned { size: meta.input, view: meta.view() },
        }
    }

    pub fn size(&self) -> usize {
        match *self {
            CropSpec::Box { size, .. } | CropSpec::Aligned { size, .. } | CropSpec::Reflected { size, .. } => size,
        }
    }

    /// Face-box (or template) sides the crop spans.
    pub fn view(&self) -> f64 {
        match *self {
            CropSpec::Box { view, .. } | CropSpec::Aligned { view, .. } | CropSpec::Reflected { view, .. } => view,
        }
    }

    /// [`CropSpec::cut`], or where the landmarks are too degenerate to align by (never seen
    /// from either detector) the box crop of the same size and view.
    pub fn cut_or_box(&self, img: &RgbImage, face: &Detection) -> Vec<f32> {
        self.cut(img, face).unwrap_or_else(|| face_crop_view(img, face, self.size(), Alignment::None, self.view()))
    }

    /// HWC RGB 0..255 crop of `face`; `None` only for an aligned crop of degenerate landmarks.
    pub fn cut(&self, img: &RgbImage, face: &Detection) -> Option<Vec<f32>> {
        match *self {
            CropSpec::Box { size, view, alignment } => Some(face_crop_view(img, face, size, alignment, view)),
            CropSpec::Aligned { size, view } => aligned_view(img, face, size, view),
            CropSpec::Reflected { size, view } => Some(reflected_view(img, face, view, size)),
        }
    }
}

/// HWC f32 crop in 0..255, `size`x`size`, of the detection's square box.
pub fn face_crop(img: &RgbImage, face: &Detection, size: usize, alignment: Alignment) -> Vec<f32> {
    face_crop_view(img, face, size, alignment, 1.0)
}

/// The square box widened `view` times about its centre: anti-spoofing looks past the face
/// (photo edges, fingers, screen bezels), recognition does not.
pub fn widen(square: [f64; 4], view: f64) -> [f64; 4] {
    let [x1, y1, x2, y2] = square;
    // Grown by a margin rather than rebuilt from the centre: view 1 is then the exact box,
    // which TF-exact cropping needs (a one-ulp shift can move a sample across a pixel).
    let pad = (x2 - x1) * (view - 1.0) / 2.0;
    [x1 - pad, y1 - pad, x2 + pad, y2 + pad]
}

/// [`face_crop`] of the box widened `view` times; outside the frame is black, as in TF.
pub fn face_crop_view(img: &RgbImage, face: &Detection, size: usize, alignment: Alignment, view: f64) -> Vec<f32> {
    let [x1, y1, x2, y2] = widen(face.square, view);
    match alignment {
        Alignment::None => {
            let (h, w) = (img.height() as f64, img.width() as f64);
            crop_and_resize(img, (y1 / h) as f32, (x1 / w) as f32, (y2 / h) as f32, (x2 / w) as f32, size, size)
        }
        Alignment::Roll => rotated_crop(img, (x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, face.roll(), size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two bright dots on a tilted line stand in for the eyes.
    #[test]
    fn roll_alignment_levels_the_eyes() {
        let (w, h) = (64usize, 64usize);
        let mut data = vec![0u8; w * h * 3];
        let eyes = [[22.0f64, 26.0], [42.0, 38.0]]; // ~31 degrees of roll
        for e in eyes {
            for dy in -1i32..=1 {
                for dx in -1i32..=1 {
                    let (x, y) = ((e[0] as i32 + dx) as usize, (e[1] as i32 + dy) as usize);
                    data[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[255, 255, 255]);
                }
            }
        }
        let img = RgbImage::from_rgb(w, h, data).unwrap();
        let mut landmarks = [[0.0; 2]; 6];
        landmarks[0] = [eyes[0][0] + 0.5, eyes[0][1] + 0.5];
        landmarks[1] = [eyes[1][0] + 0.5, eyes[1][1] + 0.5];
        let face = Detection { score: 1.0, raw_box: [16.0, 16.0, 48.0, 48.0], square: [12.0, 12.0, 52.0, 52.0], landmarks };
        // Row of the brightest pixel in each half of the crop: one eye per half.
        let eye_rows = |crop: &[f32]| {
            let row_of_max = |x0: usize, x1: usize| {
                let mut best = (0.0, 0);
                for y in 0..40 {
                    for x in x0..x1 {
                        if crop[(y * 40 + x) * 3] > best.0 {
                            best = (crop[(y * 40 + x) * 3], y);
                        }
                    }
                }
                best.1 as i32
            };
            (row_of_max(0, 20), row_of_max(20, 40))
        };
        let (l, r) = eye_rows(&face_crop(&img, &face, 40, Alignment::Roll));
        assert!((l - r).abs() <= 1, "aligned crop has eyes on rows {l} and {r}");
        let (l, r) = eye_rows(&face_crop(&img, &face, 40, Alignment::None));
        assert!(r - l >= 8, "unaligned crop keeps the tilt ({l} vs {r})");
    }

    #[test]
    fn wider_view_keeps_the_centre_and_shrinks_the_face() {
        assert_eq!(widen([10.0, 20.0, 30.0, 40.0], 2.0), [0.0, 10.0, 40.0, 50.0]);
        let odd = [10.1, 20.3, 30.7, 40.9];
        assert_eq!(widen(odd, 1.0), odd, "view 1 is the box itself, bit for bit");
        // A white square on black, exactly the face box: at view 2 it fills the middle half.
        let (w, h) = (64usize, 64usize);
        let data = (0..w * h).flat_map(|i| if (16..48).contains(&(i % w)) && (16..48).contains(&(i / w)) { [255u8; 3] } else { [0; 3] }).collect();
        let img = RgbImage::from_rgb(w, h, data).unwrap();
        let face = Detection { score: 1.0, raw_box: [16.0; 4], square: [16.0, 16.0, 48.0, 48.0], landmarks: [[32.0; 2]; 6] };
        let c = face_crop_view(&img, &face, 32, Alignment::None, 2.0);
        let white = c.chunks(3).filter(|p| p[0] > 128.0).count();
        assert!((white as i32 - 256).abs() <= 40, "{white} of 1024 pixels white, expected ~256");
    }

    /// Landmarks that collapse to one point cannot be aligned by: the aligned spec says so, and
    /// its fallback is the box crop of the same size and view.
    #[test]
    fn degenerate_landmarks_fall_back_to_the_box_of_the_same_geometry() {
        let (w, h) = (64usize, 64usize);
        let img = RgbImage::from_rgb(w, h, (0..w * h * 3).map(|i| (i % 251) as u8).collect()).unwrap();
        let face = Detection { score: 1.0, raw_box: [16.0; 4], square: [16.0, 16.0, 48.0, 48.0], landmarks: [[32.0; 2]; 6] };
        let spec = crate::specs::STUDENT;
        assert_eq!(spec.cut(&img, &face), None);
        assert_eq!(spec.cut_or_box(&img, &face), face_crop_view(&img, &face, spec.size(), Alignment::None, spec.view()));
        assert_eq!((spec.size(), spec.view()), (128, 1.5));
    }
}
