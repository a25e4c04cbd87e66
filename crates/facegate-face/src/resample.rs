//! TensorFlow's bilinear resampling, reproduced exactly: models were trained on pixels
//! produced this way, and the reference pipeline (human / tfjs) crops with it.
//! Arithmetic follows tfjs' cpu kernels (f64 coordinates, f32 results).

use crate::image::RgbImage;

/// `tf.image.resizeBilinear(img, [h, w])` with `alignCorners = false`, `halfPixelCenters = false`.
/// Returns HWC f32 in 0..255.
pub fn resize_bilinear(img: &RgbImage, out_h: usize, out_w: usize) -> Vec<f32> {
    resize_rgb(img.data(), img.height(), img.width(), out_h, out_w)
}

/// The same resize on an HWC f32 RGB buffer (a crop being rescaled for another model).
pub fn resize_bilinear_f32(src: &[f32], in_h: usize, in_w: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    assert_eq!(src.len(), in_h * in_w * 3, "HWC RGB buffer");
    resize_rgb(src, in_h, in_w, out_h, out_w)
}

/// Bilinear blend of four neighbours in TF's order (along x first, then y).
#[inline]
fn lerp2(tl: f64, tr: f64, bl: f64, br: f64, fx: f64, fy: f64) -> f32 {
    let t = tl + (tr - tl) * fx;
    let b = bl + (br - bl) * fx;
    (t + (b - t) * fy) as f32
}

/// Reads two source rows per output row, by slice: the detector resizes every frame.
fn resize_rgb<T: Copy + Into<f64>>(src: &[T], ih: usize, iw: usize, out_h: usize, out_w: usize) -> Vec<f32> {
    let ry = ih as f64 / out_h as f64;
    let rx = iw as f64 / out_w as f64;
    // Per output column: the two source pixels' offsets in a row, and the weight of the right one.
    let cols: Vec<(usize, usize, f64)> = (0..out_w)
        .map(|c| {
            let f = rx * c as f64;
            let lo = f.floor().max(0.0);
            (lo as usize * 3, (f.ceil() as usize).min(iw - 1) * 3, f - lo)
        })
        .collect();
    let mut out = Vec::with_capacity(out_h * out_w * 3);
    for r in 0..out_h {
        let f = ry * r as f64;
        let lo = f.floor().max(0.0);
        let (top, bot, fy) = (lo as usize, (f.ceil() as usize).min(ih - 1), f - lo);
        let (t, b) = (&src[top * iw * 3..][..iw * 3], &src[bot * iw * 3..][..iw * 3]);
        for &(left, right, fx) in &cols {
            for ch in 0..3 {
                out.push(lerp2(t[left + ch].into(), t[right + ch].into(), b[left + ch].into(), b[right + ch].into(), fx, fy));
            }
        }
    }
    out
}

/// `tf.image.cropAndResize(img, [[y1, x1, y2, x2]], [0], [h, w])` with a zero extrapolation
/// value. Box corners are normalised to the image and stored as f32, as tfjs does.
pub fn crop_and_resize(img: &RgbImage, y1: f32, x1: f32, y2: f32, x2: f32, out_h: usize, out_w: usize) -> Vec<f32> {
    let (ih, iw) = (img.height() as f64, img.width() as f64);
    let (y1, x1, y2, x2) = (y1 as f64, x1 as f64, y2 as f64, x2 as f64);
    let hs = if out_h > 1 { (y2 - y1) * (ih - 1.0) / (out_h - 1) as f64 } else { 0.0 };
    let ws = if out_w > 1 { (x2 - x1) * (iw - 1.0) / (out_w - 1) as f64 } else { 0.0 };
    let iw_px = img.width();
    let data = img.data();
    // Per output column: the two source pixels' offsets in a row and the right one's weight,
    // None outside the image.
    let cols: Vec<Option<(usize, usize, f64)>> = (0..out_w)
        .map(|x| {
            let xin = if out_w > 1 { x1 * (iw - 1.0) + x as f64 * ws } else { 0.5 * (x1 + x2) * (iw - 1.0) };
            (0.0..=iw - 1.0).contains(&xin).then(|| (xin.floor() as usize * 3, xin.ceil() as usize * 3, xin - xin.floor()))
        })
        .collect();
    let mut out = vec![0f32; out_h * out_w * 3];
    for y in 0..out_h {
        let yin = if out_h > 1 { y1 * (ih - 1.0) + y as f64 * hs } else { 0.5 * (y1 + y2) * (ih - 1.0) };
        if yin < 0.0 || yin > ih - 1.0 {
            continue;
        }
        let (top, bot) = (yin.floor() as usize, yin.ceil() as usize);
        let fy = yin - yin.floor();
        let (t, b) = (&data[top * iw_px * 3..][..iw_px * 3], &data[bot * iw_px * 3..][..iw_px * 3]);
        for (x, col) in cols.iter().enumerate() {
            let Some((left, right, fx)) = *col else { continue };
            for ch in 0..3 {
                let p = |row: &[u8], at: usize| row[at + ch] as f64;
                out[(y * out_w + x) * 3 + ch] = lerp2(p(t, left), p(t, right), p(b, left), p(b, right), fx, fy);
            }
        }
    }
    out
}

