/// Every way a call can fail. Each variant has a stable `code()` that JavaScript callers can
/// switch on; none of them changes the engine's state.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    Frame(#[from] facegate_face::FaceError),
    #[error("the frame list is empty")]
    NoFrames,
    #[error("only {good} of {total} frames were usable ({reasons}); {needed} are needed")]
    NotEnoughFrames { good: usize, total: usize, needed: usize, reasons: String },
    #[error("template is corrupt or truncated")]
    CorruptTemplate,
    #[error("template format {found} is not supported (this build reads {supported})")]
    TemplateVersion { found: u16, supported: u16 },
    #[error("template was made by another model ({found:08x}, this one is {expected:08x}); enroll again")]
    ForeignTemplate { found: u32, expected: u32 },
    #[error("option `{name}` must be a finite number in {range}, got {value}")]
    BadOption { name: &'static str, value: f64, range: &'static str },
    #[error("model: {0}")]
    Model(String),
    #[error("scores to decide on: {0}")]
    BadScores(String),
}

impl EngineError {
    pub fn code(&self) -> &'static str {
        use facegate_face::FaceError as F;
        match self {
            EngineError::Frame(F::BufferSize { .. }) => "BAD_BUFFER_SIZE",
            EngineError::Frame(F::EmptyImage { .. }) => "EMPTY_IMAGE",
            EngineError::Frame(F::ImageTooLarge { .. }) => "IMAGE_TOO_LARGE",
            EngineError::Frame(F::NonFinite) => "NON_FINITE",
            EngineError::Frame(F::NoFace) => "NO_FACE",
            EngineError::Frame(F::SeveralFaces { .. }) => "SEVERAL_FACES",
            EngineError::Frame(F::Model(_)) | EngineError::Model(_) => "MODEL",
            EngineError::NoFrames => "NO_FRAMES",
            EngineError::NotEnoughFrames { .. } => "NOT_ENOUGH_FRAMES",
            EngineError::CorruptTemplate => "CORRUPT_TEMPLATE",
            EngineError::TemplateVersion { .. } => "TEMPLATE_VERSION",
            EngineError::ForeignTemplate { .. } => "FOREIGN_TEMPLATE",
            EngineError::BadOption { .. } => "BAD_OPTION",
            EngineError::BadScores(_) => "BAD_ARGUMENT",
        }
    }
}
