//! Enrolment templates: an averaged embedding bound to the model that made it.
//!
//! Layout (little endian): magic "FGTP" | u16 format version | u32 model id (CRC-32 of the
//! student weight file) | u16 dimensions | f32 values | u32 CRC-32 of everything before.
//! Templates are never images; the JavaScript layer encrypts these bytes (AES-GCM) before
//! they are stored anywhere.

use crate::error::EngineError;
use facegate_format::crc32;

const MAGIC: &[u8; 4] = b"FGTP";
pub const TEMPLATE_VERSION: u16 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub model_id: u32,
    /// Unit-length mean embedding of the enrolment frames.
    pub embedding: Vec<f32>,
}

impl Template {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + 4 * self.embedding.len());
        out.extend(MAGIC);
        out.extend(TEMPLATE_VERSION.to_le_bytes());
        out.extend(self.model_id.to_le_bytes());
        out.extend((self.embedding.len() as u16).to_le_bytes());
        self.embedding.iter().for_each(|v| out.extend(v.to_le_bytes()));
        let crc = crc32(&out);
        out.extend(crc.to_le_bytes());
        out
    }

    /// Parses and checks a template for the model `model_id` with `dims` dimensions.
    pub fn from_bytes(b: &[u8], model_id: u32, dims: usize) -> Result<Self, EngineError> {
        if b.len() < 16 || &b[..4] != MAGIC {
            return Err(EngineError::CorruptTemplate);
        }
        let (body, tail) = b.split_at(b.len() - 4);
        if crc32(body).to_le_bytes() != tail {
            return Err(EngineError::CorruptTemplate);
        }
        let version = u16::from_le_bytes([b[4], b[5]]);
        if version != TEMPLATE_VERSION {
            return Err(EngineError::TemplateVersion { found: version, supported: TEMPLATE_VERSION });
        }
        let found = u32::from_le_bytes([b[6], b[7], b[8], b[9]]);
        if found != model_id {
            return Err(EngineError::ForeignTemplate { found, expected: model_id });
        }
        let n = u16::from_le_bytes([b[10], b[11]]) as usize;
        if n != dims || body.len() != 12 + 4 * n {
            return Err(EngineError::CorruptTemplate);
        }
        let embedding: Vec<f32> = body[12..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if embedding.iter().any(|v| !v.is_finite()) {
            return Err(EngineError::CorruptTemplate);
        }
        Ok(Self { model_id, embedding })
    }
}

/// The normalised mean of unit embeddings.
pub fn average(embeddings: &[Vec<f32>]) -> Vec<f32> {
    let dims = embeddings.first().map_or(0, |e| e.len());
    let mut mean = vec![0f32; dims];
    for e in embeddings {
        for (m, v) in mean.iter_mut().zip(e) {
            *m += v;
        }
    }
    let norm = mean.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    mean.iter().map(|v| v / norm).collect()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|v| v * v).sum::<f32>().sqrt();
    let nb = b.iter().map(|v| v * v).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Template {
        Template { model_id: 0xdead_beef, embedding: average(&[vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]]) }
    }

    #[test]
    fn round_trips() {
        let t = sample();
        assert_eq!(Template::from_bytes(&t.to_bytes(), 0xdead_beef, 3).unwrap(), t);
        assert!((t.embedding[0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    }

    #[test]
    fn refuses_what_it_did_not_make() {
        let b = sample().to_bytes();
        assert_eq!(Template::from_bytes(&b, 1, 3).unwrap_err().code(), "FOREIGN_TEMPLATE");
        assert_eq!(Template::from_bytes(&b[..b.len() - 1], 0xdead_beef, 3).unwrap_err().code(), "CORRUPT_TEMPLATE");
        assert_eq!(Template::from_bytes(&[], 0xdead_beef, 3).unwrap_err().code(), "CORRUPT_TEMPLATE");
        let mut tampered = b.clone();
        tampered[14] ^= 1;
        assert_eq!(Template::from_bytes(&tampered, 0xdead_beef, 3).unwrap_err().code(), "CORRUPT_TEMPLATE");
        assert_eq!(Template::from_bytes(&b, 0xdead_beef, 128).unwrap_err().code(), "CORRUPT_TEMPLATE");
        let mut v2 = b[..b.len() - 4].to_vec();
        v2[4] = 2;
        let crc = crc32(&v2);
        v2.extend(crc.to_le_bytes());
        assert_eq!(Template::from_bytes(&v2, 0xdead_beef, 3).unwrap_err().code(), "TEMPLATE_VERSION");
    }
}
