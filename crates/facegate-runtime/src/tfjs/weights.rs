//! Decodes the binary weight shards that the manifest describes.

use super::error::{Result, TfjsError};
use super::manifest::WeightSpec;

/// A decoded constant, kept in TF's own layout until the graph decides how to use it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstData {
    F32 { shape: Vec<usize>, data: Vec<f32> },
    I32 { shape: Vec<usize>, data: Vec<i32> },
}

/// Reads one weight from `bytes`, returning it and the number of bytes it took.
pub fn decode_weight(spec: &WeightSpec, bytes: &[u8]) -> Result<(ConstData, usize)> {
    let count: usize = spec.shape.iter().product();
    let err = |reason: String| TfjsError::Weight { name: spec.name.clone(), reason };
    let stored = spec.quantization.as_ref().map(|q| q.dtype.as_str()).unwrap_or(spec.dtype.as_str());
    let width = match stored {
        "float32" | "int32" => 4,
        "float16" | "uint16" => 2,
        "uint8" => 1,
        other => return Err(err(format!("unsupported stored dtype `{other}`"))),
    };
    let len = count * width;
    if bytes.len() < len {
        return Err(err(format!("needs {len} bytes, shard has {} left", bytes.len())));
    }
    let raw = &bytes[..len];
    let data = match (spec.dtype.as_str(), stored) {
        ("float32", "float32") => ConstData::F32 { shape: spec.shape.clone(), data: le_f32(raw) },
        ("int32", "int32") => {
            ConstData::I32 { shape: spec.shape.clone(), data: raw.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect() }
        }
        ("float32", "float16") => {
            ConstData::F32 { shape: spec.shape.clone(), data: raw.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect() }
        }
        ("float32", "uint8") | ("float32", "uint16") => {
            let q = spec.quantization.as_ref().expect("quantized");
            let (scale, min) = match (q.scale, q.min) {
                (Some(s), Some(m)) => (s, m),
                _ => return Err(err("affine quantization without scale/min".into())),
            };
            let data = if width == 1 {
                raw.iter().map(|&v| v as f32 * scale + min).collect()
            } else {
                raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as f32 * scale + min).collect()
            };
            ConstData::F32 { shape: spec.shape.clone(), data }
        }
        (d, s) => return Err(err(format!("unsupported dtype {d} stored as {s}"))),
    };
    Ok((data, len))
}

fn le_f32(raw: &[u8]) -> Vec<f32> {
    raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfjs::manifest::Quantization;

    fn spec(dtype: &str, q: Option<&str>, shape: Vec<usize>) -> WeightSpec {
        WeightSpec { name: "w".into(), shape, dtype: dtype.into(), quantization: q.map(|d| Quantization { dtype: d.into(), scale: None, min: None }) }
    }

    #[test]
    fn float16_weights_decode_to_f32() {
        let bytes: Vec<u8> = [1.0f32, -2.5, 0.099975586].iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        let (c, used) = decode_weight(&spec("float32", Some("float16"), vec![3]), &bytes).unwrap();
        assert_eq!(used, 6);
        assert_eq!(c, ConstData::F32 { shape: vec![3], data: vec![1.0, -2.5, 0.099975586] });
    }

    #[test]
    fn short_shard_is_an_error_naming_the_weight() {
        let e = decode_weight(&spec("float32", None, vec![4]), &[0u8; 8]).unwrap_err();
        assert!(e.to_string().contains("weight `w`"), "{e}");
    }
}
