//! Augmentations that matter for attacks and cameras. They act on cached context crops
//! (see `facegate_datasets::cache`), never change the label, and always return an
//! `out`x`out` HWC RGB crop in 0..255.

use crate::rng::Rng;
use facegate_face::specs::CONTEXT_VIEW;
use facegate_face::{RgbImage, crop_and_resize, resize_bilinear_f32};

#[derive(Debug, Clone, PartialEq)]
pub struct Augment {
    /// Face-box sides the output spans before jitter (see `facegate_face::face_crop_view`).
    pub view: f64,
    pub flip: f64,
    /// Box side multiplier range.
    pub scale: (f64, f64),
    /// Box centre shift, as a fraction of the side.
    pub shift: f64,
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub gamma: (f64, f64),
    pub blur: f64,
    pub jpeg: f64,
    pub jpeg_quality: (u8, u8),
    pub downscale: f64,
    pub downscale_range: (f64, f64),
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            view: 1.0,
            flip: 0.5,
            scale: (0.9, 1.1),
            shift: 0.08,
            brightness: 0.25,
            contrast: 0.25,
            saturation: 0.25,
            gamma: (0.7, 1.4),
            blur: 0.2,
            jpeg: 0.3,
            jpeg_quality: (35, 95),
            downscale: 0.25,
            downscale_range: (0.35, 0.8),
        }
    }
}

/// The un-augmented view: the face box widened `view` times, inside the cached context crop.
pub fn center(crop: &[u8], size: usize, out: usize, view: f64) -> Vec<f32> {
    window(crop, size, out, view, 0.0, 0.0)
}

/// The window `scale` face-box sides wide whose centre sits `dx`, `dy` (fractions of the
/// context crop) off the face box's centre.
pub fn window(crop: &[u8], size: usize, out: usize, scale: f64, dx: f64, dy: f64) -> Vec<f32> {
    let img = RgbImage::from_rgb(size, size, crop.to_vec()).expect("cache crops are square RGB");
    let half = 0.5 / CONTEXT_VIEW * scale;
    let (cx, cy) = (0.5 + dx, 0.5 + dy);
    crop_and_resize(&img, (cy - half) as f32, (cx - half) as f32, (cy + half) as f32, (cx + half) as f32, out, out)
}

impl Augment {
    pub fn apply(&self, crop: &[u8], size: usize, out: usize, rng: &mut Rng) -> Vec<f32> {
        let mut x = self.jitter(crop, size, out, rng);
        if rng.chance(self.flip) {
            flip(&mut x, out);
        }
        self.camera(x, out, rng)
    }

    /// The geometric half of `apply`: the view window with its box scaled and shifted, as a
    /// detector's box moves from frame to frame.
    pub fn jitter(&self, crop: &[u8], size: usize, out: usize, rng: &mut Rng) -> Vec<f32> {
        let scale = self.view * rng.range(self.scale.0, self.scale.1);
        let side = scale / CONTEXT_VIEW;
        let (dx, dy) = (rng.range(-self.shift, self.shift) * side, rng.range(-self.shift, self.shift) * side);
        window(crop, size, out, scale, dx, dy)
    }

    /// The camera half of `apply` (resolution, colour, blur, compression), which moves no
    /// pixel: teacher targets computed on the clean crop stay valid for its output.
    pub fn camera(&self, mut x: Vec<f32>, out: usize, rng: &mut Rng) -> Vec<f32> {
        if rng.chance(self.downscale) {
            let small = ((out as f64 * rng.range(self.downscale_range.0, self.downscale_range.1)) as usize).max(8);
            let s = resize_bilinear_f32(&x, out, out, small, small);
            x = resize_bilinear_f32(&s, small, small, out, out);
        }
        colour(&mut x, self, rng);
        if rng.chance(self.blur) {
            x = blur3(&x, out);
        }
        if rng.chance(self.jpeg) {
            let q = rng.range(self.jpeg_quality.0 as f64, self.jpeg_quality.1 as f64) as u8;
            x = jpeg(&x, out, q);
        }
        x
    }
}

/// Mirroring lives with the student: inference uses it too.
pub use facegate_nets::student::flip;

