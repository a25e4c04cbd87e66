//! Training for facegate's own networks: augmentation, a seeded loop that checkpoints every
//! epoch and resumes, and the anti-spoofing teacher recipe.

pub mod augment;
pub mod checkpoint;
pub mod distil;
pub mod init;
pub mod losses;
pub mod minifas;
pub mod onnx_net;
pub mod pad_teacher;
pub mod rng;
