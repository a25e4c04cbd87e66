//! frame -> detect -> crop -> student -> decision, the one path every call takes.

use crate::error::EngineError;
use crate::readback::Readback;
use crate::template::{Template, average, cosine};
use facegate_face::{CropSpec, Detection, Detector, DetectorConfig, ROW, RgbImage};
use facegate_format::{WeightsMeta, file_id};
use facegate_runtime::student::{EMBEDDING, STUDENT_INPUT, StudentKernels, embed_and_score, flip, score};
use facegate_runtime::tfjs::KernelGraph;
use serde::Serialize;

/// Detections at or above this score count as people in view.
pub const PERSON_SCORE: f32 = 0.5;
/// At most this many faces per frame go through the student.
pub const MAX_SCORED_FACES: usize = 4;

/// Operating points; default to the ones stored with the student.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// P(live) at or above which a face counts as live (the EER point of the dev split's camera frames).
    pub liveness: f32,
    /// Cosine similarity at or above which two faces match (FMR 1e-3 on held-out CelebA).
    pub matching: f32,
    /// Usable enrolment frames needed for a template.
    pub min_enroll_frames: usize,
}

impl Thresholds {
    pub fn check(&self) -> Result<(), EngineError> {
        let unit =
            |name, v: f32, range| if v.is_finite() && (0.0..=1.0).contains(&v) { Ok(()) } else { Err(EngineError::BadOption { name, value: v as f64, range }) };
        unit("liveness", self.liveness, "0..=1")?;
        if !(self.matching.is_finite() && (-1.0..=1.0).contains(&self.matching)) {
            return Err(EngineError::BadOption { name: "matching", value: self.matching as f64, range: "-1..=1" });
        }
        if !(1..=64).contains(&self.min_enroll_frames) {
            return Err(EngineError::BadOption { name: "minEnrollFrames", value: self.min_enroll_frames as f64, range: "1..=64" });
        }
        Ok(())
    }

    /// The decision on one person's frames, each a (P(live), similarity) pair: their mean
    /// liveness and mean similarity against the operating points, so one odd frame neither
    /// lets a photo in nor locks the user out. The one rule for a log-in: [`Engine::verify`]
    /// (one frame), the npm package's `verify` (several) and `facegate eval sessions` use it.
    pub fn decide(&self, frames: &[(f32, f32)]) -> Result<Decision, EngineError> {
        if frames.is_empty() {
            return Err(EngineError::NoFrames);
        }
        if let Some((l, s)) = frames.iter().find(|(l, s)| !(l.is_finite() && s.is_finite())) {
            return Err(EngineError::BadScores(format!("P(live) {l} and similarity {s}: scores are finite numbers")));
        }
        let n = frames.len() as f64;
        let liveness = frames.iter().map(|f| f.0 as f64).sum::<f64>() / n;
        let similarity = frames.iter().map(|f| f.1 as f64).sum::<f64>() / n;
        let (live, matched) = (liveness >= self.liveness as f64, similarity >= self.matching as f64);
        let reason = if !live {
            "notLive"
        } else if !matched {
            "noMatch"
        } else {
            "ok"
        };
        Ok(Decision { accept: live && matched, reason, live, matched, liveness, similarity, frames: frames.len() })
    }
}

/// What [`Thresholds::decide`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decision {
    pub accept: bool,
    /// "ok", "notLive", "noMatch".
    pub reason: &'static str,
    /// The mean P(live) reached the liveness threshold.
    pub live: bool,
    /// The mean similarity reached the matching threshold (whatever the liveness).
    pub matched: bool,
    pub liveness: f64,
    pub similarity: f64,
    pub frames: usize,
}

/// Hints for guiding the person in front of the camera.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quality {
    pub too_small: bool,
    pub too_dark: bool,
    pub too_bright: bool,
    pub off_centre: bool,
    pub cut_off: bool,
    pub several_faces: bool,
}

impl Quality {
    pub fn good(&self) -> bool {
        !(self.too_small || self.too_dark || self.too_bright || self.off_centre || self.cut_off || self.several_faces)
    }