fn colour(x: &mut [f32], a: &Augment, rng: &mut Rng) {
    let b = rng.range(-a.brightness, a.brightness) as f32 * 255.0;
    let c = 1.0 + rng.range(-a.contrast, a.contrast) as f32;
    let s = 1.0 + rng.range(-a.saturation, a.saturation) as f32;
    let g = rng.range(a.gamma.0, a.gamma.1) as f32;
    let mean = x.iter().sum::<f32>() / x.len() as f32;
    for px in x.chunks_exact_mut(3) {
        let grey = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];
        for v in px.iter_mut() {
            let sat = grey + (*v - grey) * s;
            let con = mean + (sat - mean) * c + b;
            *v = 255.0 * (con.clamp(0.0, 255.0) / 255.0).powf(g);
        }
    }
}

fn blur3(x: &[f32], side: usize) -> Vec<f32> {
    const K: [f32; 3] = [0.25, 0.5, 0.25];
    let at = |y: isize, xx: isize, c: usize| {
        let y = y.clamp(0, side as isize - 1) as usize;
        let xx = xx.clamp(0, side as isize - 1) as usize;
        x[(y * side + xx) * 3 + c]
    };
    let mut out = vec![0f32; x.len()];
    for y in 0..side as isize {
        for xx in 0..side as isize {
            for c in 0..3 {
                let mut acc = 0.0;
                for (i, ky) in K.iter().enumerate() {
                    for (j, kx) in K.iter().enumerate() {
                        acc += ky * kx * at(y + i as isize - 1, xx + j as isize - 1, c);
                    }
                }
                out[(y as usize * side + xx as usize) * 3 + c] = acc;
            }
        }
    }
    out
}

fn jpeg(x: &[f32], side: usize, quality: u8) -> Vec<f32> {
    let bytes: Vec<u8> = x.iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect();
    let mut buf = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100));
    if image::ImageEncoder::write_image(enc, &bytes, side as u32, side as u32, image::ExtendedColorType::Rgb8).is_err() {
        return x.to_vec();
    }
    match image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg) {
        Ok(img) => img.to_rgb8().into_raw().into_iter().map(|v| v as f32).collect(),
        Err(_) => x.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crop(size: usize) -> Vec<u8> {
        (0..size * size).flat_map(|i| [(i % size * 255 / size) as u8, (i / size * 255 / size) as u8, 90]).collect()
    }

    #[test]
    fn keeps_shape_and_range_and_is_seeded() {
        let c = crop(160);
        let aug = Augment { blur: 1.0, jpeg: 1.0, downscale: 1.0, ..Augment::default() };
        let a = aug.apply(&c, 160, 128, &mut Rng(7));
        let b = aug.apply(&c, 160, 128, &mut Rng(7));
        assert_eq!(a.len(), 128 * 128 * 3);
        assert_eq!(a, b, "same seed, same crop");
        assert!(a.iter().all(|v| (0.0..=255.0).contains(v)));
        assert_ne!(a, aug.apply(&c, 160, 128, &mut Rng(8)));
    }

    #[test]
    fn centre_view_is_the_widened_face_box() {
        // The face box is the centre 1 / CONTEXT_VIEW of the cached crop.
        let c = crop(160);
        for view in [1.0, 1.5] {
            let col = 160.0 * (1.0 - view / CONTEXT_VIEW) / 2.0;
            let v = center(&c, 160, 128, view);
            assert_eq!(v.len(), 128 * 128 * 3);
            let expect = (col * 255.0 / 160.0) as f32;
            assert!((v[0] - expect).abs() <= 2.0, "view {view}: {} vs {expect}", v[0]);
        }
    }

    #[test]
    fn camera_effects_keep_shape_and_range() {
        let x = center(&crop(160), 160, 128, 1.5);
        let aug = Augment { blur: 1.0, jpeg: 1.0, downscale: 1.0, ..Augment::default() };
        let y = aug.camera(x.clone(), 128, &mut Rng(3));
        assert_eq!(y.len(), x.len());
        assert!(y.iter().all(|v| (0.0..=255.0).contains(v)));
        assert_ne!(x, y);
    }

    #[test]
    fn flip_mirrors_rows() {
        let mut x: Vec<f32> = (0..2 * 2 * 3).map(|v| v as f32).collect();
        flip(&mut x, 2);
        assert_eq!(&x[..6], &[3.0, 4.0, 5.0, 0.0, 1.0, 2.0]);
    }
}
