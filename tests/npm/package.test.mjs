// The packed npm tarball as web developers use it: installed into a fresh app, then loaded
// by each setup the package promises to work with — a plain <script type="module"> (import
// map, no bundler), `vite dev`, `vite build` and webpack 5 — and run in headless Chromium on a
// real face: the page-thread engine and the worker each find the one face, on the CPU and with
// `backend: 'webgpu'` (SwiftShader; the module, program and weights found in every setup). On the plain page,
// a missing or truncated wasm file and a missing worker reject create() with LOAD_FAILED
// instead of leaving it pending; sdk-checks.js exercises the API (decisions, template binding,
// key store, attempt limiter, large frames, abort, dispose, the worker, camera sessions on a
// fake camera); a template sealed on one origin does not open on another.
// Run by ./build.sh test after the tarball is built.

import { build, createServer } from 'vite';
import webpack from 'webpack';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { serve } from '../browser/serve.mjs';
import { startChrome } from '../browser/webdriver.mjs';
import { makeY4m } from '../browser/y4m.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const data = process.env.FACEGATE_DATA ?? path.join(root, '../shared/data');
const face = path.join(data, 'nuaa/ClientRaw/0009/0009_01_00_01_0.jpg');
const tarballs = fs.readdirSync(path.join(root, 'target')).filter((f) => /^facegate-.*\.tgz$/.test(f));
assert.equal(tarballs.length, 1, `expected one target/facegate-*.tgz, found ${tarballs}`);
const tarball = path.join(root, 'target', tarballs[0]);

