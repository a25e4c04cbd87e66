/// Why a frame gave no usable face. Every variant leaves the caller's state untouched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaceError {
    #[error("image buffer has {got} bytes, {width}x{height} {format} needs {want}")]
    BufferSize { width: usize, height: usize, format: &'static str, got: usize, want: usize },
    #[error("image is empty ({width}x{height})")]
    EmptyImage { width: usize, height: usize },
    #[error("image {width}x{height} is larger than the {max_pixels}-pixel limit")]
    ImageTooLarge { width: usize, height: usize, max_pixels: usize },
    #[error("image contains non-finite values")]
    NonFinite,
    #[error("no face found")]
    NoFace,
    #[error("{count} faces found, expected one")]
    SeveralFaces { count: usize },
    #[error("detector: {0}")]
    Model(String),
}
