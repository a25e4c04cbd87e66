// Median ms per frame of detect + crop + student (FaceGate.analyze) over 100 camera frames,
// SIMD and plain wasm, after a 3 s warm-up, and the WebGPU backend (analyzeAsync; SwiftShader
// in this headless Chromium, labelled as such); then the same frames through @vladmandic/human
// (tfjs wasm backend, SIMD, one thread) running what facegate replaces: BlazeFace + faceres
// descriptor + antispoof + liveness. Results land in #out as JSON (read by bench.mjs).

import { FaceGate } from '/pkg/facegate.js';
import { Human } from '/human/human.esm.js';

const out = document.getElementById('out');

async function frames() {
  const list = [];
  for (const seq of ['live', 'print', 'other-live']) {
    for (let i = 0; i < 48; i += 1) {
      const blob = await (await fetch(`/frames/${seq}/${String(i).padStart(3, '0')}.jpg`)).blob();
      const bmp = await createImageBitmap(blob);
      const c = new OffscreenCanvas(bmp.width, bmp.height);
      const ctx = c.getContext('2d');
      ctx.drawImage(bmp, 0, 0);
      list.push(ctx.getImageData(0, 0, bmp.width, bmp.height));
    }
  }
  return list.slice(0, 100);
}

/** The q-quantile (0.5: median) of `xs`. */
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length * q)];
}

/** A 3 s warm-up of `step`, then each frame timed once: the times, and how many of `step`'s
 * results `counts` accepts (so a fast figure is an honest one). */
async function timeFrames(images, step, counts) {
  const warm = performance.now();
  for (let k = 0; performance.now() - warm < 3000; k++) await step(images[k % images.length]);
  let counted = 0;
  const times = [];
  for (const img of images) {
    const t = performance.now();
    const r = await step(img);
    times.push(performance.now() - t);
    if (counts(r)) counted += 1;
  }
  return { times, counted };
}

async function run(backend, images) {
  const t0 = performance.now();
  const gate = await FaceGate.create({ backend });
  const load = performance.now() - t0;
  const warm = performance.now();
  let k = 0;
  while (performance.now() - warm < 3000) gate.analyze(images[k++ % images.length]);
  let withFace = 0; // a frame without a face skips the student: count them, so a fast figure is an honest one
  const times = images.map((img) => {
    const t = performance.now();
    const faces = gate.analyze(img);
    const dt = performance.now() - t;
    if (faces.length > 0) withFace += 1; // people only (analyze drops sub-person detections)
    return dt;
  });
  const info = gate.info();
  return { backend, simd_build: info.simd, detector: info.detector, load_ms: load, median_ms: quantile(times, 0.5), p90_ms: quantile(times, 0.9), frames: times.length, frames_with_face: withFace, width: images[0].width, height: images[0].height };
}

/** The same frames through `backend: 'webgpu'` (analyzeAsync: the networks, the face
 * selection and the crops on the GPU, one readback per frame). Headless Chromium here has no
 * GPU: its adapter is SwiftShader, WebGPU emulated on the CPU, and the row says so. */
async function runWebGpu(images) {
  const t0 = performance.now();
  const gate = await FaceGate.create({ backend: 'webgpu' });
  const load = performance.now() - t0;
  const info = gate.info();
  if (info.backend !== 'webgpu') return { backend: 'webgpu', unavailable: info.fallback };
  const { times, counted: withFace } = await timeFrames(images, (img) => gate.analyzeAsync(img), (faces) => faces.length > 0);
  const { adapter, dispatches, readbacks, readbackBytes } = info.webgpu;
  gate.dispose();
  return {
    backend: `webgpu (${adapter})`,
    software: /swiftshader/i.test(adapter) ? 'SwiftShader: WebGPU emulated on the CPU, not a GPU' : null,
    load_ms: load, median_ms: quantile(times, 0.5), p90_ms: quantile(times, 0.9), frames: times.length, frames_with_face: withFace,
    dispatches_per_frame: dispatches, readbacks_per_frame: readbacks, readback_bytes_per_frame: readbackBytes,
    upload_bytes_per_frame: images[0].width * images[0].height * 4 + 16,
  };
}

