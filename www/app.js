// The offline login sample: camera -> facegate (in a Web Worker) -> guidance and a decision.
// Enrolment keeps five good live frames' averaged descriptor as an encrypted template; log-in
// fuses five verifications (mean liveness score and mean similarity against the model's
// operating points), so one odd frame neither lets a photo in nor locks the user out. Both
// take their frames at least FRAME_GAP_MS apart: neighbouring video frames are nearly the
// same picture, so five of them in a row are worth little more than one.

import { FaceGateWorker } from 'facegate';
import { forget, loadEnrolment, saveEnrolment, templateKey } from './store.js';

const ENROL_FRAMES = 5;
const LOGIN_FRAMES = 5;
const ENROL_TIMEOUT_MS = 30000;
const LOGIN_TIMEOUT_MS = 15000;
const FRAME_GAP_MS = 200; // spreads the kept frames over a second or more of movement

const $ = (id) => document.getElementById(id);
const video = $('video');
const overlay = $('overlay');
const guide = $('guide');
const buttons = { enroll: $('enroll'), login: $('login'), forget: $('forget') };
const grabber = document.createElement('canvas');

let gate = null;
let mode = 'idle'; // idle | preview | enroll | login
let enrolment = null;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function say(text) {
  if (guide.textContent !== text) guide.textContent = text;
}

const OUTCOMES = {
  enrolled: ['You are enrolled', 'Your face template is stored, encrypted, in this browser only. Try logging in.'],
  welcome: ['Welcome back', 'Live check passed and your face matches the enrolled one.'],
  'not-live': ['Not a live face', 'This looks like a photo or a screen, not a person in front of the camera. Log-in refused.'],
  'no-match': ['Not the enrolled person', 'A live face, but not the one enrolled in this browser. Log-in refused.'],
  'no-face': ['No clear face', 'We could not see one face clearly enough. Check the light and try again.'],
  'no-camera': ['No camera', 'This page needs a camera.'],
  forgotten: ['Forgotten', 'Your template and its key were deleted from this browser.'],
  error: ['Something went wrong', ''],
};

function outcome(kind, detail = '', data = {}) {
  const box = $('outcome');
  const [title, text] = OUTCOMES[kind];
  $('outcome-title').textContent = title;
  $('outcome-text').textContent = [text, detail].filter(Boolean).join(' ');
  box.dataset.outcome = kind;
  for (const [k, v] of Object.entries(data)) box.dataset[k] = String(v);
  box.hidden = false;
}

function buttonsFor(busy) {
  buttons.enroll.disabled = busy || !gate;
  buttons.login.disabled = busy || !gate || !enrolment;
  buttons.forget.disabled = busy || !enrolment;
}

/** The current video frame as RGBA (kept for enrolment, sent to the worker). */
function grab() {
  const w = video.videoWidth;
  const h = video.videoHeight;
  if (!w || !h || video.readyState < 2) return null;
  if (grabber.width !== w || grabber.height !== h) Object.assign(grabber, { width: w, height: h });
  const ctx = grabber.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

/** The face a decision is made on: the largest confident one. */
function mainFace(faces) {
  const people = faces.filter((f) => f.livenessScore !== null);
  return people.sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3])[0] ?? null;
}

function draw(faces, frame) {
  if (overlay.width !== frame.width || overlay.height !== frame.height) Object.assign(overlay, { width: frame.width, height: frame.height });
  const ctx = overlay.getContext('2d');
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  const main = mainFace(faces);
  for (const f of faces.filter((f) => f.livenessScore !== null)) {
    ctx.lineWidth = f === main ? 4 : 2;
    ctx.strokeStyle = f !== main ? 'rgba(255,255,255,0.5)' : f.live ? '#3ddc84' : '#ff5252';
    ctx.strokeRect(...f.box);
  }
}

/** What keeps a frame from any decision (log-in needs no more), or null. */
function placement(face) {
  if (!face) return 'Look at the camera';
  if (face.quality.severalFaces) return 'Only one person in view, please';
  if (face.quality.tooSmall) return 'Move closer';
  return null;
}

let last = null;
/** What the person should do next, or null when the frame is good for enrolment. */
function advice(face) {
  const p = placement(face);
  if (p) return p;
  const q = face.quality;
  if (q.cutOff || q.offCentre) return 'Centre your face in the frame';
  if (q.tooDark) return 'More light on your face, please';
  if (q.tooBright) return 'Too bright: turn away from the light';
  const [x, y, w] = face.box;
  const moved = last ? Math.hypot(x - last[0], y - last[1]) / w : 0;
  last = face.box;
  if (moved > 0.08) return 'Hold still';
  if (!face.live) return 'Face the camera in even light';
  return null;
}

async function enrolLoop() {
  const kept = [];
  const started = performance.now();
  let lastKept = 0;
  let lastAdvice = 'Look at the camera';
  $('progress-row').hidden = false;
  $('progress').max = ENROL_FRAMES;
  $('progress').value = 0;
  while (mode === 'enroll' && kept.length < ENROL_FRAMES) {
    if (performance.now() - started > ENROL_TIMEOUT_MS) return outcome('no-face', `Enrolment stopped: ${lastAdvice.toLowerCase()}.`);
    const frame = grab();
    if (!frame) { await sleep(50); continue; }
    const faces = await gate.analyze(frame);
    draw(faces, frame);
    const a = advice(mainFace(faces));
    if (a) { say(lastAdvice = a); continue; }
    if (performance.now() - lastKept < FRAME_GAP_MS) continue;
    kept.push(frame);
    lastKept = performance.now();
    $('progress').value = kept.length;
    say(`Hold still… ${kept.length} of ${ENROL_FRAMES}`);
  }
  if (mode !== 'enroll') return;
  say('Sealing your template…');
  const template = await gate.enroll(kept);
  await saveEnrolment(template);
  enrolment = await loadEnrolment();
  outcome('enrolled');
}