    fn reasons(&self) -> Vec<&'static str> {
        let flags = [
            (self.too_small, "tooSmall"),
            (self.too_dark, "tooDark"),
            (self.too_bright, "tooBright"),
            (self.off_centre, "offCentre"),
            (self.cut_off, "cutOff"),
            (self.several_faces, "severalFaces"),
        ];
        flags.into_iter().filter(|(on, _)| *on).map(|(_, n)| n).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Face {
    /// Detector box [x, y, width, height] in frame pixels.
    #[serde(rename = "box")]
    pub box_: [f64; 4],
    /// Right eye, left eye, nose, mouth, right ear, left ear: [x, y] in frame pixels.
    pub keypoints: [[f64; 2]; 6],
    pub detector_score: f32,
    /// P(live), for the faces that went through the student.
    pub liveness_score: Option<f32>,
    pub live: Option<bool>,
    pub quality: Quality,
    /// Only for the face enroll or verify decides on; `analyze` leaves it out.
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub live: bool,
    #[serde(rename = "match")]
    pub matched: bool,
    pub similarity: f32,
    pub liveness_score: f32,
    /// "ok", "notLive", "noMatch".
    pub reason: &'static str,
    pub quality: Quality,
}

pub struct Engine {
    detector: Detector,
    student: StudentKernels,
    meta: WeightsMeta,
    model_id: u32,
    thresholds: Thresholds,
}

/// An RGBA buffer (canvas `ImageData` layout) as a frame, checked for size and limits.
pub fn frame_from_rgba(width: usize, height: usize, rgba: &[u8]) -> Result<RgbImage, EngineError> {
    Ok(RgbImage::from_rgba(width, height, rgba)?)
}

impl Engine {
    /// Builds the engine from the detector graph (model.json + one weight shard) and the
    /// student weight file, all as bytes (the browser build embeds them).
    pub fn from_bytes(detector_json: &[u8], detector_bin: &[u8], student: &[u8]) -> Result<Self, EngineError> {
        let graph = KernelGraph::from_bytes(detector_json, &[detector_bin]).map_err(|e| EngineError::Model(e.to_string()))?;
        let detector = Detector::new(graph, DetectorConfig::default())?;
        let (kernels, meta) = StudentKernels::from_file(student).map_err(|e| EngineError::Model(e.to_string()))?;
        let stored = meta.thresholds;
        let thresholds = Thresholds {
            liveness: stored.liveness.ok_or_else(|| EngineError::Model("student file has no liveness threshold".into()))? as f32,
            matching: stored.matching.ok_or_else(|| EngineError::Model("student file has no match threshold".into()))? as f32,
            min_enroll_frames: 3,
        };
        let model_id = file_id(student);
        Ok(Self { detector, student: kernels, meta, model_id, thresholds })
    }

    pub fn meta(&self) -> &WeightsMeta {
        &self.meta
    }