/** Every frame fully processed: no result caching, no frame skipping, no temporal filter. */
const HUMAN_CONFIG = {
  backend: 'wasm', wasmPath: '/tfjs-wasm/', wasmPlatformFetch: false, modelBasePath: '/models/',
  debug: false, async: true, warmup: 'none', cacheSensitivity: 0, filter: { enabled: false },
  face: {
    enabled: true,
    detector: { modelPath: 'blazeface.json', rotation: false, maxDetected: 1, skipFrames: 0, skipTime: 0 },
    mesh: { enabled: false }, iris: { enabled: false }, emotion: { enabled: false }, attention: { enabled: false },
    description: { enabled: true, modelPath: 'faceres.json', skipFrames: 0, skipTime: 0 },
    antispoof: { enabled: true, modelPath: 'antispoof.json', skipFrames: 0, skipTime: 0 },
    liveness: { enabled: true, modelPath: 'liveness.json', skipFrames: 0, skipTime: 0 },
  },
  body: { enabled: false }, hand: { enabled: false }, object: { enabled: false }, gesture: { enabled: false }, segmentation: { enabled: false },
};

async function runHuman(images) {
  const t0 = performance.now();
  const human = new Human(HUMAN_CONFIG);
  await human.load();
  await human.tf.ready();
  const load = performance.now() - t0;
  const { times, counted: complete } = await timeFrames(
    images,
    (img) => human.detect(img),
    (r) => {
      const f = r.face[0];
      return Boolean(f && f.embedding && f.embedding.length > 0 && typeof f.real === 'number' && typeof f.live === 'number');
    },
  );
  return { backend: `human ${human.version} tfjs-${human.tf.getBackend()}`, models: 'blazeface + faceres + antispoof + liveness', load_ms: load, median_ms: quantile(times, 0.5), p90_ms: quantile(times, 0.9), frames: times.length, frames_with_all_outputs: complete };
}

/**
 * The student alone against the two teachers it is distilled from (SFace's descriptor, and
 * MiniFAS: the graph the fine-tuned teacher shares), each on its own crop of the same face, same
 * build flags (SIMD), all on facegate's kernels: the bench-only wasm of crates/facegate-bench-wasm,
 * which fetches the teachers' files (`./build.sh bench` builds it).
 */
async function runTeachers(images) {
  const { default: init, TeacherBench } = await import('/bench-wasm/facegate_bench_wasm.js');
  await init();
  const bytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
  const bench = new TeacherBench(await bytes('/sface/face_recognition_sface_2021dec_int8bq.onnx'), await bytes('/minifas/minifas_v2_se_98.20.onnx'));
  const rgba = (img) => new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  const faces = images.filter((img) => {
    try {
      bench.prepare(rgba(img), img.width, img.height);
      return true;
    } catch {
      return false; // no single face in this frame
    }
  });
  const warm = performance.now();
  for (let k = 0; performance.now() - warm < 3000; k++) {
    bench.student();
    bench.teachers();
  }
  const student = [];
  const teachers = [];
  for (const img of faces) {
    bench.prepare(rgba(img), img.width, img.height);
    let t = performance.now();
    bench.student();
    student.push(performance.now() - t);
    t = performance.now();
    bench.teachers();
    teachers.push(performance.now() - t);
  }
  const s = quantile(student, 0.5);
  const tt = quantile(teachers, 0.5);
  return { backend: 'student vs teachers (simd)', models: 'student (crop + mirror) | SFace + MiniFAS', faces: faces.length, student_median_ms: s, teachers_median_ms: tt, speedup: tt / s };
}

try {
  const images = await frames();
  const results = [await run('simd', images), await run('wasm', images), await runWebGpu(images), await runHuman(images), await runTeachers(images)];
  const sizes = {};
  for (const flavour of ['simd', 'plain']) {
    const r = await fetch(`/pkg/${flavour}/facegate_wasm_bg.wasm`);
    sizes[flavour] = (await r.arrayBuffer()).byteLength;
  }
  out.textContent = JSON.stringify({ ok: true, userAgent: navigator.userAgent, results, wasm_bytes: sizes });
} catch (e) {
  out.textContent = JSON.stringify({ ok: false, error: String(e && e.stack ? e.stack : e) });
}
