//! The JSON side of a TensorFlow.js graph model: topology nodes and the weights manifest.

use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
pub struct ModelJson {
    #[serde(rename = "modelTopology")]
    pub topology: Topology,
    #[serde(rename = "weightsManifest")]
    pub weights_manifest: Vec<WeightGroup>,
}

#[derive(Debug, Deserialize)]
pub struct Topology {
    pub node: Vec<NodeDef>,
}

#[derive(Debug, Deserialize)]
pub struct NodeDef {
    pub name: String,
    pub op: String,
    #[serde(default)]
    pub input: Vec<String>,
    #[serde(default)]
    pub attr: BTreeMap<String, Json>,
}

#[derive(Debug, Deserialize)]
pub struct WeightGroup {
    pub paths: Vec<String>,
    pub weights: Vec<WeightSpec>,
}

#[derive(Debug, Deserialize)]
pub struct WeightSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: String,
    #[serde(default)]
    pub quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
pub struct Quantization {
    pub dtype: String,
    #[serde(default)]
    pub scale: Option<f32>,
    #[serde(default)]
    pub min: Option<f32>,
}

impl NodeDef {
    /// Inputs without control dependencies (`^name`) and without output indices (`name:0`).
    pub fn data_inputs(&self) -> impl Iterator<Item = &str> {
        self.input.iter().filter(|s| !s.starts_with('^')).map(|s| match s.rsplit_once(':') {
            Some((n, idx)) if idx.chars().all(|c| c.is_ascii_digit()) => n,
            _ => s.as_str(),
        })
    }

    pub fn attr_ints(&self, key: &str) -> Option<Vec<i64>> {
        let list = self.attr.get(key)?.get("list")?;
        let items = list.get("i").and_then(|v| v.as_array());
        Some(match items {
            Some(a) => a
                .iter()
                .filter_map(|v| match v {
                    Json::String(s) => s.parse().ok(),
                    Json::Number(n) => n.as_i64(),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        })
    }

    pub fn attr_int(&self, key: &str) -> Option<i64> {
        match self.attr.get(key)?.get("i")? {
            Json::String(s) => s.parse().ok(),
            Json::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub fn attr_bool(&self, key: &str) -> Option<bool> {
        self.attr.get(key)?.get("b")?.as_bool()
    }

    /// TF stores strings base64-encoded in the JSON graph.
    pub fn attr_string(&self, key: &str) -> Option<String> {
        let s = self.attr.get(key)?.get("s")?.as_str()?;
        base64_decode(s).and_then(|b| String::from_utf8(b).ok())
    }

    pub fn attr_strings(&self, key: &str) -> Vec<String> {
        self.attr
            .get(key)
            .and_then(|a| a.get("list"))
            .and_then(|l| l.get("s"))
            .and_then(|s| s.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).filter_map(|s| base64_decode(s).and_then(|b| String::from_utf8(b).ok())).collect())
            .unwrap_or_default()
    }
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        })
    }
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let n = chunk.len() * 6 / 8;
        for i in 0..n {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// A one-shard TF.js graph model (`model.json`, its shard) with every unquantized float32
/// weight stored as float16, as the TF.js manifest's own `float16` quantization writes it; other
/// weights as they are. The browser build embeds the detector so (half the bytes: its published
/// weights are float16 values widened to float32), and every other build of the browser's
/// detector (the WebGPU program) reads it the same way, so all run the same numbers.
pub fn float16_weights(model_json: &[u8], shard: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
    let mut model: Json = serde_json::from_slice(model_json).map_err(|e| e.to_string())?;
    let groups = model["weightsManifest"].as_array_mut().ok_or("no weightsManifest")?;
    if groups.len() != 1 || groups[0]["paths"].as_array().map(Vec::len) != Some(1) {
        return Err("expected one weight group with one shard".into());
    }
    let mut at = 0usize;
    let mut out = Vec::with_capacity(shard.len() / 2);
    for w in groups[0]["weights"].as_array_mut().ok_or("no weights")? {
        let count: usize = w["shape"].as_array().ok_or("weight without shape")?.iter().map(|d| d.as_u64().unwrap_or(0) as usize).product();
        let width = match (w["dtype"].as_str(), w.get("quantization").and_then(|q| q["dtype"].as_str())) {
            (Some("float32" | "int32"), None) => 4,
            (_, Some("float16" | "uint16")) => 2,
            (_, Some("uint8")) => 1,
            other => return Err(format!("weight {} has an unknown layout {other:?}", w["name"])),
        };
        let raw = shard.get(at..at + count * width).ok_or_else(|| format!("shard ends inside weight {}", w["name"]))?;
        at += count * width;
        if w["dtype"] == "float32" && w.get("quantization").is_none() {
            for c in raw.chunks_exact(4) {
                out.extend(half::f16::from_f32(f32::from_le_bytes([c[0], c[1], c[2], c[3]])).to_le_bytes());
            }
            w["quantization"] = serde_json::json!({ "dtype": "float16", "original_dtype": "float32" });
        } else {
            out.extend_from_slice(raw);
        }
    }
    Ok((serde_json::to_vec(&model).map_err(|e| e.to_string())?, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_tf_padding_strings() {
        assert_eq!(base64_decode("U0FNRQ==").unwrap(), b"SAME");
        assert_eq!(base64_decode("VkFMSUQ=").unwrap(), b"VALID");
        assert_eq!(base64_decode("Qmlhc0FkZA==").unwrap(), b"BiasAdd");
    }

    #[test]
    fn strips_output_index_and_control_inputs() {
        let n = NodeDef { name: "n".into(), op: "Add".into(), input: vec!["a:0".into(), "^b".into(), "c".into()], attr: Default::default() };
        assert_eq!(n.data_inputs().collect::<Vec<_>>(), vec!["a", "c"]);
    }
}