// The app: one page that analyses a face on the page thread and in the worker.
const app = fs.mkdtempSync(path.join(os.tmpdir(), 'facegate-app-'));
const write = (file, text) => {
  fs.mkdirSync(path.dirname(path.join(app, file)), { recursive: true });
  fs.writeFileSync(path.join(app, file), text);
};
write('package.json', JSON.stringify({ name: 'app', private: true, type: 'module' }));
// What the package README asks of a Vite app (vite dev only; builds need nothing).
write('vite.config.js', "export default { optimizeDeps: { exclude: ['facegate'] } };\n");
write('index.html', '<!doctype html><title>app</title><script type="module" src="./main.js"></script>\n');
write(
  'main.js',
  `import { FaceGate, FaceGateWorker } from 'facegate';
async function run() {
  const img = new Image();
  img.src = '/face.jpg';
  await img.decode();
  const gate = await FaceGate.create();
  const faces = gate.analyze(img);
  const worker = await FaceGateWorker.create();
  const inWorker = await worker.analyze(img);
  worker.dispose();
  // The WebGPU module, its program and weights, found wherever the setup put them.
  const gpu = await FaceGate.create({ backend: 'webgpu' });
  const onGpu = await gpu.analyzeAsync(img);
  const { backend: gpuBackend, fallback } = gpu.info();
  gpu.dispose();
  const gpuWorker = await FaceGateWorker.create({ backend: 'webgpu' });
  const inGpuWorker = await gpuWorker.analyze(img);
  const workerBackend = (await gpuWorker.info()).backend;
  gpuWorker.dispose();
  return { faces: faces.length, worker: inWorker.length, backend: gate.info().backend, webgpu: [gpuBackend, onGpu.length, workerBackend, inGpuWorker.length, fallback] };
}
run().then((r) => { window.facegateResult = r; }, (e) => { window.facegateResult = { failure: \`\${e.code ?? e.name}: \${e.message}\` }; });
`,
);
const importMap = '<script type="importmap">{"imports":{"facegate":"/node_modules/facegate/facegate.js"}}</script>';
/** A page of the plain (no bundler) setup: the import map, then `script` as a module. */
const plainPage = (name, script, head = '') => write(`${name}.html`, `<!doctype html>${head}<title>${name}</title>${importMap}<script type="module">\n${script}</script>\n`);
/** Module code that leaves the test face decoded in `img`. */
const LOAD_FACE = "const img = new Image();\nimg.src = '/face.jpg';\nawait img.decode();\n";
write('plain.html', `<!doctype html><title>plain</title>${importMap}<script type="module" src="./main.js"></script>\n`);
plainPage(
  'failures',
  `import { FaceGate, FaceGateWorker, FaceGateError } from 'facegate';
const tries = {
  'missing wasm': () => FaceGate.create({ wasmUrl: '/missing.wasm' }),
  'truncated wasm': () => FaceGate.create({ wasmUrl: '/truncated.wasm' }),
  'missing worker': () => FaceGateWorker.create({ workerUrl: '/missing-worker.js' }),
};
const out = {};
for (const [what, f] of Object.entries(tries)) {
  const timeout = new Promise((r) => setTimeout(() => r('still pending after 20 s'), 20000));
  out[what] = await Promise.race([f().then(() => 'resolved', (e) => (e instanceof FaceGateError ? e.code : \`\${e.name}: \${e.message}\`)), timeout]);
}
window.facegateResult = out;
`,
);
write('sdk.html', `<!doctype html><title>sdk</title>${importMap}<script type="module" src="/sdk-checks.js"></script>\n`);
fs.copyFileSync(path.join(root, 'tests/npm/sdk-checks.js'), path.join(app, 'sdk-checks.js'));
// Seals with a fixed key, or opens what another page sealed: the template names its origin.
plainPage(
  'origin',
  `import { FaceGate } from 'facegate';
${LOAD_FACE}const key = await crypto.subtle.importKey('raw', new Uint8Array(32).fill(7), 'AES-GCM', false, ['encrypt', 'decrypt']);
const gate = await FaceGate.create({ key, thresholds: { liveness: 0.01, matching: 0.3 } });
const template = new URLSearchParams(location.search).get('template');
const user = { userId: 'alice' };
window.facegateResult = template
  ? await gate.verify(img, template, user).then((d) => ({ opened: d.decision }), (e) => ({ opened: e.code }))
  : { template: await gate.enroll([img, img, img, img, img], user) };
`,
);
// A Content-Security-Policy that forbids compiling wasm and starting workers: create() rejects.
plainPage(
  'csp',
  `import { FaceGate, FaceGateWorker } from 'facegate';
const code = (p) => Promise.race([p.then(() => 'resolved', (e) => e.code ?? e.name), new Promise((r) => setTimeout(() => r('still pending after 20 s'), 20000))]);
window.facegateResult = { engine: await code(FaceGate.create()), worker: await code(FaceGateWorker.create()) };
`, `<meta http-equiv="Content-Security-Policy" content="script-src 'self' 'unsafe-inline'; worker-src 'none'">`,
);
// A worker that scribbles over its wasm memory before every enroll: the engine traps there,
// and FaceGateWorker must answer with a new worker and instance.
write(
  'trap-worker.js',
  `import init from '/node_modules/facegate/simd/facegate_wasm.js';
import '/node_modules/facegate/worker.js';
const handle = self.onmessage;
self.onmessage = async (event) => {
  if (event.data.method === 'enroll') new Uint8Array((await init()).memory.buffer).fill(0xff);
  return handle(event);
};
`,
);
plainPage(
  'trap',
  `import { FaceGateWorker } from 'facegate';
${LOAD_FACE}const step = (p) => p.then((v) => v, (e) => e.code ?? e.message);
const gate = await FaceGateWorker.create({ workerUrl: '/trap-worker.js' });
const before = await step(gate.analyze(img).then((f) => f.length));
const trapped = await step(gate.enroll([img, img, img], { userId: 'a' }));
const after = await step(gate.analyze(img).then((f) => f.length));
window.facegateResult = { before, trapped, after };
`,
);
// A key wrapped by a passkey's PRF output (a virtual authenticator; WebAuthn needs a domain, so
// this page is opened on localhost).
plainPage(
  'passkey',
  `import { FaceGate, forgetTemplateKey, passkeySupported, templateKey } from 'facegate';
const code = (p) => p.then(() => 'resolved', (e) => e.code ?? e.name);
${LOAD_FACE}const loose = { liveness: 0.01, matching: 0.3 };
const user = { userId: 'alice' };
await forgetTemplateKey('pk');
const key = await templateKey({ name: 'pk', passkey: { userName: 'alice' } });
const template = await (await FaceGate.create({ key, thresholds: loose })).enroll([img, img, img, img, img], user);
const again = await FaceGate.create({ key: await templateKey({ name: 'pk', passkey: {} }), thresholds: loose });
window.facegateResult = {
  extractable: key.extractable,
  reopened: (await again.verify(img, template, user)).decision,
  withoutPasskey: await code(templateKey({ name: 'pk' })),
  supported: await passkeySupported(),
};
await forgetTemplateKey('pk');
`,
);
// The package README's ten lines, verbatim, then the same template after a reload.
const readme = fs.readFileSync(path.join(root, 'pkg-templates/README.md'), 'utf8');
const ten = readme.split('## Ten lines')[1].split('```js\n')[1].split('```')[0];
assert.equal(ten.trim().split('\n').length, 10, 'the ten lines are ten lines');
write('ten.html', '<!doctype html><title>ten</title><video></video><script type="module" src="./ten.js"></script>\n');
write('ten.js', `${ten}window.facegateResult = { enrolled: enrolled.decision, login: login.reason ?? login.decision };\n`);
write(
  'reload.html',
  `<!doctype html><title>reload</title><video></video><script type="module">
import { Camera, FaceGateWorker, templateKey, verifySession } from 'facegate';
const gate = await FaceGateWorker.create({ key: await templateKey() });
const camera = await Camera.open(document.querySelector('video'));
const login = await verifySession(gate, camera, localStorage.getItem('alice'), { userId: 'alice' }).catch((e) => ({ reason: e.code }));
window.facegateResult = { login: login.reason };
</script>
`,
);
fs.copyFileSync(face, path.join(app, 'face.jpg'));
write('public/.keep', '');
fs.copyFileSync(face, path.join(app, 'public/face.jpg'));
execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app, stdio: 'inherit' });
const pkg = path.join(app, 'node_modules/facegate');
const simdWasm = fs.readFileSync(path.join(pkg, 'simd/facegate_wasm_bg.wasm'));
fs.writeFileSync(path.join(app, 'truncated.wasm'), simdWasm.subarray(0, simdWasm.length >> 1));

