// facegate: offline face authentication. One WebAssembly module (detector + student) runs
// on the user's device; templates are AES-GCM sealed with a WebCrypto key, bound to the user,
// the page's origin and the model, before they leave this module. See README.md for the API.

import initSimd, { Core as CoreSimd } from './simd/facegate_wasm.js';
import initPlain, { Core as CorePlain } from './plain/facegate_wasm.js';
import { FaceGateError, checkAbort } from './errors.js';

export { FaceGateError } from './errors.js';
export { Camera, AttemptLimiter, GUIDANCE, enrollSession, verifySession } from './session.js';
export { forgetTemplateKey, passkeySupported, templateKey } from './keys.js';

// (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)): valid only with SIMD128.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** Does this browser run WebAssembly SIMD128? */
export function simdSupported() {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

// Sealed templates: `FGT2.<model id>.<base64(iv | AES-GCM ciphertext)>`. The model id is in
// the clear so that an app can tell a template of an older model without a key.
const TEMPLATE_MAGIC = 'FGT2';
const OLD_MAGICS = ['FGT1'];
/** Frames are scaled to at most this side before the engine: the detector and the crop need
 * no more, and wasm memory, once grown for an 8K frame, is never given back. */
export const MAX_FRAME_SIDE = 1280;
/** The engine's own limit (facegate-face MAX_PIXELS), checked before any pixel is copied. */
const MAX_PIXELS = 40_000_000;

// Each asset's URL is written as a literal `new URL('./file', import.meta.url)`: that exact
// form is what Vite and webpack find, copy into the bundle and rewrite.
// Vite's dev server pre-bundles dependencies into node_modules/.vite/deps/ without the
// files they point at (vitejs/vite#8427): say so, with the one-line fix, rather than fail darkly.
const VITE_PREBUNDLED = import.meta.url.includes('/.vite/deps/')
  ? " (Vite pre-bundled facegate without its .wasm and worker files: add optimizeDeps: { exclude: ['facegate'] } to vite.config.js)"
  : '';
const WASM_URLS = {
  simd: () => new URL('./simd/facegate_wasm_bg.wasm', import.meta.url),
  plain: () => new URL('./plain/facegate_wasm_bg.wasm', import.meta.url),
};
// The WebGPU backend's files, fetched only for `backend: 'webgpu'`. The module is imported by
// URL, not by name: bundlers copy it as an asset instead of splitting this file into chunks
// (which Vite cannot do for the worker's default IIFE build); its program and weights are
// named here, where bundlers see them.
const WEBGPU_URLS = {
  module: () => new URL('./webgpu.js', import.meta.url),
  program: () => new URL('./webgpu/program.json', import.meta.url),
  weights: () => new URL('./webgpu/weights.bin', import.meta.url),
};

function rethrow(e) {
  if (e instanceof FaceGateError) throw e;
  if (e && e.name === 'FaceGateError') throw new FaceGateError(e.code, e.message);
  throw new FaceGateError('INTERNAL', `facegate internal error: ${e && e.message ? e.message : e}`);
}

function canvas(w, h) {
  if (typeof OffscreenCanvas !== 'undefined') return new OffscreenCanvas(w, h);
  return Object.assign(document.createElement('canvas'), { width: w, height: h });
}

function isRgba(frame) {
  return (typeof ImageData !== 'undefined' && frame instanceof ImageData) || (frame.data !== undefined && frame.width !== undefined && frame.height !== undefined);
}

/** Width and height of any supported frame. */
function sizeOf(frame) {
  if (frame == null) throw new FaceGateError('BAD_ARGUMENT', 'frame is missing');
  if (isRgba(frame)) return [frame.width, frame.height];
  return [frame.videoWidth || frame.naturalWidth || frame.displayWidth || frame.width, frame.videoHeight || frame.naturalHeight || frame.displayHeight || frame.height];
}

/**
 * Any supported frame as `{data, width, height, scale}`: RGBA at most MAX_FRAME_SIDE on a side,
 * `scale` the factor from its pixels back to the frame's.
 */
function toRgba(frame) {
  const [w, h] = sizeOf(frame);
  if (isRgba(frame)) {
    if (!(frame.data instanceof Uint8Array || frame.data instanceof Uint8ClampedArray)) {
      throw new FaceGateError('BAD_ARGUMENT', 'frame.data must be a Uint8Array or Uint8ClampedArray of RGBA bytes');
    }
    // Small frames and malformed ones go to the engine as they are (it says what is wrong).
    if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0) || Math.max(w, h) <= MAX_FRAME_SIDE || frame.data.length !== w * h * 4) {
      const scale = Number.isFinite(frame.scale) && frame.scale >= 1 ? frame.scale : 1;
      return { data: frame.data, width: w, height: h, scale };
    }
  }
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0) {
    throw new FaceGateError('EMPTY_IMAGE', `frame has no pixels yet (${w}x${h}); wait for the video to play`);
  }
  if (w * h > MAX_PIXELS) throw new FaceGateError('IMAGE_TOO_LARGE', `frame ${w}x${h} is larger than the ${MAX_PIXELS}-pixel limit`);
  const scale = Math.max(1, Math.max(w, h) / MAX_FRAME_SIDE);
  const [sw, sh] = [Math.max(1, Math.round(w / scale)), Math.max(1, Math.round(h / scale))];
  let source = frame;
  if (isRgba(frame)) {
    source = canvas(w, h);
    const pixels = frame instanceof ImageData ? frame : new ImageData(new Uint8ClampedArray(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength), w, h);
    source.getContext('2d').putImageData(pixels, 0, 0);
  }
  const ctx = canvas(sw, sh).getContext('2d', { willReadFrequently: true });
  try {
    ctx.drawImage(source, 0, 0, sw, sh);
  } catch (e) {
    throw new FaceGateError('BAD_ARGUMENT', `cannot read pixels from this frame: ${e.message}`);
  }
  const image = ctx.getImageData(0, 0, sw, sh);
  return { data: image.data, width: sw, height: sh, scale: w / sw };
}