/// Samples an `out`x`out` square centred on (`cx`, `cy`) with side `side` pixels, rotated by
/// `angle` radians, bilinear, zero outside the image. Used for roll alignment, where TF's
/// axis-aligned crop cannot be used.
pub fn rotated_crop(img: &RgbImage, cx: f64, cy: f64, side: f64, angle: f64, out: usize) -> Vec<f32> {
    let (iw, ih) = (img.width() as f64, img.height() as f64);
    let step = if out > 1 { side / out as f64 } else { 0.0 };
    let (s, c) = angle.sin_cos();
    let mut dst = vec![0f32; out * out * 3];
    for y in 0..out {
        for x in 0..out {
            // Pixel centre in the crop, relative to the centre, rotated into the frame.
            let u = (x as f64 + 0.5 - out as f64 / 2.0) * step;
            let v = (y as f64 + 0.5 - out as f64 / 2.0) * step;
            let sx = cx + u * c - v * s - 0.5;
            let sy = cy + u * s + v * c - 0.5;
            if sx < 0.0 || sy < 0.0 || sx > iw - 1.0 || sy > ih - 1.0 {
                continue;
            }
            let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(img.width() - 1), (y0 + 1).min(img.height() - 1));
            let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
            for ch in 0..3 {
                let p = |x: usize, y: usize| img.at(x, y, ch) as f64;
                dst[(y * out + x) * 3 + ch] = lerp2(p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1), fx, fy);
            }
        }
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(w: usize, h: usize) -> RgbImage {
        let data = (0..h).flat_map(|y| (0..w).flat_map(move |x| [(x * 10) as u8, (y * 10) as u8, 7])).collect();
        RgbImage::from_rgb(w, h, data).unwrap()
    }

    #[test]
    fn resize_uses_top_left_aligned_sampling() {
        // 4 -> 2 samples source columns 0 and 2 (no half-pixel centres).
        let out = resize_bilinear(&ramp(4, 4), 2, 2);
        assert_eq!(&out[0..3], &[0.0, 0.0, 7.0]);
        assert_eq!(&out[3..6], &[20.0, 0.0, 7.0]);
        // 2 -> 4 interpolates halfway and clamps at the edge.
        let out = resize_bilinear(&ramp(2, 2), 4, 4);
        let xs: Vec<f32> = (0..4).map(|c| out[c * 3]).collect();
        assert_eq!(xs, vec![0.0, 5.0, 10.0, 10.0]);
        let as_f32: Vec<f32> = ramp(2, 2).data().iter().map(|&v| v as f32).collect();
        assert_eq!(resize_bilinear_f32(&as_f32, 2, 2, 4, 4), out);
    }

    #[test]
    fn crop_outside_the_image_is_zero() {
        let out = crop_and_resize(&ramp(4, 4), -1.0, -1.0, 0.0, 0.0, 3, 3);
        assert_eq!(out[0], 0.0);
        assert_eq!(&out[8 * 3..9 * 3], &[0.0, 0.0, 7.0]); // last sample is pixel (0,0)
    }

    #[test]
    fn unrotated_crop_of_whole_image_reproduces_it() {
        let img = ramp(4, 4);
        let out = rotated_crop(&img, 2.0, 2.0, 4.0, 0.0, 4);
        let want: Vec<f32> = img.data().iter().map(|&v| v as f32).collect();
        assert_eq!(out, want);
    }
}
