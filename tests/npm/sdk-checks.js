// The SDK's behaviour in a real browser, run by package.test.mjs on a plain page (import map,
// fake camera). Each check resolves to 'ok' or throws; results go to window.facegateResult.
import {
  AttemptLimiter, Camera, FaceGate, FaceGateWorker, MAX_FRAME_SIDE, enrollSession, forgetTemplateKey, templateKey, verifySession,
} from 'facegate';

const results = {};
const measured = {};
function assert(ok, message) {
  if (!ok) throw new Error(message);
}
async function check(name, f) {
  try {
    await f();
    results[name] = 'ok';
  } catch (e) {
    results[name] = `FAIL ${e.code ?? e.name}: ${e.message}`;
  }
}
/** The error code a promise rejects with ('resolved' if it does not). */
async function code(p) {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return e.code ?? e.name;
  }
}

const img = new Image();
img.src = '/face.jpg';
await img.decode();
const blank = new ImageData(new Uint8ClampedArray(200 * 200 * 4).fill(128), 200, 200);
const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
// Mechanics, not accuracy: operating points low enough that this one face always passes.
const loose = { liveness: 0.01, matching: 0.3 };
const phases = [];
const gate = await FaceGate.create({ key, thresholds: loose, onProgress: (p) => phases.push(p.phase) });
const debug = await FaceGate.create({ key, thresholds: loose, debug: true });
const alice = { userId: 'alice' };
let template;