/** An RGBA frame's bytes, as the engine takes them. */
function bytesOf(f) {
  return new Uint8Array(f.data.buffer, f.data.byteOffset, f.data.byteLength);
}

/** Box and keypoints from the scaled frame back to the caller's pixels. */
function unscale(face, scale) {
  if (scale === 1) return face;
  return { ...face, box: face.box.map((v) => v * scale), keypoints: face.keypoints.map(([x, y]) => [x * scale, y * scale]) };
}

function bytesToBase64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function base64ToBytes(text) {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    throw new FaceGateError('CORRUPT_TEMPLATE', 'template is not valid base64');
  }
}

/** `{magic, modelId, sealed}` of a template string; CORRUPT_TEMPLATE when it is none. */
function parseTemplate(template) {
  if (typeof template !== 'string') throw new FaceGateError('CORRUPT_TEMPLATE', 'a template is a string');
  const [magic, ...rest] = template.split('.');
  if (OLD_MAGICS.includes(magic)) return { magic, modelId: null, sealed: null };
  if (magic !== TEMPLATE_MAGIC || rest.length !== 2 || !/^[0-9a-f]{8}$/.test(rest[0])) throw new FaceGateError('CORRUPT_TEMPLATE', 'not a facegate template');
  const sealed = base64ToBytes(rest[1]);
  if (sealed.length < 12 + 16) throw new FaceGateError('CORRUPT_TEMPLATE', 'template is truncated');
  return { magic, modelId: rest[0], sealed };
}

function checkUserId(userId) {
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 256) {
    throw new FaceGateError('BAD_ARGUMENT', 'userId must be a non-empty string of at most 256 characters: the template is bound to it');
  }
}

/** What a sealed template is bound to: its user, this page's origin and the model. */
function associatedData(userId, modelId) {
  return new TextEncoder().encode(JSON.stringify([TEMPLATE_MAGIC, modelId, self.location.origin, userId]));
}

/** The answer for one or several verifications of one person, decided by the engine's rule
 * (mean liveness and mean similarity against the operating points, so one odd frame neither
 * lets a photo in nor locks the user out): a decision, with the mean scores only in debug. */
function answer(d, debug) {
  const out = { decision: d.accept ? 'accept' : 'refuse', reason: d.reason, frames: d.frames };
  if (debug) out.scores = { liveness: d.liveness, similarity: d.similarity };
  return out;
}

