//! The one pixel container every stage of the pipeline reads.

use crate::error::FaceError;

/// Frames above this are refused rather than resized: 8K is already 33 Mpx, and a
/// forged width*height must not make the browser allocate gigabytes.
pub const MAX_PIXELS: usize = 40_000_000;

/// An 8-bit RGB image, rows top to bottom, no padding.
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl RgbImage {
    pub fn from_rgb(width: usize, height: usize, data: Vec<u8>) -> Result<Self, FaceError> {
        check_dims(width, height)?;
        let want = width * height * 3;
        if data.len() != want {
            return Err(FaceError::BufferSize { width, height, format: "RGB", got: data.len(), want });
        }
        Ok(Self { width, height, data })
    }

    /// Canvas `ImageData` is RGBA; alpha is dropped (a camera frame is opaque).
    pub fn from_rgba(width: usize, height: usize, rgba: &[u8]) -> Result<Self, FaceError> {
        check_dims(width, height)?;
        let want = width * height * 4;
        if rgba.len() != want {
            return Err(FaceError::BufferSize { width, height, format: "RGBA", got: rgba.len(), want });
        }
        let data = rgba.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        Ok(Self { width, height, data })
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }

    #[inline]
    pub fn at(&self, x: usize, y: usize, c: usize) -> u8 {
        self.data[(y * self.width + x) * 3 + c]
    }
}

fn check_dims(width: usize, height: usize) -> Result<(), FaceError> {
    if width == 0 || height == 0 {
        return Err(FaceError::EmptyImage { width, height });
    }
    match width.checked_mul(height) {
        Some(p) if p <= MAX_PIXELS => Ok(()),
        _ => Err(FaceError::ImageTooLarge { width, height, max_pixels: MAX_PIXELS }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_sizes_and_empty_and_huge() {
        assert!(matches!(RgbImage::from_rgb(2, 2, vec![0; 11]), Err(FaceError::BufferSize { want: 12, .. })));
        assert!(matches!(RgbImage::from_rgba(0, 5, &[]), Err(FaceError::EmptyImage { .. })));
        assert!(matches!(RgbImage::from_rgba(100_000, 100_000, &[]), Err(FaceError::ImageTooLarge { .. })));
        assert!(matches!(RgbImage::from_rgba(usize::MAX, 2, &[]), Err(FaceError::ImageTooLarge { .. })));
    }

    #[test]
    fn rgba_drops_alpha() {
        let img = RgbImage::from_rgba(1, 2, &[1, 2, 3, 255, 4, 5, 6, 0]).unwrap();
        assert_eq!(img.data(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(img.at(0, 1, 2), 6);
    }
}