async function loginLoop() {
  const results = [];
  const started = performance.now();
  let lastAdvice = 'Look at the camera';
  let lastKept = 0;
  while (mode === 'login' && results.length < LOGIN_FRAMES) {
    if (performance.now() - started > LOGIN_TIMEOUT_MS) return outcome('no-face', `${lastAdvice}.`);
    const frame = grab();
    if (!frame) { await sleep(50); continue; }
    const faces = await gate.analyze(frame);
    draw(faces, frame);
    const face = mainFace(faces);
    const a = placement(face);
    if (a) { say(lastAdvice = a); continue; }
    if (performance.now() - lastKept < FRAME_GAP_MS) continue;
    say(`Checking… ${results.length + 1} of ${LOGIN_FRAMES}`);
    try {
      results.push(await gate.verify(frame, enrolment.template));
      lastKept = performance.now();
    } catch (e) {
      if (e.code === 'NO_FACE' || e.code === 'SEVERAL_FACES') continue;
      throw e;
    }
  }
  if (mode !== 'login') return;
  const t = (await gate.info()).thresholds;
  const mean = (k) => results.reduce((s, r) => s + r[k], 0) / results.length;
  const liveness = mean('livenessScore');
  const similarity = mean('similarity');
  const data = { liveness: liveness.toFixed(3), similarity: similarity.toFixed(3) };
  const numbers = `(liveness ${data.liveness}, similarity ${data.similarity})`;
  if (liveness < t.liveness) outcome('not-live', numbers, data);
  else if (similarity < t.matching) outcome('no-match', numbers, data);
  else outcome('welcome', numbers, data);
}

/** Runs one flow; camera preview (with guidance) resumes after it. */
async function run(next, loop) {
  mode = next;
  last = null;
  $('outcome').hidden = true;
  buttonsFor(true);
  try {
    await loop();
  } catch (e) {
    if (e.code === 'TEMPLATE_TAMPERED' || e.code === 'FOREIGN_TEMPLATE' || e.code === 'TEMPLATE_VERSION') {
      outcome('error', 'The stored template no longer opens (another key or model). Forget me, then enrol again.');
    } else {
      outcome('error', `${e.code ?? 'ERROR'}: ${e.message}`);
    }
  } finally {
    $('progress-row').hidden = true;
    mode = 'preview';
    buttonsFor(false);
    preview();
  }
}

async function preview() {
  try {
    while (mode === 'preview') {
      const frame = grab();
      if (!frame) { await sleep(100); continue; }
      const faces = await gate.analyze(frame);
      if (mode !== 'preview') break;
      draw(faces, frame);
      say(enrolment ? 'Ready: log in when you are' : 'Ready: enrol your face to start');
      await sleep(150);
    }
  } catch (e) {
    outcome('error', `${e.code ?? 'ERROR'}: ${e.message}`);
  }
}

async function startCamera() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: 'user' }, audio: false });
    video.srcObject = stream;
    await video.play();
    return true;
  } catch (e) {
    const why = e && e.name === 'NotAllowedError' ? 'Camera permission was refused; allow it in the address bar and reload.' : e && (e.name === 'NotFoundError' || e.name === 'OverconstrainedError') ? 'No camera was found on this device.' : `The camera could not start (${e && e.name}).`;
    say('No camera');
    outcome('no-camera', why);
    return false;
  }
}

async function main() {
  if ('serviceWorker' in navigator) {
    // Caches the page, the worker and the .wasm so that later visits work offline.
    navigator.serviceWorker.register('./sw.js').catch(() => {});
    navigator.serviceWorker.ready.then(() => { document.body.dataset.offlineReady = 'true'; });
  }
  buttons.enroll.addEventListener('click', () => run('enroll', enrolLoop));
  buttons.login.addEventListener('click', () => run('login', loginLoop));
  buttons.forget.addEventListener('click', async () => {
    mode = 'preview';
    $('outcome').hidden = true; // the last outcome is stale from here on
    buttonsFor(true);
    await forget();
    enrolment = null;
    buttonsFor(false);
    outcome('forgotten');
  });

  say('Loading the face model…');
  [gate, enrolment] = await Promise.all([templateKey().then((key) => FaceGateWorker.create({ key })), loadEnrolment()]);
  const info = await gate.info();
  $('model-info').textContent = `Model ${info.arch} (${info.modelId}), ${info.backend} build; liveness threshold ${info.thresholds.liveness.toFixed(3)}, match threshold ${info.thresholds.matching.toFixed(3)}.`;
  buttonsFor(false);
  if (!(await startCamera())) {
    buttonsFor(true);
    document.body.dataset.state = 'no-camera';
    return;
  }
  document.body.dataset.state = 'ready';
  mode = 'preview';
  preview();
}

main().catch((e) => {
  say('facegate could not start');
  outcome('error', `${e.code ?? 'ERROR'}: ${e.message}`);
  document.body.dataset.state = 'error';
});
