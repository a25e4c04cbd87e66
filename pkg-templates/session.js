// The session layer: a camera, and enrol / verify flows that pick their frames (spaced out,
// well placed), guide the person, fuse several frames and end in a decision, so that a page
// only draws. Works with FaceGate and FaceGateWorker alike.

import { FaceGateError, checkAbort } from './errors.js';

/** Guidance codes and default English text. */
export const GUIDANCE = {
  lookAtCamera: 'Look at the camera',
  oneFace: 'Only one person in view, please',
  moveCloser: 'Move closer',
  centre: 'Centre your face in the frame',
  tooDark: 'More light on your face, please',
  tooBright: 'Too bright: turn away from the light',
  holdStill: 'Hold still',
};

/** Frames larger than this are scaled down as they are taken (see MAX_FRAME_SIDE). */
const MAX_SIDE = 1280;
/** Box movement between frames, in face widths, above which the person is asked to hold still. */
const STILL = 0.08;

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A camera on a `<video>` element. */
export class Camera {
  #stream;

  constructor(video, stream) {
    this.video = video;
    this.#stream = stream;
  }

  /** Starts the camera into `video`. NO_CAMERA or CAMERA_DENIED when it cannot. */
  static async open(video, { width = 640, height = 480, facingMode = 'user' } = {}) {
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new FaceGateError('NO_CAMERA', 'this page has no camera access (it needs a secure context: https or localhost)');
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: width }, height: { ideal: height }, facingMode }, audio: false });
    } catch (e) {
      if (e?.name === 'NotAllowedError' || e?.name === 'SecurityError') throw new FaceGateError('CAMERA_DENIED', 'camera permission was refused');
      if (e?.name === 'NotFoundError' || e?.name === 'OverconstrainedError') throw new FaceGateError('NO_CAMERA', 'no camera was found on this device');
      throw new FaceGateError('NO_CAMERA', `the camera could not start (${e?.name}: ${e?.message})`);
    }
    Object.assign(video, { muted: true, playsInline: true, srcObject: stream });
    await video.play();
    return new Camera(video, stream);
  }

  /** The current picture as an ImageBitmap, at most 1280 px on a side; null before the first. */
  async frame() {
    const v = this.video;
    if (!v.videoWidth || !v.videoHeight || v.readyState < 2) return null;
    const scale = Math.max(v.videoWidth, v.videoHeight) / MAX_SIDE;
    if (scale <= 1) return createImageBitmap(v);
    return createImageBitmap(v, { resizeWidth: Math.round(v.videoWidth / scale), resizeHeight: Math.round(v.videoHeight / scale), resizeQuality: 'medium' });
  }

  stop() {
    for (const t of this.#stream.getTracks()) t.stop();
    this.video.srcObject = null;
  }
}

/** The face a decision is made on: the largest one. */
function mainFace(faces) {
  return [...faces].sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3])[0] ?? null;
}

/** What keeps a frame from any decision, or null. */
function placement(face) {
  if (!face) return 'lookAtCamera';
  if (face.quality.severalFaces) return 'oneFace';
  if (face.quality.tooSmall) return 'moveCloser';
  return null;
}

/** What keeps a frame from enrolment (placement, light, movement since `last`), or null. */
function enrolAdvice(face, last) {
  const p = placement(face);
  if (p) return p;
  const q = face.quality;
  if (q.cutOff || q.offCentre) return 'centre';
  if (q.tooDark) return 'tooDark';
  if (q.tooBright) return 'tooBright';
  if (last && Math.hypot(face.box[0] - last[0], face.box[1] - last[1]) / face.box[2] > STILL) return 'holdStill';
  return null;
}

/**
 * Takes `frames` frames at least `gapMs` apart that `advise` finds nothing wrong with,
 * reporting every analysed frame to `onUpdate({faces, width, height, guidance, taken, of})`.
 * Returns the kept frames, or `{guidance}` of the last refused frame on timeout.
 */
async function takeFrames(gate, camera, { frames, gapMs, timeoutMs, signal, onUpdate }, advise) {
  const kept = [];
  const started = now();
  let lastKept = -Infinity;
  let last = null;
  let guidance = 'lookAtCamera';
  try {
    while (kept.length < frames) {
      checkAbort(signal);
      if (now() - started > timeoutMs) {
        for (const k of kept) k.close?.();
        return { guidance };
      }
      const bitmap = await camera.frame();
      if (!bitmap) {
        await sleep(50);
        continue;
      }
      const { width, height } = bitmap;
      // A worker takes `bitmap` (transferred); a frame that may be kept needs its own copy,
      // made only once the gap since the last kept frame has passed.
      const copy = now() - lastKept >= gapMs ? await createImageBitmap(bitmap) : null;
      const faces = await gate.analyze(bitmap);
      bitmap.close();
      const face = mainFace(faces);
      const advice = advise(face, last);
      last = face?.box ?? null;
      if (copy && !advice) {
        kept.push(copy);
        lastKept = now();
      } else {
        copy?.close();
        if (advice) guidance = advice;
      }
      onUpdate?.({ faces, width, height, guidance: advice, taken: kept.length, of: frames });
    }
    return { kept };
  } catch (e) {
    for (const k of kept) k.close?.();
    throw e;
  }
}

