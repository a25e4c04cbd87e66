// Types for the `facegate` npm package.

/** Stable error codes; switch on `error.code`, never on the message. */
export type FaceGateErrorCode =
  | 'BAD_ARGUMENT' | 'BAD_BUFFER_SIZE' | 'EMPTY_IMAGE' | 'IMAGE_TOO_LARGE' | 'NON_FINITE'
  | 'NO_FACE' | 'SEVERAL_FACES' | 'NO_FRAMES' | 'NOT_ENOUGH_FRAMES'
  | 'CORRUPT_TEMPLATE' | 'TEMPLATE_VERSION' | 'FOREIGN_TEMPLATE' | 'TEMPLATE_TAMPERED'
  | 'BAD_OPTION' | 'BACKEND_UNAVAILABLE' | 'LOAD_FAILED' | 'MODEL' | 'NOT_READY' | 'TERMINATED' | 'INTERNAL';

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
}

export type Frame = RgbaFrame | ImageData | ImageBitmap | HTMLVideoElement | HTMLCanvasElement | HTMLImageElement | OffscreenCanvas;

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
  /** [x, y, width, height] in frame pixels. */
  box: [number, number, number, number];
  /** Right eye, left eye, nose, mouth, right ear, left ear, as [x, y]. */
  keypoints: [number, number][];
  detectorScore: number;
  /** P(live); null for faces below the person threshold. */
  livenessScore: number | null;
  live: boolean | null;
  quality: Quality;
}

export interface Verification {
  live: boolean;
  match: boolean;
  similarity: number;
  livenessScore: number;
  reason: 'ok' | 'notLive' | 'noMatch';
  quality: Quality;
}

export interface Info {
  backend: 'simd' | 'wasm';
  arch: string;
  modelId: string;
  input: number;
  thresholds: Thresholds;
  metrics: Record<string, unknown>;
  simd: boolean;
  /** The embedded face detector: the one the student was trained and measured with. */
  detector: string;
  wasmBytesEmbedded: number;
}

export interface CreateOptions {
  /** 'auto' (default): SIMD when available, else plain wasm. 'webgpu' is not shipped yet. */
  backend?: 'auto' | 'simd' | 'wasm' | 'webgpu';
  /** AES-GCM key sealing templates; a non-extractable one is generated when omitted. */
  key?: CryptoKey;
  thresholds?: Partial<Thresholds>;
  /** Where the .wasm file is served from, when a bundler does not resolve it. */
  wasmUrl?: string | URL;
}

/** An encrypted, versioned, integrity-checked template ("FGT1." + base64). Never an image. */
export type Template = string;

export function simdSupported(): boolean;

export class FaceGate {
  static create(options?: CreateOptions): Promise<FaceGate>;
  info(): Info;
  readonly thresholds: Thresholds;
  setThresholds(t: Partial<Thresholds>): Thresholds;
  analyze(frame: Frame): Face[];
  enroll(frames: Frame[]): Promise<Template>;
  verify(frame: Frame, template: Template): Promise<Verification>;
}

/** The same API in a Web Worker: inference never blocks the page. */
export class FaceGateWorker {
  static create(options?: CreateOptions & { workerUrl?: string | URL }): Promise<FaceGateWorker>;
  info(): Promise<Info>;
  setThresholds(t: Partial<Thresholds>): Promise<Thresholds>;
  analyze(frame: Frame): Promise<Face[]>;
  enroll(frames: Frame[]): Promise<Template>;
  verify(frame: Frame, template: Template): Promise<Verification>;
  terminate(): void;
}
