// facegate: offline face authentication. One WebAssembly module (detector + student) runs
// on the user's device; templates are AES-GCM encrypted with a WebCrypto key before they
// leave this module. See README.md for the API.

import initSimd, { Core as CoreSimd } from './simd/facegate_wasm.js';
import initPlain, { Core as CorePlain } from './plain/facegate_wasm.js';

/** Every error facegate raises; `code` is stable and safe to switch on. */
export class FaceGateError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'FaceGateError';
    this.code = code;
  }
}

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

const TEMPLATE_MAGIC = 'FGT1';

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

function rethrow(e) {
  if (e instanceof FaceGateError) throw e;
  if (e && e.name === 'FaceGateError') throw new FaceGateError(e.code, e.message);
  throw new FaceGateError('INTERNAL', `facegate internal error: ${e && e.message ? e.message : e}`);
}

/** Any supported frame -> {data: Uint8ClampedArray RGBA, width, height}. */
function toRgba(frame) {
  if (frame == null) throw new FaceGateError('BAD_ARGUMENT', 'frame is missing');
  if (typeof ImageData !== 'undefined' && frame instanceof ImageData) return frame;
  if (frame.data !== undefined && frame.width !== undefined && frame.height !== undefined) {
    if (!(frame.data instanceof Uint8Array || frame.data instanceof Uint8ClampedArray)) {
      throw new FaceGateError('BAD_ARGUMENT', 'frame.data must be a Uint8Array or Uint8ClampedArray of RGBA bytes');
    }
    return frame;
  }
  const w = frame.videoWidth ?? frame.naturalWidth ?? frame.width;
  const h = frame.videoHeight ?? frame.naturalHeight ?? frame.height;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0) {
    throw new FaceGateError('EMPTY_IMAGE', `frame has no pixels yet (${w}x${h}); wait for the video to play`);
  }
  const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(w, h) : Object.assign(document.createElement('canvas'), { width: w, height: h });
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  try {
    ctx.drawImage(frame, 0, 0, w, h);
  } catch (e) {
    throw new FaceGateError('BAD_ARGUMENT', `cannot read pixels from this frame: ${e.message}`);
  }
  return ctx.getImageData(0, 0, w, h);
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

export class FaceGate {
  #core;
  #Core;
  #key;
  #options;

  constructor(core, CoreClass, key, options) {
    this.#core = core;
    this.#Core = CoreClass;
    this.#key = key;
    this.#options = options;
  }

  /**
   * Loads the WebAssembly engine. `backend`: 'auto' (SIMD when the browser has it, else plain
   * wasm), 'simd', 'wasm' or 'webgpu'. `key`: an AES-GCM CryptoKey for templates (a
   * non-extractable one is generated when omitted). `thresholds`: operating-point overrides.
   */
  static async create(options = {}) {
    const backend = options.backend ?? 'auto';
    if (backend === 'webgpu') {
      throw new FaceGateError('BACKEND_UNAVAILABLE', 'there is no WebGPU build: facegate runs its own CPU kernels (SIMD128 where available), and a GPU path would need GPU kernels for the same layers; use "auto"');
    }
    if (!['auto', 'simd', 'wasm'].includes(backend)) throw new FaceGateError('BAD_OPTION', `unknown backend "${backend}"`);
    const simd = backend === 'simd' || (backend === 'auto' && simdSupported());
    if (backend === 'simd' && !simdSupported()) throw new FaceGateError('BACKEND_UNAVAILABLE', 'this browser has no WebAssembly SIMD; use "auto"');
    const [init, CoreClass, dir] = simd ? [initSimd, CoreSimd, 'simd'] : [initPlain, CorePlain, 'plain'];
    const url = options.wasmUrl ?? WASM_URLS[dir]();
    try {
      await init({ module_or_path: url });
    } catch (e) {
      // A 404, a truncated or foreign file, a CSP refusal: a clear rejection, never a hang.
      throw new FaceGateError('LOAD_FAILED', `could not load the facegate engine from ${url}: ${e && e.message ? e.message : e}${VITE_PREBUNDLED}`);
    }
    let core;
    try {
      core = new CoreClass();
      if (options.thresholds) core.setThresholds(options.thresholds);
    } catch (e) {
      rethrow(e);
    }
    const key = options.key ?? (await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']));
    return new FaceGate(core, CoreClass, key, { ...options, backend: simd ? 'simd' : 'wasm' });
  }

  /** Runs `f` on the engine; a trap (which leaves a wasm instance unusable) gets a fresh one. */
  #call(f) {
    try {
      return f(this.#core);
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) {
        const thresholds = this.#core.thresholds();
        this.#core = new this.#Core();
        this.#core.setThresholds(thresholds);
      }
      rethrow(e);
    }
  }

