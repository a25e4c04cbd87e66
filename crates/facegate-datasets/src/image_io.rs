use crate::error::DataError;
use facegate_face::RgbImage;
use std::path::{Path, PathBuf};

/// Decodes a JPEG or PNG file into the pipeline's RGB type.
pub fn load_rgb(path: &Path) -> Result<RgbImage, DataError> {
    let bytes = std::fs::read(path).map_err(crate::error::io(path))?;
    let img = image::load_from_memory(&bytes).map_err(|e| DataError::Image { path: path.to_path_buf(), reason: e.to_string() })?.to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    RgbImage::from_rgb(w, h, img.into_raw()).map_err(|e| DataError::Image { path: path.to_path_buf(), reason: e.to_string() })
}

pub fn is_image(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(), Some("jpg" | "jpeg" | "png"))
}

/// Every image below `dir`, sorted, so runs are reproducible. An empty folder is an error.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(crate::error::io(&d))? {
            let path = entry.map_err(crate::error::io(&d))?.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_image(&path) {
                out.push(path);
            }
        }
    }
    if out.is_empty() {
        return Err(DataError::Empty { path: dir.to_path_buf() });
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_image_names_the_file() {
        let dir = std::env::temp_dir().join(format!("fg-img-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("broken.jpg");
        std::fs::write(&bad, b"\xff\xd8 definitely not a jpeg").unwrap();
        let e = load_rgb(&bad).unwrap_err().to_string();
        assert!(e.contains("broken.jpg"), "{e}");
        let empty = dir.join("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(images_in(&empty), Err(DataError::Empty { .. })));
        assert_eq!(images_in(&dir).unwrap(), vec![bad]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
