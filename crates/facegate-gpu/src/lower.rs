//! The browser's two networks and the steps between them, lowered to a [`Program`]: frame ->
//! resize -> detector ([`KernelGraph::layers`]) -> select (suppression, people, alignment) ->
//! warp (the student's crops, and the mirror of the one a decision is made on) -> student
//! ([`StudentKernels`]) -> heads, into the readback buffer whose layout facegate-engine owns.
//! The weights are the ones the CPU build embeds (the detector's float16, the student's file),
//! so both builds run the same numbers.

use crate::program::{Probe, Program, Regions, Step, groups_for};
use facegate_engine::readback::{HEAD, MAX_KEPT, SLOTS, at};
use facegate_engine::{MAX_SCORED_FACES, PERSON_SCORE};
use facegate_face::{BYSTANDER_RATIO, CropSpec, Detector, DetectorConfig, ROW, template4_view};
use facegate_kernels::{Activation, Conv2d, ConvKind, Pads};
use facegate_runtime::student::{EMBEDDING, StudentKernels, centre_window, face_cells};
use facegate_runtime::tfjs::{KernelGraph, Layer};
use std::collections::HashMap;

/// "No count cell": a layer that always runs on one image.
const NONE: u32 = u32::MAX;
/// Floats per crop slot: the inverse similarity (a, b, tx, ty), the mirror flag, padding.
const SLOT: usize = 8;

fn act_code(a: Activation) -> u32 {
    match a {
        Activation::None => 0,
        Activation::Relu => 1,
        Activation::Relu6 => 2,
    }
}

fn u(v: usize) -> u32 {
    u32::try_from(v).expect("offsets fit the GPU's u32 indices")
}

fn f(v: f32) -> u32 {
    v.to_bits()
}

struct Builder {
    arena: Regions,
    weights: Vec<f32>,
    steps: Vec<Step>,
    probes: Vec<Probe>,
}

impl Builder {
    fn upload(&mut self, values: &[f32]) -> usize {
        let at = self.weights.len().next_multiple_of(64);
        self.weights.resize(at, 0.0);
        self.weights.extend_from_slice(values);
        at
    }

    fn step(&mut self, kernel: &'static str, params: Vec<u32>, groups: [u32; 3], label: impl Into<String>) -> usize {
        self.steps.push(Step { kernel, params, groups, label: label.into() });
        self.steps.len() - 1
    }

    /// Records the value the last step wrote as a probe: the first of each `kind`.
    fn probe(&mut self, kind: &str, name: impl Into<String>, at: usize, len: usize) {
        if !self.probes.iter().any(|p| p.name.starts_with(kind)) {
            let after = self.steps.len() - 1;
            self.probes.push(Probe { name: name.into(), kernel: self.steps[after].kernel, after, at, len });
        }
    }

    /// A convolution over `images` NHWC maps of `h` x `w`, the live count in `count_at`.
    #[allow(clippy::too_many_arguments)]
    fn conv(&mut self, conv: &Conv2d, pads: Pads, x: usize, h: usize, w: usize, images: usize, count_at: u32, label: &str) -> (usize, usize, usize) {
        let (cin, cout) = conv.channels();
        let (oh, ow) = conv.out_size(h, w, pads);
        let y = self.arena.take(images * oh * ow * cout);
        let (wt, b) = (self.upload(conv.weight()), self.upload(conv.bias()));
        let [kh, kw] = conv.kernel();
        let [sh, sw] = conv.stride();
        let depthwise = conv.kind() == ConvKind::Depthwise;
        let params = [x, y, wt, b, h, w, cin, oh, ow, cout, kh, kw, sh, sw, pads.top, pads.left].map(u).to_vec();
        let params = [params, vec![act_code(conv.activation()), depthwise as u32, u(images), count_at]].concat();
        self.step("conv", params, groups_for(images * oh * ow * cout), label);
        (y, oh, ow)
    }
}

/// Every probe name starts with the network it belongs to.
pub const DETECTOR_INPUT: &str = "detector input";
pub const TABLE: &str = "detector table";
pub const CROP: &str = "student crop 0";
pub const STEM: &str = "student stem 0";
pub const STUDENT_DW: &str = "student stage1.0.dw 0";
pub const RESULT: &str = "result";