    /// CRC-32 of the student file: templates carry it, so one made by another model is refused.
    pub fn model_id(&self) -> u32 {
        self.model_id
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Replaces the operating points; invalid values are refused and the old ones kept.
    pub fn set_thresholds(&mut self, t: Thresholds) -> Result<(), EngineError> {
        t.check()?;
        self.thresholds = t;
        Ok(())
    }

    /// The student on prepared crops (HWC 0..255, `STUDENT_INPUT` square): embeddings and
    /// P(live). For parity checks between builds.
    pub fn student_outputs(&self, crops: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<f32>) {
        embed_and_score(&self.student, crops)
    }

    /// Every detected face, the most confident first; the confident ones (up to
    /// MAX_SCORED_FACES) carry a liveness score. No embedding: nobody is matched here.
    pub fn analyze(&self, frame: &RgbImage) -> Result<Vec<Face>, EngineError> {
        self.analyze_read(frame, &self.read_here(frame, false)?)
    }

    /// [`analyze`](Self::analyze) on the networks' outputs read back from the GPU.
    pub fn analyze_read(&self, frame: &RgbImage, read: &Readback) -> Result<Vec<Face>, EngineError> {
        let detections = self.decode(frame, read)?;
        self.faces(frame, &detections, None, read)
    }

    /// The networks on facegate-kernels, their outputs as the GPU reads them back (`mirror`:
    /// also the mirror pass of the one person in view, which enrol and verify need). Every
    /// call goes through a readback, so both builds share everything after the networks.
    fn read_here(&self, frame: &RgbImage, mirror: bool) -> Result<Readback, EngineError> {
        let table = self.detector.table(frame)?;
        let mut rows = Vec::new();
        for i in self.detector.keep(&table) {
            rows.push((i, table[i * ROW..][..ROW].to_vec()));
        }
        let detections = self.detector.decode(frame.width(), frame.height(), &Readback::row_slices(&rows));
        let (people, scored) = scored(&detections);
        let spec = CropSpec::of(&self.meta);
        let mut crops = Vec::new();
        for &k in &scored {
            crops.extend(spec.cut(frame, &detections[k]));
        }
        let degenerate = crops.len() < scored.len();
        let mirror = mirror && people == 1 && !degenerate;
        if mirror {
            let mut m = crops[0].clone();
            flip(&mut m, STUDENT_INPUT);
            crops.push(m);
        }
        let mut heads = Vec::with_capacity(crops.len());
        for c in &crops {
            heads.push(self.student.run_raw(c));
        }
        Ok(Readback { rows, scored, heads, mirror, degenerate })
    }

    /// What the GPU must read back for `frame`, computed here: the reference the WebGPU
    /// program is tested against (facegate-engine `readback` layout).
    pub fn reference_readback(&self, frame: &RgbImage, mirror: bool) -> Result<Vec<f32>, EngineError> {
        Ok(self.read_here(frame, mirror)?.to_vec())
    }

    /// The kept faces of a readback, decoded as the detector decodes its own.
    fn decode(&self, frame: &RgbImage, read: &Readback) -> Result<Vec<Detection>, EngineError> {
        let anchors = self.detector.anchors().len();
        if read.rows.iter().any(|(i, row)| *i >= anchors || row.len() != ROW || row.iter().any(|v| !v.is_finite())) {
            return Err(EngineError::Model("GPU readback: a row of an anchor the detector does not have, or not finite".into()));
        }
        Ok(self.detector.decode(frame.width(), frame.height(), &Readback::row_slices(&read.rows)))
    }

    /// The faces of `detections`; `embed`, if scored, also gets its embedding (the only
    /// face that pays for the student's mirror pass).
    fn faces(&self, frame: &RgbImage, detections: &[Detection], embed: Option<usize>, read: &Readback) -> Result<Vec<Face>, EngineError> {
        let (people, scored) = scored(detections);
        let target = embed.and_then(|e| scored.iter().position(|&s| s == e));
        let scored_faces: Vec<&Detection> = scored.iter().map(|&k| &detections[k]).collect();
        let (scores, mut embedding) = read.outputs(&scored, target).unwrap_or_else(|| self.student_on(frame, &scored_faces, target));
        let mut faces = Vec::with_capacity(detections.len());
        for (i, d) in detections.iter().enumerate() {
            let k = scored.iter().position(|&s| s == i);
            let [x1, y1, x2, y2] = d.raw_box;
            let score = k.map(|k| scores[k]).filter(|s| s.is_finite());
            faces.push(Face {
                box_: [x1, y1, x2 - x1, y2 - y1],
                keypoints: d.landmarks,
                detector_score: d.score,
                liveness_score: score,
                live: score.map(|s| s >= self.thresholds.liveness),
                quality: quality(frame, d, people),
                embedding: if k.is_some() && k == target { embedding.take() } else { None },
            });
        }
        Ok(faces)
    }

    /// The student on the CPU: P(live) of each scored face, and `target`'s embedding.
    fn student_on(&self, frame: &RgbImage, scored: &[&Detection], target: Option<usize>) -> (Vec<f32>, Option<Vec<f32>>) {
        let mut crops: Vec<Vec<f32>> = scored.iter().map(|d| self.crop(frame, d)).collect();
        let embedded = target.map(|k| embed_and_score(&self.student, &[crops.remove(k)]));
        let mut scores = score(&self.student, &crops);
        let mut embedding = None;
        if let (Some(k), Some((mut e, p))) = (target, embedded) {
            scores.insert(k, p[0]);
            embedding = e.pop();
        }
        (scores, embedding)
    }

    /// The student's crop of the one person in view (HWC 0..255).
    pub fn face_crop(&self, frame: &RgbImage) -> Result<Vec<f32>, EngineError> {
        let face = self.face(frame)?;
        Ok(self.crop(frame, &face))
    }

    /// The one person in view, as enrol and verify pick them (bystanders ignored).
    pub fn face(&self, frame: &RgbImage) -> Result<Detection, EngineError> {
        let detections = self.detector.detect(frame)?;
        Ok(facegate_face::single_face(&detections, PERSON_SCORE)?.clone())
    }

    /// The student's crop of one face, as its file says it was trained and measured.
    pub fn crop(&self, frame: &RgbImage, face: &Detection) -> Vec<f32> {
        CropSpec::of(&self.meta).cut_or_box(frame, face)
    }

    /// The one face a decision is made on: exactly one person in view (bystanders aside).
    fn single(&self, frame: &RgbImage, read: &Readback) -> Result<Face, EngineError> {
        let detections = self.decode(frame, read)?;
        let face = facegate_face::single_face(&detections, PERSON_SCORE)?;
        let k = detections.iter().position(|d| std::ptr::eq(d, face)).expect("a face of these detections");
        Ok(self.faces(frame, &detections, Some(k), read)?.swap_remove(k))
    }

    /// A template from the usable frames: one live, well-placed face each.
    pub fn enroll(&self, frames: &[RgbImage]) -> Result<Template, EngineError> {
        self.enroll_from(frames.len(), &mut |k| self.single(&frames[k], &self.read_here(&frames[k], true)?))
    }

    /// [`enroll`](Self::enroll) on each frame's outputs read back from the GPU (`reads[k]`
    /// for `frames[k]`).
    pub fn enroll_read(&self, frames: &[RgbImage], reads: &[Readback]) -> Result<Template, EngineError> {
        if frames.len() != reads.len() {
            return Err(EngineError::Model(format!("{} frames and {} readbacks", frames.len(), reads.len())));
        }
        self.enroll_from(frames.len(), &mut |k| self.single(&frames[k], &reads[k]))
    }

    /// `single(k)`: frame k's one face.
    fn enroll_from(&self, total: usize, single: &mut dyn FnMut(usize) -> Result<Face, EngineError>) -> Result<Template, EngineError> {
        if total == 0 {
            return Err(EngineError::NoFrames);
        }
        let mut good = Vec::new();
        let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
        for k in 0..total {
            match single(k) {
                Ok(face) if face.live != Some(true) => *reasons.entry("notLive".into()).or_default() += 1,
                Ok(face) if !face.quality.good() => {
                    for r in face.quality.reasons() {
                        *reasons.entry(r.into()).or_default() += 1;
                    }
                }
                Ok(face) => match face.embedding {
                    Some(e) => good.push(e),
                    None => *reasons.entry("noEmbedding".into()).or_default() += 1,
                },
                Err(e) => *reasons.entry(e.code().to_lowercase()).or_default() += 1,
            }
        }
        if good.len() < self.thresholds.min_enroll_frames {
            let reasons = reasons.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ");
            return Err(EngineError::NotEnoughFrames { good: good.len(), total, needed: self.thresholds.min_enroll_frames, reasons });
        }
        Ok(Template { model_id: self.model_id, embedding: average(&good) })
    }

    /// Parses template bytes made by this model.
    pub fn template(&self, bytes: &[u8]) -> Result<Template, EngineError> {
        Template::from_bytes(bytes, self.model_id, EMBEDDING)
    }

    /// Is the one face in `frame` live, and is it the enrolled person?
    pub fn verify(&self, frame: &RgbImage, template: &Template) -> Result<Verification, EngineError> {
        self.check_template(template)?;
        self.verify_read(frame, template, &self.read_here(frame, true)?)
    }

    fn check_template(&self, template: &Template) -> Result<(), EngineError> {
        if template.model_id != self.model_id {
            return Err(EngineError::ForeignTemplate { found: template.model_id, expected: self.model_id });
        }
        Ok(())
    }

    /// [`verify`](Self::verify) on the networks' outputs read back from the GPU.
    pub fn verify_read(&self, frame: &RgbImage, template: &Template, read: &Readback) -> Result<Verification, EngineError> {
        self.check_template(template)?;
        let face = self.single(frame, read)?;
        let liveness_score = face.liveness_score.unwrap_or(0.0);
        let similarity = cosine(face.embedding.as_deref().unwrap_or(&[]), &template.embedding);
        let d = self.thresholds.decide(&[(liveness_score, similarity)])?;
        Ok(Verification { live: d.live, matched: d.accept, similarity, liveness_score, reason: d.reason, quality: face.quality })
    }
}

/// The detections the student scores, by index, people first (so the face a decision is made
/// on is always scored), then confident bystanders, at most MAX_SCORED_FACES; and how many
/// people are in view.
fn scored(detections: &[Detection]) -> (usize, Vec<usize>) {
    let people = facegate_face::people(detections, PERSON_SCORE);
    let person = |d: &Detection| people.iter().any(|p| std::ptr::eq(*p, d));
    let mut scored: Vec<usize> = (0..detections.len()).filter(|&i| person(&detections[i])).collect();
    scored.extend((0..detections.len()).filter(|&i| detections[i].score >= PERSON_SCORE && !person(&detections[i])));
    scored.truncate(MAX_SCORED_FACES);
    (people.len(), scored)
}

/// Where the face sits in the frame and how it is lit.
fn quality(frame: &RgbImage, d: &Detection, people: usize) -> Quality {
    let (w, h) = (frame.width() as f64, frame.height() as f64);
    let [x1, y1, x2, y2] = d.raw_box;
    let side = (x2 - x1).max(y2 - y1);
    let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let luma = mean_luma(frame, d.raw_box);
    Quality {
        too_small: side < 0.15 * w.min(h) || side < 48.0,
        too_dark: luma < 50.0,
        too_bright: luma > 225.0,
        off_centre: (cx - w / 2.0).abs() > 0.25 * w || (cy - h / 2.0).abs() > 0.25 * h,
        cut_off: d.square[0] < 0.0 || d.square[1] < 0.0 || d.square[2] > w || d.square[3] > h,
        several_faces: people > 1,
    }
}

fn mean_luma(frame: &RgbImage, b: [f64; 4]) -> f64 {
    let clampx = |v: f64| (v.max(0.0) as usize).min(frame.width());
    let clampy = |v: f64| (v.max(0.0) as usize).min(frame.height());
    let (x0, x1, y0, y1) = (clampx(b[0]), clampx(b[2]), clampy(b[1]), clampy(b[3]));
    let step = ((x1 - x0).max(y1 - y0) / 32).max(1);
    let (mut sum, mut n) = (0f64, 0usize);
    for y in (y0..y1).step_by(step) {
        for x in (x0..x1).step_by(step) {
            sum += 0.299 * frame.at(x, y, 0) as f64 + 0.587 * frame.at(x, y, 1) as f64 + 0.114 * frame.at(x, y, 2) as f64;
            n += 1;
        }
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds { liveness: 0.6, matching: 0.7, min_enroll_frames: 3 };

    /// The means decide, liveness first: one odd frame neither lets a photo in nor locks the
    /// user out.
    #[test]
    fn a_log_in_is_decided_on_the_mean_scores() {
        let d = T.decide(&[(0.9, 0.8), (0.5, 0.75), (0.9, 0.6)]).unwrap();
        assert_eq!((d.accept, d.reason, d.frames), (true, "ok", 3), "{d:?}");
        assert!((d.liveness - 0.7666).abs() < 1e-3 && (d.similarity - 0.7166).abs() < 1e-3, "{d:?}");
        let photo = T.decide(&[(0.2, 0.9), (0.3, 0.95)]).unwrap();
        assert_eq!((photo.accept, photo.reason, photo.live, photo.matched), (false, "notLive", false, true));
        let stranger = T.decide(&[(0.9, 0.2)]).unwrap();
        assert_eq!((stranger.accept, stranger.reason, stranger.live, stranger.matched), (false, "noMatch", true, false));
        // A mean exactly at the thresholds passes, as a single frame at them does.
        assert!(T.decide(&[(0.6, 0.7)]).unwrap().accept);
    }

    #[test]
    fn nothing_or_non_finite_scores_are_refused() {
        assert_eq!(T.decide(&[]).unwrap_err(), EngineError::NoFrames);
        for bad in [(f32::NAN, 0.8), (0.9, f32::INFINITY)] {
            let e = T.decide(&[(0.9, 0.8), bad]).unwrap_err();
            assert_eq!(e.code(), "BAD_ARGUMENT", "{e}");
        }
    }
}
