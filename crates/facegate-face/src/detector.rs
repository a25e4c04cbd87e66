//! BlazeFace (front camera, 256x256) as the human library runs it: resize the whole frame,
//! decode anchors, sigmoid scores, TF non-max suppression, enlarge the box 1.4x and square it.

use crate::error::FaceError;
use crate::image::RgbImage;
use crate::resample::resize_bilinear;
use facegate_kernels::Map;
use facegate_runtime::tfjs::KernelGraph;

#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    /// Faces kept after NMS. The human library keeps 1; we keep more so that a second
    /// person in view can be reported instead of silently ignored.
    pub max_faces: usize,
    pub iou_threshold: f32,
    pub min_confidence: f32,
    /// Enlargement of the detector box before squaring (context for the crop).
    pub box_scale: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self { max_faces: 10, iou_threshold: 0.1, min_confidence: 0.2, box_scale: 1.4 }
    }
}

/// One detected face, in frame pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub score: f32,
    /// Detector box [x1, y1, x2, y2] before enlargement.
    pub raw_box: [f64; 4],
    /// Enlarged, squared and rounded box [x1, y1, x2, y2]: what gets cropped.
    pub square: [f64; 4],
    /// Right eye, left eye, nose, mouth, right ear, left ear (the subject's sides).
    pub landmarks: [[f64; 2]; 6],
}

impl Detection {
    /// Roll of the eye line in radians (0 when the eyes are level).
    pub fn roll(&self) -> f64 {
        let [r, l] = [self.landmarks[0], self.landmarks[1]];
        (l[1] - r[1]).atan2(l[0] - r[0])
    }

    pub fn side(&self) -> f64 {
        self.square[2] - self.square[0]
    }
}

/// Runs on facegate-kernels (natively as in the browser), so the boxes every cache, metric and
/// threshold was measured on are the ones the browser finds.
pub struct Detector {
    graph: KernelGraph,
    size: usize,
    anchors: Vec<[f32; 2]>,
    outputs: Vec<String>,
    config: DetectorConfig,
}

/// Values per anchor row: score logit, box (4) and six keypoints (12).
pub const ROW: usize = 17;

/// JS `Math.round`: halves go towards +infinity, also for negative numbers.
pub fn js_round(x: f64) -> f64 {
    (x + 0.5).floor()
}

impl Detector {
    /// A BlazeFace-family graph (`KernelGraph::load` or `from_bytes`, as the browser embeds it).
    pub fn new(graph: KernelGraph, config: DetectorConfig) -> Result<Self, FaceError> {
        let outputs: Vec<String> = graph.output_names().into_iter().map(String::from).collect();
        let size = match graph.input_hwc() {
            [Some(h), Some(w), Some(3)] if h == w && h % 16 == 0 => h,
            other => return Err(FaceError::Model(format!("detector input must be square RGB, got {other:?}"))),
        };
        // Back/front BlazeFace: scores and boxes of both anchor grids apart; the short-range
        // face detector (facemesh-detection-short): one [anchors, 1 + 16] tensor.
        if outputs.len() != 4 && outputs.len() != 1 {
            return Err(FaceError::Model(format!("BlazeFace has 1 or 4 outputs, this graph has {}", outputs.len())));
        }
        Ok(Self { graph, size, anchors: anchors(size), outputs, config })
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    pub fn input_size(&self) -> usize {
        self.size
    }

    /// Faces in the frame, best first. An empty list is not an error here: policy
    /// (no face / several faces) belongs to the caller.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Detection>, FaceError> {
        let table = self.table(img)?;
        let rows: Vec<(usize, &[f32])> = self.keep(&table).into_iter().map(|i| (i, &table[i * ROW..][..ROW])).collect();
        Ok(self.decode(img.width(), img.height(), &rows))
    }

