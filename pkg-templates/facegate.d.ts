// Types for the `facegate` npm package.

/** Stable error codes; switch on `error.code`, never on the message. */
export type FaceGateErrorCode =
  | 'BAD_ARGUMENT' | 'BAD_BUFFER_SIZE' | 'EMPTY_IMAGE' | 'IMAGE_TOO_LARGE' | 'NON_FINITE'
  | 'NO_FACE' | 'SEVERAL_FACES' | 'NO_FRAMES' | 'NOT_ENOUGH_FRAMES'
  | 'CORRUPT_TEMPLATE' | 'TEMPLATE_VERSION' | 'FOREIGN_TEMPLATE' | 'TEMPLATE_TAMPERED' | 'NEEDS_REENROLMENT'
  | 'BAD_OPTION' | 'BACKEND_UNAVAILABLE' | 'LOAD_FAILED' | 'MODEL' | 'NOT_READY'
  | 'ABORTED' | 'DISPOSED' | 'TRAPPED'
  | 'NO_CAMERA' | 'CAMERA_DENIED' | 'KEY_STORE' | 'PASSPHRASE_REQUIRED' | 'WRONG_PASSPHRASE' | 'PASSKEY_FAILED' | 'PASSKEY_UNAVAILABLE'
  | 'INTERNAL';

export class FaceGateError extends Error {
  readonly name: 'FaceGateError';
  readonly code: FaceGateErrorCode;
  constructor(code: FaceGateErrorCode, message: string);
}

/** RGBA pixels, as in `ImageData`. */
export interface RgbaFrame {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** Pixels of the original picture per pixel here, when this is a scaled copy (default 1):
   * boxes and keypoints come back in the original's pixels. */
  scale?: number;
}

/** Frames larger than this on a side are scaled down to it before the engine. */
export declare const MAX_FRAME_SIDE: 1280;

export type Frame = RgbaFrame | ImageData | ImageBitmap | VideoFrame | HTMLVideoElement | HTMLCanvasElement | HTMLImageElement | OffscreenCanvas;

export interface Thresholds {
  /** P(live) at or above which a face is live (default: the equal-error point of the dev split's camera frames). */
  liveness: number;
  /** Cosine similarity at or above which faces match (default: FMR 1e-3 on held-out identities). */
  matching: number;
  /** Usable frames `enroll` needs. */
  minEnrollFrames: number;
}

export interface Quality {
  tooSmall: boolean;
  tooDark: boolean;
  tooBright: boolean;
  offCentre: boolean;
  cutOff: boolean;
  severalFaces: boolean;
}

export interface Face {
  /** [x, y, width, height] in the frame's pixels. */
  box: [number, number, number, number];
  /** Right eye, left eye, nose, mouth, right ear, left ear, as [x, y]. */
  keypoints: [number, number][];
  quality: Quality;
  /** `debug` only: the detector's confidence. */
  detectorScore?: number;
  /** `debug` only: P(live); null for detections below the person threshold. */
  livenessScore?: number | null;
  /** `debug` only. */
  live?: boolean | null;
}

/** A decision, never a score: raw scores only with `debug`. */
export interface Decision {
  decision: 'accept' | 'refuse';
  reason: 'ok' | 'notLive' | 'noMatch';
  /** Frames the decision fused. */
  frames: number;
  /** `debug` only: mean P(live) and mean similarity over the frames. */
  scores?: { liveness: number; similarity: number };
}

/** The WebGPU backend at work (`info().webgpu`), per frame. */
export interface WebGpuInfo {
  /** The adapter, e.g. "google swiftshader" (software) or a hardware GPU's vendor. */
  adapter: string;
  dispatches: number;
  readbacks: 1;
  readbackBytes: number;
}

export interface Info {
  /** What runs the networks now: 'webgpu' until the GPU fails, then the CPU build. */
  backend: 'simd' | 'wasm' | 'webgpu';
  webgpu: WebGpuInfo | null;
  /** Why 'webgpu' was asked for and is not running (no adapter, a lost device...), else null. */
  fallback: string | null;
  debug: boolean;
  arch: string;
  modelId: string;
  input: number;
  thresholds: Thresholds;
  metrics: Record<string, unknown>;
  simd: boolean;
  /** The embedded face detector: the one the student was trained and measured with. */
  detector: string;
  wasmBytesEmbedded: number;
  /** The wasm instance's memory now (it never shrinks). */
  wasmMemoryBytes: number | null;
}

export interface Progress {
  phase: 'download' | 'ready';
  loaded: number;
  /** 0 when the server sends no length. */
  total: number;
}

