//! Comparing a build's student outputs with the committed reference (tests/fixtures), so the
//! browser build is checked against the native one on the same crops.

use facegate_engine::Engine;
use facegate_runtime::student::STUDENT_INPUT;

/// Raw HWC byte crops, back to the engine's float crops.
pub fn crops(bytes: &[u8]) -> Vec<Vec<f32>> {
    bytes.chunks_exact(STUDENT_INPUT * STUDENT_INPUT * 3).map(|c| c.iter().map(|&v| v as f32).collect()).collect()
}

/// Largest absolute difference between this build's outputs and `reference`
/// (`{model_id, embeddings, liveness}`); an error when the reference is for another student.
pub fn worst_difference(engine: &Engine, bytes: &[u8], reference: &serde_json::Value) -> Result<f32, String> {
    let id = format!("{:08x}", engine.model_id());
    if reference["model_id"] != serde_json::json!(id) {
        return Err(format!(
            "reference outputs are for student {}, this build embeds {id}: regenerate with FACEGATE_WRITE_FIXTURES=1 cargo test -p facegate-wasm --test parity",
            reference["model_id"]
        ));
    }
    let (emb, live) = engine.student_outputs(&crops(bytes));
    let want_emb: Vec<Vec<f32>> = serde_json::from_value(reference["embeddings"].clone()).map_err(|e| e.to_string())?;
    let want_live: Vec<f32> = serde_json::from_value(reference["liveness"].clone()).map_err(|e| e.to_string())?;
    if want_emb.len() != emb.len() || want_live.len() != live.len() {
        return Err(format!("reference has {} crops, the crop file {}", want_emb.len(), emb.len()));
    }
    let pairs = emb.iter().flatten().zip(want_emb.iter().flatten()).chain(live.iter().zip(&want_live));
    Ok(pairs.map(|(a, b)| (a - b).abs()).fold(0.0, f32::max))
}
