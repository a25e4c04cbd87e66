// The offline login sample: camera -> facegate (in a Web Worker) -> guidance and a decision.
// The package's session layer picks the frames, guides the person and decides; this page
// draws what it reports and keeps the sealed template in localStorage.

import { AttemptLimiter, Camera, FaceGateWorker, GUIDANCE, enrollSession, forgetTemplateKey, templateKey, verifySession } from 'facegate';
import { forget, loadEnrolment, saveEnrolment } from './store.js';

/** One person per browser in this sample; an app passes its own account id. */
const USER = 'sample-user';

const $ = (id) => document.getElementById(id);
const video = $('video');
const overlay = $('overlay');
const guide = $('guide');
const buttons = { enroll: $('enroll'), login: $('login'), forget: $('forget') };

let gate = null;
let camera = null;
let mode = 'idle'; // idle | preview | enroll | login
let enrolment = null;
const limiter = new AttemptLimiter({ maxFailures: 5, lockMs: 5 * 60 * 1000 });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function say(text) {
  if (guide.textContent !== text) guide.textContent = text;
}

const OUTCOMES = {
  enrolled: ['You are enrolled', 'Your face template is stored, encrypted, in this browser only. Try logging in.'],
  welcome: ['Welcome back', 'Live check passed and your face matches the enrolled one.'],
  'not-live': ['Not a live face', 'This looks like a photo or a screen, not a person in front of the camera.'],
  'no-match': ['Not the enrolled person', 'A live face, but not the one enrolled in this browser. Log-in refused.'],
  'no-face': ['No clear face', 'We could not see one face clearly enough. Check the light and try again.'],
  locked: ['Too many attempts', 'Log-in is locked for a while on this device.'],
  'enrol-again': ['Enrol again', 'facegate was updated since you enrolled: forget me, then enrol again.'],
  'no-camera': ['No camera', 'This page needs a camera.'],
  forgotten: ['Forgotten', 'Your template and its key were deleted from this browser.'],
  error: ['Something went wrong', ''],
};

function outcome(kind, detail = '') {
  const box = $('outcome');
  const [title, text] = OUTCOMES[kind];
  $('outcome-title').textContent = title;
  $('outcome-text').textContent = [text, detail].filter(Boolean).join(' ');
  box.dataset.outcome = kind;
  box.hidden = false;
}

function buttonsFor(busy) {
  buttons.enroll.disabled = busy || !gate;
  buttons.login.disabled = busy || !gate || !enrolment;
  buttons.forget.disabled = busy || !enrolment;
}

/** Boxes over the video: the face the session decides on thicker. */
function draw({ faces, width, height }) {
  if (overlay.width !== width || overlay.height !== height) Object.assign(overlay, { width, height });
  const ctx = overlay.getContext('2d');
  ctx.clearRect(0, 0, width, height);
  faces.forEach((f, i) => {
    ctx.lineWidth = i === 0 ? 4 : 2;
    ctx.strokeStyle = i === 0 ? '#3ddc84' : 'rgba(255,255,255,0.5)';
    ctx.strokeRect(...f.box);
  });
}

/** Draws and guides from a session's report. */
function onUpdate(label) {
  return (u) => {
    draw({ ...u, faces: [...u.faces].sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3]) });
    $('progress').max = u.of;
    $('progress').value = u.taken;
    say(u.guidance ? GUIDANCE[u.guidance] : `${label}… ${u.taken} of ${u.of}`);
  };
}

async function enrol() {
  const result = await enrollSession(gate, camera, { userId: USER, onUpdate: onUpdate('Hold still') });
  if (result.decision === 'refuse') {
    return result.reason === 'notLive' ? outcome('not-live', 'Enrolment refused.') : outcome('no-face', `Enrolment stopped: ${GUIDANCE[result.guidance].toLowerCase()}.`);
  }
  say('Sealing your template…');
  saveEnrolment(result.template);
  enrolment = loadEnrolment();
  limiter.reset(USER);
  outcome('enrolled');
}

async function login() {
  const result = await verifySession(gate, camera, enrolment.template, { userId: USER, limiter, onUpdate: onUpdate('Checking') });
  const minutes = (ms) => Math.max(1, Math.ceil(ms / 60000));
  switch (result.reason) {
    case 'ok': return outcome('welcome');
    case 'notLive': return outcome('not-live', 'Log-in refused.');
    case 'noMatch': return outcome('no-match');
    case 'noFace': return outcome('no-face', `${GUIDANCE[result.guidance]}.`);
    case 'locked': return outcome('locked', `Try again in ${minutes(result.retryAfterMs)} minute(s).`);
    case 'needsReenrolment': return outcome('enrol-again');
    default: return outcome('error', result.reason);
  }
}

/** Runs one flow; camera preview (with guidance) resumes after it. */
async function run(next, flow) {
  mode = next;
  $('outcome').hidden = true;
  $('progress-row').hidden = false;
  buttonsFor(true);
  try {
    await flow();
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
      const frame = await camera.frame();
      if (!frame) { await sleep(100); continue; }
      const { width, height } = frame;
      const faces = await gate.analyze(frame);
      if (mode !== 'preview') break;
      draw({ faces, width, height });
      say(enrolment ? 'Ready: log in when you are' : 'Ready: enrol your face to start');
      await sleep(150);
    }
  } catch (e) {
    outcome('error', `${e.code ?? 'ERROR'}: ${e.message}`);
  }
}

async function main() {
  if ('serviceWorker' in navigator) {
    // Caches the page, the worker and the .wasm so that later visits work offline.
    navigator.serviceWorker.register('./sw.js').catch(() => {});
    navigator.serviceWorker.ready.then(() => { document.body.dataset.offlineReady = 'true'; });
  }
  buttons.enroll.addEventListener('click', () => run('enroll', enrol));
  buttons.login.addEventListener('click', () => run('login', login));
  buttons.forget.addEventListener('click', async () => {
    mode = 'preview';
    $('outcome').hidden = true; // the last outcome is stale from here on
    buttonsFor(true);
    forget();
    await forgetTemplateKey();
    limiter.reset(USER);
    enrolment = null;
    buttonsFor(false);
    outcome('forgotten');
  });

  say('Loading the face model…');
  const progress = ({ phase, loaded, total }) => phase === 'download' && total && say(`Loading the face model… ${Math.round((100 * loaded) / total)}%`);
  enrolment = loadEnrolment();
  gate = await FaceGateWorker.create({ key: await templateKey(), onProgress: progress });
  const info = await gate.info();
  $('model-info').textContent = `Model ${info.arch} (${info.modelId}), ${info.backend} build, detector ${info.detector}.`;
  if (enrolment && (await gate.needsReenrolment(enrolment.template))) outcome('enrol-again');
  buttonsFor(false);
  try {
    camera = await Camera.open(video);
  } catch (e) {
    say('No camera');
    outcome('no-camera', e.code === 'CAMERA_DENIED' ? 'Camera permission was refused; allow it in the address bar and reload.' : e.message);
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