export class FaceGate {
  #core;
  #Core;
  #key;
  #options;
  #memory;
  #gone = null;
  #gpu = null;
  #fallback = null;

  constructor(core, CoreClass, key, options, memory) {
    this.#core = core;
    this.#Core = CoreClass;
    this.#key = key;
    this.#options = options;
    this.#memory = memory;
  }

  /**
   * Loads the WebAssembly engine. `backend`: 'auto' (SIMD when the browser has it, else plain
   * wasm), 'simd' or 'wasm'. `key`: an AES-GCM CryptoKey for templates (see `templateKey()`; a
   * non-extractable one for this page's lifetime when omitted). `thresholds`: operating-point
   * overrides. `debug`: also return raw scores. `onProgress({phase, loaded, total})`: download
   * progress, then phase 'ready'.
   */
  static async create(options = {}) {
    const backend = options.backend ?? 'auto';
    if (!['auto', 'simd', 'wasm', 'webgpu'].includes(backend)) {
      throw new FaceGateError('BAD_OPTION', `unknown backend "${backend}": 'auto', 'simd', 'wasm' or 'webgpu'`);
    }
    const simd = backend === 'simd' || (['auto', 'webgpu'].includes(backend) && simdSupported());
    if (backend === 'simd' && !simdSupported()) throw new FaceGateError('BACKEND_UNAVAILABLE', 'this browser has no WebAssembly SIMD; use "auto"');
    const [init, CoreClass, dir] = simd ? [initSimd, CoreSimd, 'simd'] : [initPlain, CorePlain, 'plain'];
    const url = options.wasmUrl ?? WASM_URLS[dir]();
    const progress = typeof options.onProgress === 'function' ? options.onProgress : () => {};
    checkAbort(options.signal);
    let exports;
    try {
      exports = await init({ module_or_path: await download(url, progress, options.signal) });
    } catch (e) {
      if (e instanceof FaceGateError) throw e;
      // A 404, a truncated or foreign file, a CSP refusal: a clear rejection, never a hang.
      throw new FaceGateError('LOAD_FAILED', `could not load the facegate engine from ${url}: ${e && e.message ? e.message : e}${VITE_PREBUNDLED}`);
    }
    let core;
    let modelId;
    try {
      core = new CoreClass();
      if (options.thresholds) core.setThresholds(options.thresholds);
      // The embedded model, fixed for the build: read once, not per template.
      modelId = core.info().modelId;
    } catch (e) {
      rethrow(e);
    }
    const key = options.key ?? (await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']));
    const gate = new FaceGate(core, CoreClass, key, { debug: Boolean(options.debug), backend: simd ? 'simd' : 'wasm', modelId }, exports.memory);
    if (backend === 'webgpu') await gate.#startGpu(options.signal);
    progress({ phase: 'ready', loaded: 1, total: 1 });
    return gate;
  }

  /** The WebGPU module, loaded only now; any failure (no WebGPU, no adapter, a device or
   * shader error, missing files) leaves the CPU backend running and says why in `info()`. */
  async #startGpu(signal) {
    try {
      const { createGpu } = await import(/* @vite-ignore */ /* webpackIgnore: true */ WEBGPU_URLS.module().href);
      checkAbort(signal);
      this.#gpu = await createGpu({ modelId: this.#options.modelId, programUrl: WEBGPU_URLS.program(), weightsUrl: WEBGPU_URLS.weights() });
    } catch (e) {
      if (e instanceof FaceGateError && e.code === 'ABORTED') throw e;
      this.#fallback = `WebGPU unavailable, running on ${this.#options.backend}: ${e && e.message ? e.message : e}`;
    }
  }

  /** The GPU's readback for an RGBA frame, or null to run it on the CPU: no GPU, a frame the
   * engine will refuse (it says why), or a GPU that failed, which is then dropped for good. */
  async #read(f, mirror) {
    const gpu = this.#gpu;
    if (!gpu || !(Number.isInteger(f.width) && Number.isInteger(f.height) && f.width > 0 && f.height > 0 && f.data.length === f.width * f.height * 4)) return null;
    try {
      return await gpu.run(f, mirror);
    } catch (e) {
      // Disposed meanwhile: the engine call that follows says so.
      if (this.#gpu !== gpu) return null;
      gpu.destroy();
      this.#gpu = null;
      this.#fallback = `WebGPU stopped, running on ${this.#options.backend}: ${e && e.message ? e.message : e}`;
      return null;
    }
  }

