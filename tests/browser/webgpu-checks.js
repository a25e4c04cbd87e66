// The page side of webgpu.test.mjs: runs the checks and writes {checks, error} into #out.

import { createGpu } from '/pkg/webgpu.js';
import { FaceGate, FaceGateWorker } from '/pkg/facegate.js';

const TOLERANCE = 1e-3;
const checks = [];
const check = (name, ok, detail = '') => {
  checks.push({ name, ok: Boolean(ok), detail });
  // Progress, for a page that does not finish (webgpu.test.mjs prints it).
  document.title = `${checks.length} checks, last: ${name}`;
};
const names = new URLSearchParams(location.search).get('frames').split(',');

async function load(name) {
  const index = await (await fetch(`/expect/${name}/expected.json`)).json();
  const data = new Uint8Array(await (await fetch(`/expect/${name}/frame.rgba`)).arrayBuffer());
  const probes = {};
  for (const p of index.probes) probes[p.name] = new Float32Array(await (await fetch(`/expect/${name}/${p.file}`)).arrayBuffer());
  return { name, frame: { data, width: index.width, height: index.height }, mirror: index.mirror, probes };
}

/** Largest |a - b| over two arrays, each difference divided by `scale(b)` (NaN where
 * either is NaN counts as infinite). */
function maxDiff(a, b, scale = () => 1) {
  if (!a || !b || a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / scale(b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
/** Intermediate activations reach 100 and more (the detector's regressions, ReLU6 maps): held
 * to 1e-3 of their magnitude where it exceeds 1 (float32 sums in another order); the readback,
 * which carries the outputs, to 1e-3 absolute. */
const relative = (v) => Math.max(1, Math.abs(v));

/** Numbers anywhere in two analyse results, pairwise; Infinity when their shapes differ. */
function facesDiff(a, b) {
  const flat = (v, out = []) => {
    if (typeof v === 'number') out.push(v);
    else if (typeof v === 'boolean' || v === null) out.push(v === null ? NaN : Number(v));
    else if (Array.isArray(v)) v.forEach((x) => flat(x, out));
    else if (v && typeof v === 'object') Object.keys(v).sort().forEach((k) => flat(v[k], out));
    return out;
  };
  const [x, y] = [flat(a), flat(b)];
  if (x.length !== y.length) return Infinity;
  return x.reduce((m, v, i) => (Number.isNaN(v) && Number.isNaN(y[i]) ? m : Math.max(m, Math.abs(v - y[i]))), 0);
}

/** Counts GPUBuffer.mapAsync calls (readbacks) while `f` runs. */
async function countReadbacks(f) {
  const original = GPUBuffer.prototype.mapAsync;
  let n = 0;
  GPUBuffer.prototype.mapAsync = function (...args) {
    n++;
    return original.apply(this, args);
  };
  try {
    return [await f(), n];
  } finally {
    GPUBuffer.prototype.mapAsync = original;
  }
}

async function programParity(frames) {
  const gpu = await createGpu({});
  const d = gpu.describe();
  check('SwiftShader adapter found', d.adapter.length > 0, d.adapter);
  const kinds = new Set(d.probes.map((p) => p.name.split(' ').slice(0, 2).join(' ')));
  check('one probe per op type', ['detector input', 'detector dense', 'detector depthwise', 'detector add', 'detector pad', 'detector pool', 'detector table', 'student crop', 'student stem', 'student stage1.0.dw', 'result'].every((k) => kinds.has(k)), [...kinds].join(', '));
  for (const f of frames) {
    const wanted = Object.keys(f.probes);
    const [r, readbacks] = await countReadbacks(() => gpu.run(f.frame, f.mirror, wanted));
    for (const name of wanted) {
      const output = name === 'result';
      const m = maxDiff(output ? r.result : r.probes[name], f.probes[name], output ? undefined : relative);
      const how = output ? 'max |diff|' : 'max |diff| / max(1, |cpu|)';
      check(`${f.name}: ${name} within ${TOLERANCE} of the CPU`, m <= TOLERANCE, `${how} ${m.toExponential(2)} over ${f.probes[name].length}`);
    }
    if (!wanted.length) {
      const [plain, n] = await countReadbacks(() => gpu.run(f.frame, f.mirror));
      check(`${f.name}: no face kept, one readback`, plain[0] === 0 && n === 1, `kept ${plain[0]}, ${n} readbacks`);
    }
    check(`${f.name}: probes come back with the result`, readbacks === 2 || (!wanted.length && readbacks === 1), `${readbacks} mapAsync`);
  }
  gpu.destroy();
}

async function sdk(frames) {
  const face = frames.find((f) => f.name === 'live');
  const enrolFrames = ['live', 'live-5', 'live-10'].map((n) => frames.find((f) => f.name === n).frame);
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const cpu = await FaceGate.create({ debug: true, key });
  const gpu = await FaceGate.create({ backend: 'webgpu', debug: true, key });
  const info = gpu.info();
  check("backend 'webgpu' runs on the GPU", info.backend === 'webgpu' && info.fallback === null && info.webgpu?.readbacks === 1, JSON.stringify(info.webgpu));
  const analyseDiffs = [];
  for (const f of frames) {
    const [faces, readbacks] = await countReadbacks(() => gpu.analyzeAsync(f.frame));
    const want = cpu.analyze(f.frame);
    const m = facesDiff(faces, want);
    if (faces.length) analyseDiffs.push(m);
    check(`${f.name}: analyzeAsync on the GPU gives the CPU's faces and scores within ${TOLERANCE}`, m <= TOLERANCE && faces.length === want.length, `${faces.length} faces, max |diff| ${m.toExponential(2)}`);
    check(`${f.name}: one readback per frame`, readbacks === 1, `${readbacks}`);
  }
  // Scores equal to the last bit would mean the engine recomputed them on the CPU (what it does
  // when the GPU scored other faces than it would): float sums in another order never agree so.
  check('the scores are the GPU\'s own, not a CPU recomputation', analyseDiffs.some((m) => m > 0), analyseDiffs.map((m) => m.toExponential(1)).join(' '));
  const template = await gpu.enroll(enrolFrames, { userId: 'alice' });
  const cpuTemplate = await cpu.enroll(enrolFrames, { userId: 'alice' });
  for (const [who, frame] of [['live', face.frame], ['print', frames.find((f) => f.name === 'print').frame], ['other', frames.find((f) => f.name === 'other').frame]]) {
    const a = await gpu.verify(frame, template, { userId: 'alice' });
    const b = await cpu.verify(frame, cpuTemplate, { userId: 'alice' });
    const m = Math.max(Math.abs(a.scores.liveness - b.scores.liveness), Math.abs(a.scores.similarity - b.scores.similarity));
    check(`verify ${who}: enrolled and verified on the GPU, the CPU's decision and scores within ${TOLERANCE}`, a.decision === b.decision && a.reason === b.reason && m <= TOLERANCE, `${a.decision}/${a.reason}, max |diff| ${m.toExponential(2)}`);
  }
  // The same frames on the CPU's template: templates made on either backend are one model's.
  const cross = await cpu.verify(face.frame, template, { userId: 'alice' });
  check('a template enrolled on the GPU verifies on the CPU', cross.frames === 1 && typeof cross.scores.similarity === 'number', `${cross.decision}/${cross.reason}`);
  gpu.dispose();
  cpu.dispose();
  return face;
}

async function fallbacks(face) {
  // No adapter (what a browser without a usable GPU answers): the CPU runs, and says why.
  const request = navigator.gpu.requestAdapter;
  navigator.gpu.requestAdapter = async () => null;
  let gate;
  try {
    gate = await FaceGate.create({ backend: 'webgpu' });
  } finally {
    navigator.gpu.requestAdapter = request;
  }
  const info = gate.info();
  check('forced adapter failure: falls back to SIMD and says why', info.backend === 'simd' && /no WebGPU adapter/.test(info.fallback ?? ''), info.fallback);
  check('forced adapter failure: frames are still analysed', (await gate.analyzeAsync(face.frame)).length === 1 && gate.analyze(face.frame).length === 1);
  gate.dispose();
  // A shader that does not compile (a driver's WGSL bug, say): the CPU runs, and says why.
  const createShaderModule = GPUDevice.prototype.createShaderModule;
  GPUDevice.prototype.createShaderModule = function (descriptor) {
    return createShaderModule.call(this, { ...descriptor, code: `${descriptor.code}\nfn broken( {` });
  };
  try {
    gate = await FaceGate.create({ backend: 'webgpu' });
  } finally {
    GPUDevice.prototype.createShaderModule = createShaderModule;
  }
  const broken = gate.info();
  check('shader compile error: falls back to SIMD and says why', broken.backend === 'simd' && /WGSL/.test(broken.fallback ?? ''), broken.fallback?.slice(0, 120));
  check('shader compile error: frames are still analysed', (await gate.analyzeAsync(face.frame)).length === 1);
  gate.dispose();
  // A device lost mid-session: the next frame runs on the CPU.
  let device;
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    device = await requestDevice.apply(this, args);
    return device;
  };
  try {
    gate = await FaceGate.create({ backend: 'webgpu' });
  } finally {
    GPUAdapter.prototype.requestDevice = requestDevice;
  }
  check('before the loss the GPU runs', gate.info().backend === 'webgpu');
  device.destroy();
  await device.lost;
  const faces = await gate.analyzeAsync(face.frame);
  const after = gate.info();
  check('lost device: the frame is analysed on SIMD, and it says why', faces.length === 1 && after.backend === 'simd' && /lost|stopped/.test(after.fallback ?? ''), after.fallback);
  gate.dispose();
  // The worker: the same option, the GPU in the worker.
  const worker = await FaceGateWorker.create({ backend: 'webgpu' });
  const winfo = await worker.info();
  const wfaces = await worker.analyze({ data: face.frame.data.slice(), width: face.frame.width, height: face.frame.height });
  check("FaceGateWorker with backend 'webgpu' analyses on the GPU", winfo.backend === 'webgpu' && wfaces.length === 1, `${winfo.backend}, ${winfo.webgpu?.adapter}`);
  worker.dispose();
}

const result = { checks };
try {
  const frames = await Promise.all(names.map(load));
  await programParity(frames);
  const face = await sdk(frames);
  await fallbacks(face);
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
}
document.getElementById('out').textContent = JSON.stringify(result);
