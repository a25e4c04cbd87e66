//! The CPU's values for a program's probes on one frame: what the browser's parity test holds
//! the GPU to. Each comes from the code the CPU build runs (the kernel graph, the detector, the
//! engine's crop and reference readback, the student's layers), never from a second copy.

use crate::lower::{CROP, DETECTOR_INPUT, RESULT, STEM, STUDENT_DW, TABLE};
use crate::program::Program;
use facegate_engine::Engine;
use facegate_face::{Detector, DetectorConfig, RgbImage, resize_bilinear};
use facegate_kernels::Map;
use facegate_runtime::student::{STUDENT_INPUT, StudentKernels};
use facegate_runtime::tfjs::KernelGraph;

/// (probe name, values) for every probe of `program`, on `frame`; `mirror` as the frame
/// header's flag (enrol and verify ask for the mirror pass). The student's probes (crop 0 and
/// the layers after it) only for a frame with one person in view.
pub fn expected(
    program: &Program,
    detector_json: &[u8],
    shard: &[u8],
    student_file: &[u8],
    frame: &RgbImage,
    mirror: bool,
) -> Result<Vec<(String, Vec<f32>)>, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let graph = KernelGraph::from_bytes(detector_json, &[shard]).map_err(|e| err(&e))?;
    let detector = Detector::new(graph.clone(), DetectorConfig::default()).map_err(|e| err(&e))?;
    let engine = Engine::from_bytes(detector_json, shard, student_file).map_err(|e| err(&e))?;
    let (student, _) = StudentKernels::from_file(student_file).map_err(|e| err(&e))?;
    let s = detector.input_size();
    let input: Vec<f32> = resize_bilinear(frame, s, s).into_iter().map(|v| v / 127.5 - 1.0).collect();
    // The one person's crop (scaled as the student reads it) and the stem on it, when there is one.
    let student_probes = match engine.face(frame) {
        Ok(face) => {
            let c = engine.crop(frame, &face).into_iter().map(|v| v / 127.5 - 1.0).collect();
            let crop = Map::new(STUDENT_INPUT, STUDENT_INPUT, 3, c).map_err(|e| e.0)?;
            let stem = student.stem.run(&crop);
            Some((crop, stem))
        }
        Err(_) => None,
    };
    let mut out = Vec::new();
    for probe in &program.probes {
        let name = probe.name.as_str();
        let values = match (name, &student_probes) {
            (CROP | STEM | STUDENT_DW, None) => continue,
            (CROP, Some((crop, _))) => crop.data.clone(),
            (STEM, Some((_, stem))) => stem.data.clone(),
            (STUDENT_DW, Some((_, stem))) => student.stages[0][0].run(stem).data,
            (DETECTOR_INPUT, _) => input.clone(),
            (TABLE, _) => detector.table(frame).map_err(|e| err(&e))?,
            (RESULT, _) => engine.reference_readback(frame, mirror).map_err(|e| err(&e))?,
            _ => {
                let node = name.splitn(3, ' ').nth(2).ok_or_else(|| format!("probe {name} names no node"))?;
                let x = Map::new(s, s, 3, input.clone()).map_err(|e| e.0)?;
                let value = graph.run(x, &[node]).map_err(|e| err(&e))?.pop().ok_or("no value")?;
                value.into_tf_vec()
            }
        };
        if values.len() != probe.len {
            return Err(format!("probe {name}: {} values on the CPU, {} in the program", values.len(), probe.len));
        }
        out.push((probe.name.clone(), values));
    }
    Ok(out)
}