  /** Runs `f` on the engine; a trap (which leaves a wasm instance unusable) gets a fresh one. */
  #call(f) {
    if (!this.#core) throw this.#gone;
    try {
      return f(this.#core);
    } catch (e) {
      // The engine reports every input problem as a FaceGateError. Anything else (a trap, or
      // the glue choking on a broken instance's memory) means the instance is not to be
      // trusted: the same instance, a new engine, is all a page-thread module can do, and it
      // may not survive what broke the old one. FaceGateWorker starts a new instance instead.
      if (!(e instanceof FaceGateError || e?.name === 'FaceGateError')) {
        try {
          const thresholds = this.#core.thresholds();
          this.#core = new this.#Core();
          this.#core.setThresholds(thresholds);
        } catch {
          this.#core = null;
          this.#gone = new FaceGateError('TRAPPED', 'the engine stopped and could not be restarted in this wasm instance: create a new FaceGate after a reload, or use FaceGateWorker, which starts a new instance');
        }
        throw new FaceGateError('TRAPPED', `the engine stopped (${e.message})${this.#core ? '; a new one is running' : ''}`);
      }
      rethrow(e);
    }
  }

  /** Which build runs, the model's identity, operating points, measured accuracy, and the
   * wasm memory in use. */
  info() {
    const webgpu = this.#gpu ? { adapter: this.#gpu.adapter, ...this.#gpu.stats } : null;
    return {
      backend: this.#gpu ? 'webgpu' : this.#options.backend,
      debug: this.#options.debug,
      wasmMemoryBytes: this.#memory?.buffer.byteLength ?? null,
      webgpu,
      fallback: this.#fallback,
      ...this.#call((c) => c.info()),
    };
  }

  get thresholds() {
    return this.#call((c) => c.thresholds());
  }

  /** Overrides operating points ({liveness, matching, minEnrollFrames}); invalid ones are refused. */
  setThresholds(t) {
    return this.#call((c) => c.setThresholds(t));
  }

  /** People in a frame: box, keypoints and quality hints (every detection, with its scores,
   * with `debug`). */
  analyze(frame) {
    const f = toRgba(frame);
    return this.#present(this.#call((c) => c.analyze(bytesOf(f), f.width, f.height)), f);
  }

  /** `analyze`, on the GPU when the backend is 'webgpu' (`analyze` itself is synchronous and
   * always runs on the CPU); the same answer on either. */
  async analyzeAsync(frame) {
    const f = toRgba(frame);
    const read = await this.#read(f, false);
    return this.#present(this.#call((c) => c.analyze(bytesOf(f), f.width, f.height, read)), f);
  }

  #present(faces, f) {
    if (this.#options.debug) return faces.map((face) => unscale(face, f.scale));
    // People only (detections the engine scored), without scores: a per-frame liveness answer
    // is an oracle that an attacker can tune a photo against.
    return faces
      .filter((face) => face.livenessScore !== null)
      .map((face) => {
        const { livenessScore, live, detectorScore, ...rest } = unscale(face, f.scale);
        return rest;
      });
  }

  /** A sealed template (a string) from several frames of one live person, bound to `userId`,
   * this origin and the model. */
  async enroll(frames, { userId, signal } = {}) {
    checkUserId(userId);
    if (!Array.isArray(frames)) throw new FaceGateError('BAD_ARGUMENT', 'enroll takes an array of frames');
    checkAbort(signal);
    const rgba = frames.map(toRgba).map((f) => ({ data: f.data, width: f.width, height: f.height }));
    const reads = [];
    for (const f of rgba) reads.push(await this.#read(f, true));
    checkAbort(signal);
    // The GPU's readbacks go with their frames; a GPU that stopped half-way: all on the CPU.
    const plain = this.#call((c) => c.enroll(reads.every(Boolean) ? rgba.map((f, k) => ({ ...f, read: reads[k] })) : rgba));
    const { modelId } = this.#options;
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: associatedData(userId, modelId) }, this.#key, plain));
    checkAbort(signal);
    const out = new Uint8Array(iv.length + sealed.length);
    out.set(iv);
    out.set(sealed, iv.length);
    return `${TEMPLATE_MAGIC}.${modelId}.${bytesToBase64(out)}`;
  }

  /** True when `template` was made by another model (or an older format): enrol again. */
  needsReenrolment(template) {
    return this.#stale(parseTemplate(template));
  }

  #stale({ magic, modelId }) {
    return magic !== TEMPLATE_MAGIC || modelId !== this.#options.modelId;
  }