const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
assert.equal(manifest.type, 'module');
assert.equal(manifest.sideEffects, false);
assert.ok(fs.existsSync(path.join(pkg, manifest.types)), 'types file ships');
assert.ok(manifest.exports['.'].default && manifest.exports['./worker'], 'exports map');

// A fake camera for the sessions: NUAA subject 0009, session 1, in picture order.
const camera = path.join(app, 'camera.y4m');
const picture = (f) => Number(f.split('_')[4].split('.')[0]);
makeY4m(path.dirname(face), camera, 10, (f) => f.split('_')[3] === '01', (a, b) => picture(a) - picture(b));
const chrome = await startChrome(['--enable-unsafe-webgpu', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${camera}`]);
let passed = 0;
const failed = [];
async function page(url) {
  await chrome.go(url);
  for (let i = 0; i < 600; i++) {
    const r = await chrome.eval('return window.facegateResult ?? null');
    if (r) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
  const log = await chrome.consoleLog().catch(() => []);
  return { failure: `no result after 60 s; console: ${log.map((l) => l.message).join(' | ')}` };
}
/** Runs `expect` on what the page at `url` reports (or on `shown` without a url). */
async function check(name, url, expect, shown) {
  const got = url ? await page(url) : shown;
  try {
    await expect(got);
    passed++;
    console.log(`  ok  ${name}: ${JSON.stringify(got)}`);
  } catch (e) {
    failed.push(name);
    console.log(`  FAIL ${name}: ${JSON.stringify(got)} (${e.message})`);
  }
}
const oneFace = (r) => {
  assert.equal(r.failure, undefined);
  assert.equal(r.faces, 1, 'page thread');
  assert.equal(r.worker, 1, 'worker');
  // Chromium here runs WebGPU on SwiftShader: the backend must start in every setup.
  assert.deepEqual(r.webgpu, ['webgpu', 1, 'webgpu', 1, null], 'WebGPU on the page thread and in the worker');
};

try {
  // No bundler: the package's files as they are, an import map for the bare name.
  const plain = await serve(0, [['/', app]]);
  const base = `http://127.0.0.1:${plain.address().port}`;
  await check('plain <script type="module">', `${base}/plain.html`, oneFace);
  await check('load failures reject create()', `${base}/failures.html`, (r) =>
    assert.deepEqual(r, { 'missing wasm': 'LOAD_FAILED', 'truncated wasm': 'LOAD_FAILED', 'missing worker': 'LOAD_FAILED' }),
  );
  await check('a CSP that forbids wasm or workers rejects create()', `${base}/csp.html`, (r) => assert.deepEqual(r, { engine: 'LOAD_FAILED', worker: 'LOAD_FAILED' }));
  await check('a trapped worker is replaced by a new instance', `${base}/trap.html`, (r) => assert.deepEqual(r, { before: 1, trapped: 'TRAPPED', after: 1 }));
  const sdk = await page(`${base}/sdk.html`);
  for (const [name, verdict] of Object.entries(sdk.results ?? { 'sdk checks ran': sdk.failure })) {
    await check(`sdk: ${name}`, null, () => assert.equal(verdict, 'ok'), verdict);
  }
  if (sdk.measured) console.log(`  measured: ${JSON.stringify(sdk.measured)}`);
  await chrome.addVirtualAuthenticator({ protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, isUserConsenting: true, extensions: ['prf'] });
  await check('a key wrapped by a passkey (WebAuthn PRF, virtual authenticator)', `http://localhost:${plain.address().port}/passkey.html`, (r) => {
    assert.equal(r.extractable, false);
    assert.equal(r.reopened, 'accept');
    assert.equal(r.withoutPasskey, 'BAD_ARGUMENT');
  });
  // Another port is another origin.
  const other = await serve(0, [['/', app]]);
  const sealed = await page(`${base}/origin.html`);
  const open = async (origin) => (await page(`${origin}/origin.html?template=${encodeURIComponent(sealed.template)}`)).opened;
  await check('a template opens on its origin only', null, async () => {
    assert.equal(await open(base), 'accept');
    assert.equal(await open(`http://127.0.0.1:${other.address().port}`), 'TEMPLATE_TAMPERED');
  }, sealed.template?.slice(0, 14));
  other.close();
  plain.close();

  // vite dev: modules served on the fly, dependencies pre-bundled.
  const dev = await createServer({ root: app, logLevel: 'warn', server: { port: 0, host: '127.0.0.1' } });
  await dev.listen();
  await check('vite dev', `http://127.0.0.1:${dev.httpServer.address().port}/`, oneFace);
  await dev.close();

  // vite build: both wasm files and the worker end up in the bundle.
  const input = { main: path.join(app, 'index.html'), ten: path.join(app, 'ten.html'), reload: path.join(app, 'reload.html') };
  await build({ root: app, logLevel: 'warn', build: { outDir: path.join(app, 'dist-vite'), target: 'es2022', rollupOptions: { input } } });
  const assets = fs.readdirSync(path.join(app, 'dist-vite/assets'));
  assert.equal(assets.filter((f) => f.endsWith('.wasm')).length, 2, `both wasm builds are bundled: ${assets}`);
  const built = await serve(0, [['/', path.join(app, 'dist-vite')]]);
  const vite = `http://127.0.0.1:${built.address().port}`;
  await check('vite build', `${vite}/`, oneFace);
  // Mechanics, not accuracy: the shipped student's decision on this camera is what it is.
  const decided = (r) => assert.ok(['ok', 'notLive', 'noMatch'].includes(r.login), `a decision, not an error: ${r.login}`);
  await check('the README ten lines, verbatim (vite build, fake camera)', `${vite}/ten.html`, (r) => {
    assert.equal(r.enrolled, 'accept');
    decided(r);
  });
  await check('their template still opens after a reload', `${vite}/reload.html`, decided);
  built.close();

  // webpack 5, production mode, no loader configured for the package.
  const out = path.join(app, 'dist-webpack');
  const stats = await new Promise((resolve, reject) =>
    webpack(
      { mode: 'production', context: app, entry: './main.js', output: { path: out, publicPath: '/' }, performance: { hints: false } },
      (err, s) => (err ? reject(err) : resolve(s)),
    ),
  );
  assert.ok(!stats.hasErrors(), stats.toString({ all: false, errors: true }));
  fs.copyFileSync(path.join(app, 'index.html'), path.join(out, 'index.html'));
  fs.copyFileSync(face, path.join(out, 'face.jpg'));
  const wp = await serve(0, [['/', out]]);
  await check('webpack 5', `http://127.0.0.1:${wp.address().port}/`, oneFace);
  wp.close();
} finally {
  await chrome.quit();
  fs.rmSync(app, { recursive: true, force: true });
}
console.log(`test result: ${failed.length ? 'FAILED' : 'ok'}. ${passed} passed; ${failed.length} failed (npm package, ${path.basename(tarball)})`);
process.exit(failed.length ? 1 : 0);
