//! The datasets' on-disk layouts, read in one place so the training and evaluation
//! commands agree on what a "test split" is. Nothing here runs a model.

pub mod cache;
mod error;
pub mod faces;
mod image_io;
pub mod lfw;
pub mod pad;
pub mod sources;
pub mod splits;

pub use error::{DataError, check_dir};
pub use image_io::{images_in, is_image, load_rgb};