    /// The network on a frame: one row per anchor, [score logit, 16 box and keypoint values].
    pub fn table(&self, img: &RgbImage) -> Result<Vec<f32>, FaceError> {
        let s = self.size;
        let x: Vec<f32> = resize_bilinear(img, s, s).into_iter().map(|v| v / 127.5 - 1.0).collect();
        let x = Map::new(s, s, 3, x).map_err(|e| FaceError::Model(e.to_string()))?;
        let names: Vec<&str> = self.outputs.iter().map(String::as_str).collect();
        let outs = self.graph.run(x, &names).map_err(|e| FaceError::Model(e.to_string()))?;
        self.rows(outs.into_iter().map(|v| v.into_tf_vec()).collect())
    }

    /// The anchors non-max suppression keeps, best first.
    pub fn keep(&self, table: &[f32]) -> Vec<usize> {
        let (mut boxes, mut scores) = (Vec::with_capacity(self.anchors.len()), Vec::with_capacity(self.anchors.len()));
        for i in 0..self.anchors.len() {
            let (b, s) = self.anchor_box(i, &table[i * ROW..][..ROW]);
            boxes.push(b);
            scores.push(s);
        }
        non_max_suppression(&boxes, &scores, self.config.max_faces, self.config.iou_threshold, self.config.min_confidence)
    }

    /// Box [x1, y1, x2, y2] in detector pixels and score of anchor `i` from its row.
    fn anchor_box(&self, i: usize, row: &[f32]) -> ([f32; 4], f32) {
        let (logit, reg, anchor, sf) = (row[0], &row[1..], self.anchors[i], self.size as f32);
        let c = [(reg[0] + anchor[0]) / sf, (reg[1] + anchor[1]) / sf];
        let half = [reg[2] / sf / 2.0, reg[3] / sf / 2.0];
        ([(c[0] - half[0]) * sf, (c[1] - half[1]) * sf, (c[0] + half[0]) * sf, (c[1] + half[1]) * sf], 1.0 / (1.0 + (-logit).exp()))
    }

    /// Kept anchors (index, row) as detections in the pixels of a `width` x `height` frame.
    /// The WebGPU build runs the network and the suppression on the GPU and reads back only
    /// these rows; this is where both builds turn them into faces.
    pub fn decode(&self, width: usize, height: usize, rows: &[(usize, &[f32])]) -> Vec<Detection> {
        let s = self.size;
        let factor = [width as f64 / s as f64, height as f64 / s as f64];
        let mut faces = Vec::with_capacity(rows.len());
        for &(i, row) in rows {
            let (b, score) = self.anchor_box(i, row);
            let (reg, anchor) = (&row[1..], self.anchors[i]);
            let sp = [b[0] as f64 * factor[0], b[1] as f64 * factor[1]];
            let ep = [b[2] as f64 * factor[0], b[3] as f64 * factor[1]];
            let mut landmarks = [[0f64; 2]; 6];
            for (k, lm) in landmarks.iter_mut().enumerate() {
                *lm = [(reg[4 + 2 * k] as f64 + anchor[0] as f64) * factor[0], (reg[5 + 2 * k] as f64 + anchor[1] as f64) * factor[1]];
            }
            let center = [sp[0] + (ep[0] - sp[0]) / 2.0, sp[1] + (ep[1] - sp[1]) / 2.0];
            let size = [(ep[0] - sp[0]).abs(), (ep[1] - sp[1]).abs()];
            let hs = [self.config.box_scale * size[0] / 2.0, self.config.box_scale * size[1] / 2.0];
            let (esp, eep) = ([center[0] - hs[0], center[1] - hs[1]], [center[0] + hs[0], center[1] + hs[1]]);
            let c2 = [esp[0] + (eep[0] - esp[0]) / 2.0, esp[1] + (eep[1] - esp[1]) / 2.0];
            let half = (eep[0] - esp[0]).abs().max((eep[1] - esp[1]).abs()) / 2.0;
            let square = [js_round(c2[0] - half), js_round(c2[1] - half), js_round(c2[0] + half), js_round(c2[1] + half)];
            faces.push(Detection { score, raw_box: [sp[0], sp[1], ep[0], ep[1]], square, landmarks });
        }
        faces
    }

    /// Anchor centres in detector pixels, in table order.
    pub fn anchors(&self) -> &[[f32; 2]] {
        &self.anchors
    }

