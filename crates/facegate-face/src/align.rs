//! Faces aligned by their landmarks, as recognisers are trained: a similarity transform from
//! the detector's keypoints to ArcFace's five-point template. Box crops wander with the
//! detector's box (3-6% of its side between video frames); landmarks pin the face itself.
//!
//! Also the wider, border-reflected view anti-spoofing models read (MiniFASNet's own recipe).

use crate::detector::Detection;
use crate::image::RgbImage;

/// ArcFace's template for 112x112 crops (InsightFace, OpenCV's SFace): the image-left eye
/// (the subject's right), the image-right eye, nose tip, image-left and image-right mouth
/// corners, in pixel coordinates.
pub const ARCFACE_112: [[f64; 2]; 5] = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/// The points both our detectors give (right eye, left eye, nose tip, mouth centre; the
/// subject's sides) on the template scaled to `size`: the mouth centre is the midpoint of
/// the template's mouth corners.
pub fn template4(size: usize) -> [[f64; 2]; 4] {
    let s = size as f64 / 112.0;
    let t = ARCFACE_112;
    let mouth = [(t[3][0] + t[4][0]) / 2.0, (t[3][1] + t[4][1]) / 2.0];
    [t[0], t[1], t[2], mouth].map(|[x, y]| [x * s, y * s])
}

/// `x' = a x - b y + tx`, `y' = b x + a y + ty`: rotation, uniform scale and shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    pub a: f64,
    pub b: f64,
    pub tx: f64,
    pub ty: f64,
}

impl Similarity {
    pub fn apply(&self, [x, y]: [f64; 2]) -> [f64; 2] {
        [self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty]
    }

    /// `None` when the transform collapses the plane (all source points equal).
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if !d.is_finite() || d <= 1e-12 {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        Some(Similarity { a, b, tx: -(a * self.tx - b * self.ty), ty: -(b * self.tx + a * self.ty) })
    }

    pub fn scale(&self) -> f64 {
        self.a.hypot(self.b)
    }

    pub fn angle(&self) -> f64 {
        self.b.atan2(self.a)
    }