  /** Which build runs, the model's identity, operating points and measured accuracy. */
  info() {
    return { backend: this.#options.backend, ...this.#call((c) => c.info()) };
  }

  get thresholds() {
    return this.#call((c) => c.thresholds());
  }

  /** Overrides operating points ({liveness, matching, minEnrollFrames}); invalid ones are refused. */
  setThresholds(t) {
    return this.#call((c) => c.setThresholds(t));
  }

  /** Faces in a frame, with box, keypoints, liveness and quality hints. */
  analyze(frame) {
    const f = toRgba(frame);
    return this.#call((c) => c.analyze(new Uint8Array(f.data.buffer, f.data.byteOffset, f.data.byteLength), f.width, f.height));
  }

  /** An encrypted, versioned template (a string) from several frames of one live person. */
  async enroll(frames) {
    if (!Array.isArray(frames)) throw new FaceGateError('BAD_ARGUMENT', 'enroll takes an array of frames');
    const rgba = frames.map(toRgba).map((f) => ({ data: f.data, width: f.width, height: f.height }));
    const plain = this.#call((c) => c.enroll(rgba));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(TEMPLATE_MAGIC) }, this.#key, plain));
    const out = new Uint8Array(iv.length + sealed.length);
    out.set(iv);
    out.set(sealed, iv.length);
    return `${TEMPLATE_MAGIC}.${bytesToBase64(out)}`;
  }

  /** {live, match, similarity, livenessScore, reason, quality} for the one face in `frame`. */
  async verify(frame, template) {
    if (typeof template !== 'string' || !template.startsWith(`${TEMPLATE_MAGIC}.`)) {
      throw new FaceGateError('CORRUPT_TEMPLATE', 'not a facegate template');
    }
    const bytes = base64ToBytes(template.slice(TEMPLATE_MAGIC.length + 1));
    if (bytes.length < 13 + 16) throw new FaceGateError('CORRUPT_TEMPLATE', 'template is truncated');
    let plain;
    try {
      plain = new Uint8Array(await crypto.subtle.decrypt({ name: 'AES-GCM', iv: bytes.slice(0, 12), additionalData: new TextEncoder().encode(TEMPLATE_MAGIC) }, this.#key, bytes.slice(12)));
    } catch {
      throw new FaceGateError('TEMPLATE_TAMPERED', 'template does not decrypt with this key: tampered, or sealed with another key');
    }
    const f = toRgba(frame);
    return this.#call((c) => c.verify(new Uint8Array(f.data.buffer, f.data.byteOffset, f.data.byteLength), f.width, f.height, plain));
  }
}

/**
 * The same API, run in a Web Worker so inference never blocks the page. Frames are copied
 * to the worker as RGBA; video elements are read on the main thread first.
 */
export class FaceGateWorker {
  #worker;
  #pending = new Map();
  #next = 0;

  #failed = null;

  constructor(worker) {
    this.#worker = worker;
    // A worker script that does not load (404, CSP, a syntax error) only fires `error`:
    // every pending call, `create()` included, rejects instead of waiting forever.
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new FaceGateError('LOAD_FAILED', `the facegate worker failed${event.message ? `: ${event.message}` : ' to load'}${VITE_PREBUNDLED}`));
    };
    worker.onmessageerror = () => this.#fail(new FaceGateError('INTERNAL', 'a message from the facegate worker could not be read'));
    worker.onmessage = (event) => {
      const { id, result, error } = event.data;
      const p = this.#pending.get(id);
      if (!p) return;
      this.#pending.delete(id);
      if (error) p.reject(new FaceGateError(error.code, error.message));
      else p.resolve(result);
    };
  }

  static async create(options = {}) {
    // The literal `new Worker(new URL(...), ...)` form is what bundlers (Vite, webpack) follow.
    const worker = options.workerUrl ? new Worker(options.workerUrl, { type: 'module' }) : new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const client = new FaceGateWorker(worker);
    const { workerUrl, ...rest } = options;
    await client.#send('create', [rest]);
    return client;
  }

  #fail(error) {
    this.#failed = error;
    this.#worker.terminate();
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }

  #send(method, args) {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, method, args });
    });
  }

  #frame(frame) {
    const f = toRgba(frame);
    return { data: new Uint8ClampedArray(f.data), width: f.width, height: f.height };
  }

  info() {
    return this.#send('info', []);
  }

  setThresholds(t) {
    return this.#send('setThresholds', [t]);
  }

  analyze(frame) {
    return this.#send('analyze', [this.#frame(frame)]);
  }

  enroll(frames) {
    if (!Array.isArray(frames)) return Promise.reject(new FaceGateError('BAD_ARGUMENT', 'enroll takes an array of frames'));
    return this.#send('enroll', [frames.map((f) => this.#frame(f))]);
  }

  verify(frame, template) {
    return this.#send('verify', [this.#frame(frame), template]);
  }

  terminate() {
    this.#fail(new FaceGateError('TERMINATED', 'the worker was stopped'));
  }
}