await check('loading reports progress, then ready', () => {
  assert(phases.includes('download') && phases.at(-1) === 'ready', phases.join());
});
await check('analyze: the person, without scores', () => {
  const faces = gate.analyze(img);
  assert(faces.length === 1, `${faces.length} faces`);
  assert(!('livenessScore' in faces[0]) && !('live' in faces[0]) && !('detectorScore' in faces[0]), Object.keys(faces[0]).join());
  assert(typeof debug.analyze(img)[0].livenessScore === 'number', 'debug has the score');
});
await check('verify: a decision, not scores', async () => {
  template = await gate.enroll([img, img, img, img, img], alice);
  assert(/^FGT2\.[0-9a-f]{8}\./.test(template), template.slice(0, 20));
  const d = await gate.verify(img, template, alice);
  assert(d.decision === 'accept' && d.reason === 'ok' && d.frames === 1 && !('scores' in d), JSON.stringify(d));
  const s = await debug.verify(img, template, alice);
  assert(typeof s.scores?.similarity === 'number' && typeof s.scores?.liveness === 'number', JSON.stringify(s));
});
await check('verify fuses frames and skips those without a face', async () => {
  const d = await gate.verify([img, blank, img], template, alice);
  assert(d.frames === 2 && d.decision === 'accept', JSON.stringify(d));
  assert((await code(gate.verify([blank, blank], template, alice))) === 'NO_FACE', 'no face at all');
});
await check('a template opens only for its user', async () => {
  assert((await code(gate.verify(img, template, { userId: 'bob' }))) === 'TEMPLATE_TAMPERED', 'bob');
  assert((await code(gate.verify(img, template, {}))) === 'BAD_ARGUMENT', 'no user id');
});
await check('another model: needsReenrolment, not a bare error', async () => {
  const foreign = template.replace(/^FGT2\.[0-9a-f]{8}/, 'FGT2.00000000');
  assert(gate.needsReenrolment(foreign) && gate.needsReenrolment('FGT1.AAAA') && !gate.needsReenrolment(template), 'needsReenrolment');
  assert((await code(gate.verify(img, foreign, alice))) === 'NEEDS_REENROLMENT', 'verify');
  assert((await code(gate.verify(img, 'FGT2.zz', alice))) === 'CORRUPT_TEMPLATE', 'corrupt');
});
await check('key store: non-extractable, the same key after reopening, gone when forgotten', async () => {
  await forgetTemplateKey('t1');
  const k1 = await templateKey({ name: 't1' });
  assert(k1.extractable === false, 'extractable');
  const sealed = await (await FaceGate.create({ key: k1, thresholds: loose })).enroll([img, img, img, img, img], alice);
  const again = await FaceGate.create({ key: await templateKey({ name: 't1' }), thresholds: loose });
  assert((await again.verify(img, sealed, alice)).decision === 'accept', 'reopened key');
  await forgetTemplateKey('t1');
  const fresh = await FaceGate.create({ key: await templateKey({ name: 't1' }), thresholds: loose });
  assert((await code(fresh.verify(img, sealed, alice))) === 'TEMPLATE_TAMPERED', 'forgotten key');
  await forgetTemplateKey('t1');
});
await check('key store: a passphrase wraps the key', async () => {
  await forgetTemplateKey('p');
  const k = await templateKey({ name: 'p', passphrase: 'correct horse' });
  assert(k.extractable === false, 'extractable');
  const sealed = await (await FaceGate.create({ key: k, thresholds: loose })).enroll([img, img, img, img, img], alice);
  const reopened = await FaceGate.create({ key: await templateKey({ name: 'p', passphrase: 'correct horse' }), thresholds: loose });
  assert((await reopened.verify(img, sealed, alice)).decision === 'accept', 'same passphrase');
  assert((await code(templateKey({ name: 'p', passphrase: 'wrong horse' }))) === 'WRONG_PASSPHRASE', 'wrong passphrase');
  assert((await code(templateKey({ name: 'p' }))) === 'PASSPHRASE_REQUIRED', 'no passphrase');
  await forgetTemplateKey('p');
});
await check('attempt limiter: locks after N failures, across reloads, for a while', () => {
  let t = 1000;
  const clock = () => t;
  localStorage.removeItem('test.attempts');
  const make = () => new AttemptLimiter({ maxFailures: 3, lockMs: 60000, key: 'test.attempts', clock });
  const a = make();
  a.record('alice', false);
  a.record('alice', false);
  assert(!a.status('alice').locked, 'two failures');
  assert(a.record('alice', false).locked, 'third failure locks');
  assert(make().status('alice').locked && make().status('alice').retryAfterMs === 60000, 'a new limiter (a reload) still locks');
  assert(!make().status('bob').locked, 'per user');
  t += 60001;
  assert(!make().status('alice').locked, 'unlocks');
  a.record('alice', false);
  a.record('alice', true);
  assert(a.status('alice').failures === 0, 'a success clears the count');
  localStorage.removeItem('test.attempts');
});
await check('an 8K frame is scaled before the engine: boxes in its pixels, wasm memory bounded', async () => {
  const big = new OffscreenCanvas(7680, 4320);
  const ctx = big.getContext('2d');
  ctx.fillStyle = '#777';
  ctx.fillRect(0, 0, 7680, 4320);
  ctx.drawImage(img, 3000, 1200, 1920, 1920);
  const before = gate.info().wasmMemoryBytes;
  const faces = gate.analyze(big);
  assert(faces.length === 1, `${faces.length} faces`);
  const [x, y, w] = faces[0].box;
  assert(x > 2800 && x < 3600 && y > 1000 && y < 2000 && w > 900, `box ${faces[0].box.map(Math.round)}`);
  const rgba = ctx.getImageData(0, 0, 7680, 4320);
  const frames = [rgba, { data: rgba.data, width: 7680, height: 4320 }, big, rgba, rgba];
  await gate.enroll(frames, alice);
  const after = gate.info().wasmMemoryBytes;
  Object.assign(measured, { wasmMemoryBefore8k: before, wasmMemoryAfter8k: after, maxFrameSide: MAX_FRAME_SIDE });
  // Five 1280x720 frames in the engine at once, not five 8K ones (~630 MB before scaling).
  assert(after - before <= 48 * 2 ** 20, `wasm memory grew ${before} -> ${after}`);
});
await check("backend 'webgpu' runs, or falls back and says why", async () => {
  const g = await FaceGate.create({ backend: 'webgpu' });
  const info = g.info();
  assert(info.backend === 'webgpu' || (info.backend === 'simd' && typeof info.fallback === 'string'), JSON.stringify(info));
  assert((await g.analyzeAsync(img)).length === 1, 'a face, whichever runs');
  g.dispose();
  assert((await code(FaceGate.create({ backend: 'gpu' }))) === 'BAD_OPTION', 'unknown backend');
});
await check('abort and dispose', async () => {
  const ac = new AbortController();
  ac.abort();
  assert((await code(gate.verify(img, template, { ...alice, signal: ac.signal }))) === 'ABORTED', 'aborted verify');
  assert((await code(FaceGate.create({ signal: ac.signal }))) === 'ABORTED', 'aborted create');
  const g = await FaceGate.create();
  g.dispose();
  assert((await code((async () => g.analyze(img))())) === 'DISPOSED', 'disposed');
});
await check('worker: bitmaps transferred, decisions, dispose', async () => {
  const w = await FaceGateWorker.create({ key, thresholds: loose });
  const bitmap = await createImageBitmap(img);
  const faces = await w.analyze(bitmap);
  assert(faces.length === 1 && !('livenessScore' in faces[0]), JSON.stringify(faces));
  assert(bitmap.width === 0, 'the bitmap was transferred, not copied');
  const d = await w.verify([img, await createImageBitmap(img)], template, alice);
  assert(d.decision === 'accept' && d.frames === 2 && !('scores' in d), JSON.stringify(d));
  assert(!(await w.needsReenrolment(template)), 'needsReenrolment');
  const ac = new AbortController();
  const pending = w.verify(img, template, { ...alice, signal: ac.signal });
  ac.abort();
  assert((await code(pending)) === 'ABORTED', 'aborted in flight');
  w.dispose();
  assert((await code(w.analyze(img))) === 'DISPOSED', 'disposed');
});
await check('sessions: a camera, guidance, enrol, verify, lock-out', async () => {
  const video = document.createElement('video');
  document.body.append(video);
  const camera = await Camera.open(video);
  const updates = [];
  const w = await FaceGateWorker.create({ key, thresholds: loose });
  const enrolled = await enrollSession(w, camera, { userId: 'carol', onUpdate: (u) => updates.push(u) });
  assert(enrolled.decision === 'accept', JSON.stringify(enrolled));
  assert(updates.length >= 5 && updates.at(-1).taken === 5 && updates.every((u) => u.width > 0 && Array.isArray(u.faces)), `${updates.length} updates`);
  localStorage.removeItem('session.attempts');
  const limiter = new AttemptLimiter({ maxFailures: 1, key: 'session.attempts' });
  const v = await verifySession(w, camera, enrolled.template, { userId: 'carol', limiter });
  assert(v.decision === 'accept' && v.frames === 5, JSON.stringify(v));
  limiter.record('carol', false);
  const locked = await verifySession(w, camera, enrolled.template, { userId: 'carol', limiter });
  assert(locked.reason === 'locked' && locked.retryAfterMs > 0, JSON.stringify(locked));
  const stale = await verifySession(w, camera, enrolled.template.replace(/^FGT2\.[0-9a-f]{8}/, 'FGT2.00000000'), { userId: 'dave', limiter });
  assert(stale.reason === 'needsReenrolment', JSON.stringify(stale));
  localStorage.removeItem('session.attempts');
  camera.stop();
  w.dispose();
});

window.facegateResult = { results, measured, template };