    /// One row per anchor, fine grid first: [score logit, 16 box and keypoint values].
    fn rows(&self, mut outs: Vec<Vec<f32>>) -> Result<Vec<f32>, FaceError> {
        let n = self.anchors.len();
        if outs.len() == 1 {
            let t = outs.pop().expect("one output");
            return if t.len() == n * ROW { Ok(t) } else { Err(FaceError::Model(format!("detector output has {} values, expected {}", t.len(), n * ROW))) };
        }
        // As the human library does: order outputs by size -> scores(384), scores(512),
        // boxes(384), boxes(512); rows are the 512 fine anchors, then the 384 coarse ones.
        outs.sort_by_key(Vec::len);
        let rows = |i: usize| outs[i].len();
        if rows(0) + rows(1) != n || rows(2) != 16 * rows(0) || rows(3) != 16 * rows(1) {
            return Err(FaceError::Model("unexpected BlazeFace output shapes".into()));
        }
        let mut table = Vec::with_capacity(n * ROW);
        for (scores, boxes) in [(&outs[1], &outs[3]), (&outs[0], &outs[2])] {
            for (score, b) in scores.iter().zip(boxes.chunks_exact(16)) {
                table.push(*score);
                table.extend_from_slice(b);
            }
        }
        Ok(table)
    }
}

/// BlazeFace anchors: strides 16 and 32 (for 256 input: 16x16x2 then 8x8x6), centre of each cell.
fn anchors(size: usize) -> Vec<[f32; 2]> {
    let mut out = Vec::new();
    for (stride, per_cell) in [(size / 16, 2), (size / 8, 6)] {
        let cells = size.div_ceil(stride);
        for y in 0..cells {
            for x in 0..cells {
                for _ in 0..per_cell {
                    out.push([(stride as f64 * (x as f64 + 0.5)) as f32, (stride as f64 * (y as f64 + 0.5)) as f32]);
                }
            }
        }
    }
    out
}

/// TF's greedy NMS: candidates above `min_score`, best first (ties: lower index), dropped
/// when IoU with an already kept box is >= `iou_threshold`.
pub fn non_max_suppression(boxes: &[[f32; 4]], scores: &[f32], max_out: usize, iou_threshold: f32, min_score: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).filter(|&i| scores[i] > min_score).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut keep: Vec<usize> = Vec::new();
    for i in order {
        if keep.len() >= max_out {
            break;
        }
        if keep.iter().rev().all(|&j| iou(&boxes[i], &boxes[j]) < iou_threshold) {
            keep.push(i);
        }
    }
    keep
}

fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let norm = |v: &[f32; 4]| [v[0].min(v[2]), v[1].min(v[3]), v[0].max(v[2]), v[1].max(v[3])];
    let (a, b) = (norm(a), norm(b));
    let area_a = (a[2] - a[0]) * (a[3] - a[1]);
    let area_b = (b[2] - b[0]) * (b[3] - b[1]);
    if area_a <= 0.0 || area_b <= 0.0 {
        return 0.0;
    }
    let inter = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0) * (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    inter / (area_a + area_b - inter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_round_differs_from_rust_round_on_negative_halves() {
        assert_eq!(js_round(-2.5), -2.0);
        assert_eq!((-2.5f64).round(), -3.0);
        assert_eq!(js_round(2.5), 3.0);
    }

    #[test]
    fn anchors_match_blazeface_layout() {
        let a = anchors(256);
        assert_eq!(a.len(), 896);
        assert_eq!(a[0], [8.0, 8.0]);
        assert_eq!(a[1], [8.0, 8.0]);
        assert_eq!(a[2], [24.0, 8.0]);
        assert_eq!(a[512], [16.0, 16.0]);
        assert_eq!(a[895], [240.0, 240.0]);
    }

    #[test]
    fn nms_keeps_best_and_drops_overlaps() {
        let boxes = [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0], [0.0, 0.0, 1.0, 1.0]];
        let scores = [0.9, 0.95, 0.5, 0.1];
        assert_eq!(non_max_suppression(&boxes, &scores, 10, 0.1, 0.2), vec![1, 2]);
        assert_eq!(non_max_suppression(&boxes, &scores, 1, 0.1, 0.2), vec![1]);
    }
}