/// The program for a detector (TF.js graph, float16 weights as the browser embeds them) and a
/// student file, and its weights.
pub fn lower(detector_json: &[u8], detector_shard: &[u8], student_file: &[u8], detector_name: &str) -> Result<(Program, Vec<f32>), String> {
    let graph = KernelGraph::from_bytes(detector_json, &[detector_shard]).map_err(|e| e.to_string())?;
    let config = DetectorConfig::default();
    let detector = Detector::new(graph.clone(), config.clone()).map_err(|e| e.to_string())?;
    let outputs = graph.output_names();
    let [table_name] = outputs[..] else {
        return Err(format!("the WebGPU program reads one-output detectors (facemesh-detection-short); this one has {}", outputs.len()));
    };
    let size = detector.input_size();
    let anchors = detector.anchors();
    let (student, meta) = StudentKernels::from_file(student_file).map_err(|e| e.to_string())?;
    let CropSpec::Aligned { size: crop, view } = CropSpec::of(&meta) else {
        return Err("the WebGPU program cuts aligned crops; this student reads another".into());
    };
    if config.max_faces != MAX_KEPT || MAX_SCORED_FACES > 4 {
        return Err("the readback layout and the select kernel's arrays hold 10 kept and 4 scored faces".into());
    }

    let mut b = Builder { arena: Regions::default(), weights: Vec::new(), steps: Vec::new(), probes: Vec::new() };
    // The detector: resize, then its layers in the graph's order.
    let input = b.arena.take(size * size * 3);
    b.step("resize", vec![u(input), u(size)], groups_for(size * size), "resize the frame for the detector");
    b.probe(DETECTOR_INPUT, DETECTOR_INPUT, input, size * size * 3);
    let l = graph.layers([size, size, 3], &[table_name]).map_err(|e| e.to_string())?;
    let mut value: HashMap<usize, usize> = HashMap::from([(l.input, input)]);
    let len = |id: usize| l.shapes[id].iter().product::<usize>();
    let at = |value: &HashMap<usize, usize>, id: usize| value.get(&id).copied().ok_or_else(|| format!("value {id} read before it is written"));
    for layer in &l.layers {
        match layer {
            Layer::Conv { x, y, conv, pads, h, w } => {
                let name = graph.node_name(*y).unwrap_or("?").to_string();
                let (out, oh, ow) = b.conv(conv, *pads, at(&value, *x)?, *h, *w, 1, NONE, &name);
                value.insert(*y, out);
                let kind = if conv.kind() == ConvKind::Depthwise { "depthwise" } else { "dense" };
                b.probe(&format!("detector {kind} "), format!("detector {kind} {name}"), out, oh * ow * conv.channels().1);
            }
            Layer::Add { a, b: bb, y, act, node } => {
                let out = b.arena.take(len(*y));
                let params = vec![u(at(&value, *a)?), u(at(&value, *bb)?), u(out), u(len(*y)), act_code(*act)];
                let name = graph.node_name(*node).unwrap_or("?").to_string();
                b.step("add", params, groups_for(len(*y)), &name);
                value.insert(*y, out);
                b.probe("detector add ", format!("detector add {name}"), out, len(*y));
            }
            Layer::Act { x, y, act } => {
                let out = b.arena.take(len(*y));
                b.step("act", vec![u(at(&value, *x)?), u(out), u(len(*y)), act_code(*act)], groups_for(len(*y)), graph.node_name(*y).unwrap_or("?"));
                value.insert(*y, out);
            }
            Layer::MaxPool { x, y, kernel, stride, pads, hwc: [h, w, c] } => {
                let [_, oh, ow, _] = l.shapes[*y][..] else { return Err("pooling to a non-map".into()) };
                let out = b.arena.take(oh * ow * c);
                let params = [at(&value, *x)?, out, *h, *w, *c, oh, ow, kernel[0], kernel[1], stride[0], stride[1], pads.top, pads.left].map(u).to_vec();
                let name = graph.node_name(*y).unwrap_or("?").to_string();
                b.step("pool", params, groups_for(oh * ow * c), &name);
                value.insert(*y, out);
                b.probe("detector pool ", format!("detector pool {name}"), out, oh * ow * c);
            }
            Layer::Pad { x, y, pads, channels, hwc: [h, w, c] } => {
                let [_, oh, ow, oc] = l.shapes[*y][..] else { return Err("padding to a non-map".into()) };
                let out = b.arena.take(oh * ow * oc);
                let params = [at(&value, *x)?, out, *h, *w, *c, oh, ow, oc, pads.top, pads.left, channels.0].map(u).to_vec();
                let name = graph.node_name(*y).unwrap_or("?").to_string();
                b.step("pad", params, groups_for(oh * ow * oc), &name);
                value.insert(*y, out);
                b.probe("detector pad ", format!("detector pad {name}"), out, oh * ow * oc);
            }
            Layer::Concat { parts, y, outer, inner } => {
                let total: usize = inner.iter().sum();
                let out = b.arena.take(outer * total);
                let mut offset = 0;
                for (part, n) in parts.iter().zip(inner) {
                    let params = [at(&value, *part)?, out, *outer, *n, total, offset].map(u).to_vec();
                    b.step("concat", params, groups_for(outer * n), graph.node_name(*y).unwrap_or("?"));
                    offset += n;
                }
                value.insert(*y, out);
            }
        }
    }
    let (table_id, table_shape) = &l.outputs[0];
    if table_shape.iter().product::<usize>() != anchors.len() * ROW {
        return Err(format!("detector output {table_shape:?} is not {} anchors of {ROW}", anchors.len()));
    }
    let table = at(&value, *table_id)?;
    b.probe(TABLE, TABLE, table, anchors.len() * ROW);

    // Select: suppression, people, scoring order, each scored face's alignment.
    let anchor_at = b.upload(&anchors.iter().flatten().copied().collect::<Vec<f32>>());
    let boxes = b.arena.take(anchors.len() * 4);
    let slots = b.arena.take(SLOTS * SLOT);
    let count = b.arena.take(1);
    let result = b.arena.take(at::LEN);
    if anchors.len() > 1024 || ROW != 17 || [at::KEPT, at::SCORED, at::MIRROR, at::DEGENERATE] != [0, 1, 2, 3] {
        return Err("the select kernel holds 1024 anchors of 17-value rows (score, box, six keypoints) and the readback header's four counts".into());
    }
    let template: Vec<u32> = template4_view(crop, view).iter().flatten().map(|&v| f(v as f32)).collect();
    let mut params = [table, anchor_at, anchors.len(), boxes, result, slots, count, size, MAX_KEPT, MAX_SCORED_FACES].map(u).to_vec();
    params.extend([f(config.iou_threshold), f(config.min_confidence), f(PERSON_SCORE), f(BYSTANDER_RATIO as f32)]);
    params.extend(template);
    params.extend([u(at::ROWS), u(at::SCORED_LIST)]);
    b.step("select_faces", params, [1, 1, 1], "select the faces and align their crops");

    // The student on every crop slot the count cell says is in use.
    let input = b.arena.take(SLOTS * crop * crop * 3);
    b.step("warp", vec![u(slots), u(count), u(input), u(crop)], groups_for(SLOTS * crop * crop), "cut the student's crops");
    b.probe(CROP, CROP, input, crop * crop * 3);
    let images = SLOTS;
    let (mut x, mut h, mut w) = b.conv(&student.stem.conv, student.stem.pads, input, crop, crop, images, u(count), "student stem");
    b.probe(STEM, STEM, x, h * w * student.stem.conv.channels().1);
    let mut stage_out = [(0, 0, 0, 0); 3];
    for (s, layers) in student.stages.iter().enumerate() {
        for (k, layer) in layers.iter().enumerate() {
            let label = format!("student stage{}.{}.{}", s + 1, k / 2, if k % 2 == 0 { "dw" } else { "pw" });
            (x, h, w) = b.conv(&layer.conv, layer.pads, x, h, w, images, u(count), &label);
            if s == 0 && k == 0 {
                b.probe(STUDENT_DW, STUDENT_DW, x, h * w * layer.conv.channels().1);
            }
        }
        stage_out[s] = (x, h, w, layers.last().map(|l| l.conv.channels().1).unwrap_or(0));
    }
    let [_, (s2, h2, w2, c2), (s3, h3, w3, c3)] = stage_out;
    let (rows, cols) = centre_window(h3, w3, 1.0 / view);
    if rows.len() != face_cells() || cols.len() != face_cells() || c3 > 512 || c2 + c3 > 1024 {
        return Err("the head kernel's window and arrays do not fit this student".into());
    }
    let pool = b.upload(&student.face_pool);
    let (ew, eb) = (b.upload(&student.embed.0), b.upload(&student.embed.1));
    let (lw, lb) = (b.upload(&student.live.0), b.upload(&student.live.1));
    let params = [s2, s3, h2, w2, c2, h3, w3, c3, rows.start, cols.start, face_cells(), pool, ew, eb, lw, lb].map(u).to_vec();
    let params = [params, vec![u(count), u(result + at::HEADS), u(EMBEDDING)]].concat();
    b.step("head", params, [u(SLOTS), 1, 1], "the student's heads");
    b.probe(RESULT, RESULT, result, at::LEN);
    if HEAD != EMBEDDING + 1 {
        return Err("a head's outputs are the embedding and one logit".into());
    }

    let program = Program {
        format: crate::program::FORMAT,
        model_id: format!("{:08x}", facegate_format::file_id(student_file)),
        detector: detector_name.to_string(),
        wgsl: include_str!("kernels.wgsl"),
        arena: b.arena.len,
        weights: b.weights.len(),
        result,
        result_len: at::LEN,
        steps: b.steps,
        probes: b.probes,
    };
    program.check()?;
    Ok((program, b.weights))
}