    /// Least-squares fit of `src` onto `dst` (Umeyama, without reflection): what
    /// `skimage.transform.SimilarityTransform` and OpenCV's `estimateAffinePartial2D` give
    /// without outliers. `None` for fewer than two points, mismatched lengths, degenerate or
    /// non-finite points.
    pub fn fit(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Similarity> {
        if src.len() != dst.len() || src.len() < 2 || src.iter().chain(dst).flatten().any(|v| !v.is_finite()) {
            return None;
        }
        let n = src.len() as f64;
        let mean = |p: &[[f64; 2]]| [p.iter().map(|v| v[0]).sum::<f64>() / n, p.iter().map(|v| v[1]).sum::<f64>() / n];
        let (ms, md) = (mean(src), mean(dst));
        // For a similarity, the optimum is a = sum(s.d) / sum|s|^2, b = sum(s x d) / sum|s|^2
        // over centred points (complex-number least squares).
        let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
        for (s, d) in src.iter().zip(dst) {
            let (sx, sy, dx, dy) = (s[0] - ms[0], s[1] - ms[1], d[0] - md[0], d[1] - md[1]);
            dot += sx * dx + sy * dy;
            cross += sx * dy - sy * dx;
            norm += sx * sx + sy * sy;
        }
        if norm.is_nan() || norm <= 1e-12 {
            return None;
        }
        let (a, b) = (dot / norm, cross / norm);
        Some(Similarity { a, b, tx: md[0] - (a * ms[0] - b * ms[1]), ty: md[1] - (b * ms[0] + a * ms[1]) })
    }
}

/// [`template4`] shrunk `view` times about the crop's centre: the aligned face with
/// `view - 1` of its side around it (view 1 is the recogniser's crop itself). The student reads
/// such a view: the ArcFace crop in its centre for identity, and around it the paper or screen
/// edges liveness looks for.
pub fn template4_view(size: usize, view: f64) -> [[f64; 2]; 4] {
    let c = size as f64 / 2.0;
    template4(size).map(|[x, y]| [c + (x - c) / view, c + (y - c) / view])
}

/// The transform from a detection's frame coordinates to the `size`x`size` aligned crop.
pub fn alignment(face: &Detection, size: usize) -> Option<Similarity> {
    alignment_view(face, size, 1.0)
}

/// [`alignment`] onto [`template4_view`].
pub fn alignment_view(face: &Detection, size: usize, view: f64) -> Option<Similarity> {
    Similarity::fit(&face.landmarks[..4], &template4_view(size, view))
}

/// The `size`x`size` face aligned to the ArcFace template (HWC RGB, 0..255), sampled as
/// OpenCV's `warpAffine` does (bilinear, integer pixel centres, zero outside the frame), the
/// sampling SFace's own pipeline used. `None` when the landmarks are degenerate.
pub fn aligned_face(img: &RgbImage, face: &Detection, size: usize) -> Option<Vec<f32>> {
    aligned_view(img, face, size, 1.0)
}

/// [`aligned_face`] with the template shrunk `view` times ([`template4_view`]).
pub fn aligned_view(img: &RgbImage, face: &Detection, size: usize, view: f64) -> Option<Vec<f32>> {
    alignment_view(face, size, view).and_then(|m| warp(img, &m, size))
}

/// Samples output pixel (x, y) at `m`^-1 (x, y) in the frame.
pub fn warp(img: &RgbImage, m: &Similarity, size: usize) -> Option<Vec<f32>> {
    let inv = m.inverse()?;
    let (w, h) = (img.width() as i64, img.height() as i64);
    let mut out = vec![0f32; size * size * 3];
    for y in 0..size {
        for x in 0..size {
            let [sx, sy] = inv.apply([x as f64, y as f64]);
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let px =
                |xx: i64, yy: i64, c: usize| -> f64 { if xx < 0 || yy < 0 || xx >= w || yy >= h { 0.0 } else { img.at(xx as usize, yy as usize, c) as f64 } };
            for c in 0..3 {
                let top = px(x0, y0, c) * (1.0 - fx) + px(x0 + 1, y0, c) * fx;
                let bot = px(x0, y0 + 1, c) * (1.0 - fx) + px(x0 + 1, y0 + 1, c) * fx;
                out[(y * size + x) * 3 + c] = (top * (1.0 - fy) + bot * fy) as f32;
            }
        }
    }
    Some(out)
}

/// The detector box widened `view` times about its centre and made square on its longer
/// side, cut out with out-of-frame pixels mirrored (OpenCV's BORDER_REFLECT_101) and resized
/// to `size` (bilinear, half-pixel centres, as `cv2.resize`): MiniFASNet's input recipe, so the
/// paper or screen edge around the face stays in view and the frame edge adds no black border.
pub fn reflected_view(img: &RgbImage, face: &Detection, view: f64, size: usize) -> Vec<f32> {
    let [x1, y1, x2, y2] = face.raw_box;
    let side = (x2 - x1).max(y2 - y1) * view;
    let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let (left, top) = ((cx - side / 2.0).round() as i64, (cy - side / 2.0).round() as i64);
    let side_px = side.round().max(1.0) as i64;
    let (w, h) = (img.width() as i64, img.height() as i64);
    let reflect = |v: i64, n: i64| -> usize {
        if n == 1 {
            return 0;
        }
        let period = 2 * (n - 1);
        let m = v.rem_euclid(period);
        (if m < n { m } else { period - m }) as usize
    };
    let scale = side_px as f64 / size as f64;
    let mut out = vec![0f32; size * size * 3];
    for y in 0..size {
        let sy = ((y as f64 + 0.5) * scale - 0.5).clamp(0.0, (side_px - 1) as f64);
        let (y0, fy) = (sy.floor() as i64, sy - sy.floor());
        let y1 = (y0 + 1).min(side_px - 1);
        let (ra, rb) = (reflect(top + y0, h), reflect(top + y1, h));
        for x in 0..size {
            let sx = ((x as f64 + 0.5) * scale - 0.5).clamp(0.0, (side_px - 1) as f64);
            let (x0, fx) = (sx.floor() as i64, sx - sx.floor());
            let x1 = (x0 + 1).min(side_px - 1);
            let (ca, cb) = (reflect(left + x0, w), reflect(left + x1, w));
            for c in 0..3 {
                let p = |xx: usize, yy: usize| img.at(xx, yy, c) as f64;
                let t = p(ca, ra) * (1.0 - fx) + p(cb, ra) * fx;
                let b = p(ca, rb) * (1.0 - fx) + p(cb, rb) * fx;
                out[(y * size + x) * 3 + c] = (t * (1.0 - fy) + b * fy) as f32;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(points: [[f64; 2]; 4]) -> Detection {
        let mut landmarks = [[0.0; 2]; 6];
        landmarks[..4].copy_from_slice(&points);
        Detection { score: 1.0, raw_box: [0.0; 4], square: [0.0; 4], landmarks }
    }

    fn close(a: [f64; 2], b: [f64; 2], tol: f64) -> bool {
        (a[0] - b[0]).abs() <= tol && (a[1] - b[1]).abs() <= tol
    }

    #[test]
    fn the_template_maps_onto_itself() {
        let t = template4(112);
        let m = Similarity::fit(&t, &t).unwrap();
        assert!((m.a - 1.0).abs() < 1e-12 && m.b.abs() < 1e-12 && m.tx.abs() < 1e-9 && m.ty.abs() < 1e-9, "{m:?}");
        // The detector's first point is the subject's right eye, seen on the image's left.
        assert_eq!((t[0], t[1], t[2]), ([38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366]));
        let big = template4(224);
        assert!(close(big[3], [2.0 * (41.5493 + 70.7299) / 2.0, 2.0 * (92.3655 + 92.2041) / 2.0], 1e-9));
    }

    /// A face rotated by 30 degrees, scaled 2.5x and shifted in the frame comes back upright
    /// onto the template; swapping the eyes (a mirrored face) cannot be fitted as well.
    #[test]
    fn a_rotated_scaled_face_comes_back_upright() {
        let t = template4(112);
        let (ang, s) = (30f64.to_radians(), 2.5);
        let truth = Similarity { a: s * ang.cos(), b: s * ang.sin(), tx: 140.0, ty: -20.0 };
        let frame = t.map(|p| truth.apply(p));
        let m = alignment(&detection(frame), 112).unwrap();
        for (p, q) in frame.iter().zip(&t) {
            assert!(close(m.apply(*p), *q, 1e-9), "{:?} -> {:?}, want {q:?}", p, m.apply(*p));
        }
        assert!((m.angle() + ang).abs() < 1e-9 && (m.scale() - 1.0 / s).abs() < 1e-12);
        let swapped = [frame[1], frame[0], frame[2], frame[3]];
        let bad = alignment(&detection(swapped), 112).unwrap();
        let err: f64 = swapped.iter().zip(&t).map(|(p, q)| (bad.apply(*p)[0] - q[0]).abs()).sum();
        assert!(err > 20.0, "swapped eyes fit too well ({err})");
    }

    #[test]
    fn the_warp_puts_frame_landmarks_on_the_template() {
        // A bright 3x3 dot at each of the four landmarks of a tilted, scaled face.
        let t = template4(112);
        let truth = Similarity { a: 1.6 * 0.3f64.cos(), b: 1.6 * 0.3f64.sin(), tx: 60.0, ty: 10.0 };
        let frame = t.map(|p| truth.apply(p));
        let (w, h) = (320usize, 300usize);
        let mut data = vec![0u8; w * h * 3];
        for p in frame {
            let (x, y) = (p[0].round() as usize, p[1].round() as usize);
            for (dx, dy) in (0..9).map(|k| (k % 3, k / 3)) {
                data[((y + dy - 1) * w + x + dx - 1) * 3] = 255;
            }
        }
        let img = RgbImage::from_rgb(w, h, data).unwrap();
        let crop = aligned_face(&img, &detection(frame.map(|p| [p[0].round(), p[1].round()])), 112).unwrap();
        for q in t {
            // The brightest pixel near each template point is within one pixel of it.
            let (mut best, mut at) = (0f32, [0usize; 2]);
            for y in (q[1] as usize).saturating_sub(4)..(q[1] as usize + 5).min(112) {
                for x in (q[0] as usize).saturating_sub(4)..(q[0] as usize + 5).min(112) {
                    if crop[(y * 112 + x) * 3] > best {
                        best = crop[(y * 112 + x) * 3];
                        at = [x, y];
                    }
                }
            }
            assert!(best > 200.0 && close([at[0] as f64, at[1] as f64], q, 1.5), "template point {q:?}: brightest {best} at {at:?}");
        }
    }

    #[test]
    fn a_wider_view_keeps_the_face_centred_and_smaller() {
        let (t, w) = (template4(128), template4_view(128, 2.0));
        let eyes = |p: [[f64; 2]; 4]| p[1][0] - p[0][0];
        assert!((eyes(t) / eyes(w) - 2.0).abs() < 1e-9);
        // The template's points move towards the centre, each by half its distance.
        for (a, b) in t.iter().zip(&w) {
            assert!(close(*b, [(a[0] + 64.0) / 2.0, (a[1] + 64.0) / 2.0], 1e-9));
        }
        assert_eq!(template4_view(112, 1.0), template4(112));
    }

    #[test]
    fn degenerate_landmarks_give_no_alignment() {
        assert!(alignment(&detection([[5.0, 5.0]; 4]), 112).is_none());
        assert!(alignment(&detection([[f64::NAN, 1.0], [2.0, 1.0], [1.0, 2.0], [1.0, 3.0]]), 112).is_none());
        assert!(Similarity::fit(&[[0.0, 0.0]], &[[1.0, 1.0]]).is_none());
        assert!(Similarity { a: 0.0, b: 0.0, tx: 1.0, ty: 1.0 }.inverse().is_none());
    }

    #[test]
    fn the_reflected_view_mirrors_instead_of_padding_black() {
        // A horizontal ramp; a box at the left edge reaches 20 px outside the frame.
        let (w, h) = (64usize, 64usize);
        let data = (0..h).flat_map(|_| (0..w).flat_map(|x| [(x * 4) as u8, 100, 50])).collect();
        let img = RgbImage::from_rgb(w, h, data).unwrap();
        let mut face = detection([[0.0; 2]; 4]);
        face.raw_box = [0.0, 12.0, 40.0, 52.0];
        let crop = reflected_view(&img, &face, 1.0, 40);
        // Whole-pixel box, same size: pixels are copied; column 0 is frame column 0.
        assert_eq!(crop[0], 0.0);
        assert_eq!(crop[3 * 10], 40.0);
        let wide = reflected_view(&img, &face, 2.0, 80);
        // Column 0 of the 80 px view is frame x = -20, mirrored to x = 20 (value 80), not black.
        assert_eq!(wide[0], 80.0);
        assert!(wide.chunks(3).all(|p| p[1] == 100.0), "no black border anywhere");
    }
}