export interface CreateOptions {
  /** 'auto' (default): SIMD when available, else plain wasm. 'webgpu': the networks on the GPU
   * (a lazily loaded module), falling back to 'auto' when WebGPU cannot run; `analyze` stays
   * synchronous on the CPU, `analyzeAsync`, `enroll` and `verify` use the GPU. */
  backend?: 'auto' | 'simd' | 'wasm' | 'webgpu';
  /** AES-GCM key sealing templates (see `templateKey`); a non-extractable one for this page's lifetime when omitted. */
  key?: CryptoKey;
  thresholds?: Partial<Thresholds>;
  /** Also return raw scores (analysis, decisions). Never in production: scores help an attacker tune a photo. */
  debug?: boolean;
  /** Where the .wasm file is served from, when a bundler does not resolve it. */
  wasmUrl?: string | URL;
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

export interface CallOptions {
  /** Who the template belongs to: it is sealed to this id, this origin and the model. */
  userId: string;
  signal?: AbortSignal;
}

/** A sealed template: "FGT2.<model id>.<base64>". Never an image. */
export type Template = string;

export function simdSupported(): boolean;

export class FaceGate {
  /** Rejects with LOAD_FAILED when the engine cannot be loaded; never stays pending. */
  static create(options?: CreateOptions): Promise<FaceGate>;
  info(): Info;
  readonly thresholds: Thresholds;
  setThresholds(t: Partial<Thresholds>): Thresholds;
  analyze(frame: Frame): Face[];
  /** `analyze` on the GPU when the backend is 'webgpu' (else the CPU): the same answer. */
  analyzeAsync(frame: Frame): Promise<Face[]>;
  enroll(frames: Frame[], options: CallOptions): Promise<Template>;
  /** One frame or several of one person, fused. */
  verify(frames: Frame | Frame[], template: Template, options: CallOptions): Promise<Decision>;
  /** True when the template was made by another model: enrol again. */
  needsReenrolment(template: Template): boolean;
  dispose(): void;
}

/** The same API in a Web Worker: inference never blocks the page. ImageBitmap and VideoFrame
 * frames are transferred (they become unusable here); other frames are copied. */
export class FaceGateWorker {
  static create(options?: CreateOptions & { workerUrl?: string | URL }): Promise<FaceGateWorker>;
  info(): Promise<Info>;
  setThresholds(t: Partial<Thresholds>): Promise<Thresholds>;
  analyze(frame: Frame): Promise<Face[]>;
  enroll(frames: Frame[], options: CallOptions): Promise<Template>;
  verify(frames: Frame | Frame[], template: Template, options: CallOptions): Promise<Decision>;
  needsReenrolment(template: Template): Promise<boolean>;
  dispose(): void;
}

/** The template key kept in IndexedDB under `name` (made on first use), optionally wrapped by a
 * passphrase or by a passkey's PRF output (the passkey is made on first use). */
export function templateKey(options?: { name?: string; passphrase?: string; passkey?: { rpId?: string; userName?: string } }): Promise<CryptoKey>;
/** Does this browser offer passkeys with the PRF extension? */
export function passkeySupported(): Promise<boolean>;
export function forgetTemplateKey(name?: string): Promise<void>;

export type Guidance = 'lookAtCamera' | 'oneFace' | 'moveCloser' | 'centre' | 'tooDark' | 'tooBright' | 'holdStill';
export declare const GUIDANCE: Record<Guidance, string>;

export class Camera {
  readonly video: HTMLVideoElement;
  /** NO_CAMERA or CAMERA_DENIED when it cannot start. */
  static open(video: HTMLVideoElement, options?: { width?: number; height?: number; facingMode?: string }): Promise<Camera>;
  /** The current picture, at most 1280 px on a side; null before the first. */
  frame(): Promise<ImageBitmap | null>;
  stop(): void;
}

export interface SessionUpdate {
  faces: Face[];
  /** Size of the analysed frame (boxes are in its pixels). */
  width: number;
  height: number;
  /** What the person should do for this frame to count, or null. */
  guidance: Guidance | null;
  taken: number;
  of: number;
}

export interface SessionOptions extends CallOptions {
  frames?: number;
  gapMs?: number;
  timeoutMs?: number;
  onUpdate?: (u: SessionUpdate) => void;
}

export type EnrollOutcome =
  | { decision: 'accept'; template: Template }
  | { decision: 'refuse'; reason: 'noFace'; guidance: Guidance }
  | { decision: 'refuse'; reason: 'notLive' };

export type VerifyOutcome =
  | Decision
  | { decision: 'refuse'; reason: 'noFace'; guidance: Guidance }
  | { decision: 'refuse'; reason: 'locked'; retryAfterMs: number }
  | { decision: 'refuse'; reason: 'needsReenrolment' };

type Gate = FaceGate | FaceGateWorker;
export function enrollSession(gate: Gate, camera: Camera, options: SessionOptions): Promise<EnrollOutcome>;
export function verifySession(gate: Gate, camera: Camera, template: Template, options: SessionOptions & { limiter?: AttemptLimiter }): Promise<VerifyOutcome>;

export class AttemptLimiter {
  constructor(options?: { maxFailures?: number; lockMs?: number; storage?: Storage; key?: string; clock?: () => number });
  status(userId: string): { locked: boolean; failures: number; retryAfterMs: number };
  record(userId: string, success: boolean): { locked: boolean; failures: number; retryAfterMs: number };
  reset(userId: string): void;
}