  /**
   * Is the one face in `frames` (a frame, or several of one person) live and the enrolled
   * `userId`? `{decision: 'accept' | 'refuse', reason: 'ok' | 'notLive' | 'noMatch', frames}`
   * (`scores` with `debug`). Frames without exactly one face are skipped; none left: NO_FACE.
   */
  async verify(frames, template, { userId, signal } = {}) {
    checkUserId(userId);
    const list = Array.isArray(frames) ? frames : [frames];
    if (list.length === 0) throw new FaceGateError('NO_FRAMES', 'verify needs at least one frame');
    const parsed = parseTemplate(template);
    const { modelId, sealed } = parsed;
    if (this.#stale(parsed)) {
      throw new FaceGateError('NEEDS_REENROLMENT', 'this template was made by another facegate model: enrol again (see needsReenrolment)');
    }
    let plain;
    try {
      plain = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.slice(0, 12), additionalData: associatedData(userId, modelId) }, this.#key, sealed.slice(12)));
    } catch {
      throw new FaceGateError('TEMPLATE_TAMPERED', 'template does not open with this key for this user on this origin: tampered, swapped, or sealed with another key');
    }
    const results = [];
    let skipped = null;
    for (const frame of list) {
      checkAbort(signal);
      const f = toRgba(frame);
      const read = await this.#read(f, true);
      try {
        results.push(this.#call((c) => c.verify(bytesOf(f), f.width, f.height, plain, read)));
      } catch (e) {
        if (list.length === 1 || !['NO_FACE', 'SEVERAL_FACES'].includes(e.code)) throw e;
        skipped = e;
      }
    }
    if (results.length === 0) throw skipped;
    const scores = (k) => Float32Array.from(results, (r) => r[k]);
    return answer(this.#call((c) => c.decide(scores('livenessScore'), scores('similarity'))), this.#options.debug);
  }

  /** Frees the engine; later calls raise DISPOSED. */
  dispose() {
    this.#gpu?.destroy();
    this.#gpu = null;
    this.#core?.free();
    this.#core = null;
    this.#gone = new FaceGateError('DISPOSED', 'this FaceGate was disposed');
  }
}

/** The engine's bytes, reporting download progress; errors are LOAD_FAILED. */
async function download(url, progress, signal) {
  let response;
  try {
    response = await fetch(url, { signal });
  } catch (e) {
    checkAbort(signal);
    throw new FaceGateError('LOAD_FAILED', `could not fetch the facegate engine from ${url}: ${e.message}${VITE_PREBUNDLED}`);
  }
  if (!response.ok) throw new FaceGateError('LOAD_FAILED', `could not fetch the facegate engine from ${url}: HTTP ${response.status}${VITE_PREBUNDLED}`);
  const total = Number(response.headers.get('content-length')) || 0;
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    progress({ phase: 'download', loaded, total });
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

/** A frame for the worker: ImageBitmap and VideoFrame are transferred as they are (the worker
 * reads their pixels); anything else is read here, scaled, and its pixels transferred. */
function forWorker(frame, transfer) {
  if ((typeof ImageBitmap !== 'undefined' && frame instanceof ImageBitmap) || (typeof VideoFrame !== 'undefined' && frame instanceof VideoFrame)) {
    transfer.push(frame);
    return frame;
  }
  const f = toRgba(frame);
  // Our own copy (a scaled frame is already one): the caller's buffer stays theirs.
  const data = f.scale === 1 ? new Uint8ClampedArray(f.data) : f.data;
  transfer.push(data.buffer);
  return { data, width: f.width, height: f.height, scale: f.scale };
}

/**
 * The same API, run in a Web Worker so inference never blocks the page. A worker whose engine
 * traps is replaced by a fresh one (a new wasm instance) before the call is answered.
 */
export class FaceGateWorker {
  #worker = null;
  #options;
  #pending = new Map();
  #next = 0;
  #failed = null;

  constructor(options) {
    this.#options = options;
  }

  /** Options as FaceGate.create, plus `workerUrl`. Rejects with LOAD_FAILED when the worker
   * or the engine cannot be loaded; never stays pending. */
  static async create(options = {}) {
    const client = new FaceGateWorker(options);
    await client.#start();
    return client;
  }

  async #start() {
    const { workerUrl, onProgress, signal, ...rest } = this.#options;
    // The literal `new Worker(new URL(...), ...)` form is what bundlers (Vite, webpack) follow.
    let worker;
    try {
      worker = workerUrl ? new Worker(workerUrl, { type: 'module' }) : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    } catch (e) {
      throw new FaceGateError('LOAD_FAILED', `the facegate worker could not be started: ${e.message}`);
    }
    this.#worker = worker;
    this.#failed = null;
    // A worker script that does not load (404, CSP, a syntax error) only fires `error`:
    // every pending call, `create()` included, rejects instead of waiting forever.
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new FaceGateError('LOAD_FAILED', `the facegate worker failed${event.message ? `: ${event.message}` : ' to load'}${VITE_PREBUNDLED}`));
    };
    worker.onmessageerror = () => this.#fail(new FaceGateError('INTERNAL', 'a message from the facegate worker could not be read'));
    worker.onmessage = (event) => {
      const { id, result, error, progress } = event.data;
      if (progress) return onProgress?.(progress);
      const p = this.#pending.get(id);
      if (!p) return;
      this.#pending.delete(id);
      if (error) p.reject(new FaceGateError(error.code, error.message));
      else p.resolve(result);
    };
    const abort = () => this.#fail(new FaceGateError('ABORTED', 'aborted while loading'));
    signal?.addEventListener('abort', abort, { once: true });
    try {
      checkAbort(signal);
      await this.#send('create', [{ ...rest, onProgress: Boolean(onProgress) }]);
    } finally {
      signal?.removeEventListener('abort', abort);
    }
  }

  #fail(error) {
    this.#failed = error;
    this.#worker?.terminate();
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }

  #send(method, args, transfer = [], signal) {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      if (signal) {
        checkAbort(signal);
        // The worker finishes the call; its answer is dropped.
        signal.addEventListener('abort', () => this.#pending.delete(id) && reject(new FaceGateError('ABORTED', 'aborted by the caller')), { once: true });
      }
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, method, args }, transfer);
    });
  }

  /** A call whose engine trapped is answered after the worker is replaced. */
  async #call(method, args, transfer, signal) {
    try {
      return await this.#send(method, args, transfer, signal);
    } catch (e) {
      if (e.code === 'TRAPPED') {
        this.#worker.terminate();
        await this.#start();
        throw new FaceGateError('TRAPPED', `the engine stopped (${e.message}); a new worker and wasm instance are running`);
      }
      throw e;
    }
  }

  info() {
    return this.#call('info', []);
  }

  setThresholds(t) {
    return this.#call('setThresholds', [t]);
  }

  analyze(frame) {
    const transfer = [];
    try {
      return this.#call('analyze', [forWorker(frame, transfer)], transfer);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  needsReenrolment(template) {
    return this.#call('needsReenrolment', [template]);
  }

  enroll(frames, { userId, signal } = {}) {
    if (!Array.isArray(frames)) return Promise.reject(new FaceGateError('BAD_ARGUMENT', 'enroll takes an array of frames'));
    const transfer = [];
    try {
      return this.#call('enroll', [frames.map((f) => forWorker(f, transfer)), { userId }], transfer, signal);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  verify(frames, template, { userId, signal } = {}) {
    const transfer = [];
    try {
      const list = Array.isArray(frames) ? frames.map((f) => forWorker(f, transfer)) : forWorker(frames, transfer);
      return this.#call('verify', [list, template, { userId }], transfer, signal);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Stops the worker; pending and later calls reject with DISPOSED. */
  dispose() {
    this.#fail(new FaceGateError('DISPOSED', 'this FaceGateWorker was disposed'));
  }
}