const SESSION = { frames: 5, gapMs: 200 };

/**
 * Enrols the person in front of `camera`: `frames` good frames, then one sealed template.
 * `{decision: 'accept', template}` or `{decision: 'refuse', reason: 'noFace' (timed out, with
 * the last `guidance`) | 'notLive'}`.
 */
export async function enrollSession(gate, camera, options = {}) {
  const o = { ...SESSION, timeoutMs: 30000, ...options };
  const { kept, guidance } = await takeFrames(gate, camera, o, enrolAdvice);
  if (!kept) return { decision: 'refuse', reason: 'noFace', guidance };
  try {
    return { decision: 'accept', template: await gate.enroll(kept, { userId: o.userId, signal: o.signal }) };
  } catch (e) {
    // Well placed but not live enough in enough of them (a photo, a screen).
    if (e.code === 'NOT_ENOUGH_FRAMES') return { decision: 'refuse', reason: 'notLive' };
    throw e;
  } finally {
    for (const k of kept) k.close?.();
  }
}

/**
 * Verifies the person in front of `camera` against `template`: `frames` well-placed frames,
 * fused into one decision. `{decision: 'accept' | 'refuse', reason: 'ok' | 'notLive' |
 * 'noMatch' | 'noFace' | 'locked' | 'needsReenrolment'}`; with `limiter` (an
 * AttemptLimiter), refusals count against `userId` and a locked user is not even checked.
 */
export async function verifySession(gate, camera, template, options = {}) {
  const o = { ...SESSION, timeoutMs: 15000, ...options };
  const { limiter, userId } = o;
  const status = limiter?.status(userId);
  if (status?.locked) return { decision: 'refuse', reason: 'locked', retryAfterMs: status.retryAfterMs };
  if (await gate.needsReenrolment(template)) return { decision: 'refuse', reason: 'needsReenrolment' };
  const { kept, guidance } = await takeFrames(gate, camera, o, placement);
  if (!kept) return { decision: 'refuse', reason: 'noFace', guidance };
  try {
    const result = await gate.verify(kept, template, { userId, signal: o.signal });
    limiter?.record(userId, result.decision === 'accept');
    return result;
  } finally {
    for (const k of kept) k.close?.();
  }
}

/**
 * Locks a user out after `maxFailures` refused verifications in a row, for `lockMs`; kept in
 * `storage` (localStorage by default), so a reload does not reset it. On the device only:
 * whoever controls the browser can clear it, so a server must keep its own count too.
 */
export class AttemptLimiter {
  #o;

  constructor({ maxFailures = 5, lockMs = 5 * 60 * 1000, storage = globalThis.localStorage, key = 'facegate.attempts', clock = () => Date.now() } = {}) {
    if (!(Number.isInteger(maxFailures) && maxFailures > 0) || !(lockMs >= 0)) throw new FaceGateError('BAD_OPTION', 'maxFailures is a positive integer and lockMs a duration');
    if (!storage) throw new FaceGateError('BAD_OPTION', 'no storage for the attempt counts (no localStorage here)');
    this.#o = { maxFailures, lockMs, storage, key, clock };
  }

  #all() {
    try {
      return JSON.parse(this.#o.storage.getItem(this.#o.key) ?? '{}') ?? {};
    } catch {
      return {};
    }
  }

  #save(all) {
    this.#o.storage.setItem(this.#o.key, JSON.stringify(all));
  }

  /** `{locked, failures, retryAfterMs}` for `userId`. */
  status(userId) {
    const u = this.#all()[userId] ?? { failures: 0, lockedUntil: 0 };
    const left = u.lockedUntil - this.#o.clock();
    return { locked: left > 0, failures: u.failures, retryAfterMs: Math.max(0, left) };
  }

  /** Counts one verification of `userId`: a success clears the count, a failure adds one. */
  record(userId, success) {
    const all = this.#all();
    const u = all[userId] ?? { failures: 0, lockedUntil: 0 };
    if (success) {
      delete all[userId];
    } else {
      u.failures = u.lockedUntil > 0 && u.lockedUntil <= this.#o.clock() ? 1 : u.failures + 1;
      u.lockedUntil = u.failures >= this.#o.maxFailures ? this.#o.clock() + this.#o.lockMs : 0;
      all[userId] = u;
    }
    this.#save(all);
    return this.status(userId);
  }

  reset(userId) {
    const all = this.#all();
    delete all[userId];
    this.#save(all);
  }
}
