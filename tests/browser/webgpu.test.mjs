// The WebGPU backend in headless Chromium on SwiftShader (software WebGPU): issue #23's checks.
//   program parity: on reference frames, every probe of the program (one intermediate per op
//     type: resize, dense and depthwise convolution, add, pad, pool, concat, select, warp, the
//     student's layers, heads) and the readback within 1e-3 of the CPU's values
//     (`facegate-gpu expect`, the CPU build's own code);
//   the package: FaceGate and FaceGateWorker with backend 'webgpu' give the CPU's faces, scores
//     and decisions (within 1e-3), one readback per frame; a forced adapter failure and a lost
//     device still analyse frames, on SIMD, and say why.
// Needs ./build.sh build (pkg/ with webgpu/) first; run by ./build.sh test.
//   node tests/browser/webgpu.test.mjs

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { serve } from './serve.mjs';
import { startChrome } from './webdriver.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const data = path.resolve(process.env.FACEGATE_DATA ?? path.join(root, '../shared/data'));
const out = path.join(root, 'target/webgpu-expect');
// A live face (enrol / verify: with the mirror pass), a print of it, a frame without a face.
const FRAMES = [
  ['live', 'nuaa-sequences/live/000.jpg', true],
  ['live-5', 'nuaa-sequences/live/005.jpg', true],
  ['live-10', 'nuaa-sequences/live/010.jpg', true],
  ['print', 'nuaa-sequences/print/000.jpg', false],
  ['other', 'nuaa-sequences/other-live/000.jpg', true],
];
fs.rmSync(out, { recursive: true, force: true });
for (const [name, file, mirror] of FRAMES) {
  const args = ['run', '--release', '--locked', '--quiet', '-p', 'facegate-gpu', '--', 'expect', '--frame', path.join(data, file), '--out', path.join(out, name)];
  execFileSync('cargo', mirror ? [...args, '--mirror'] : args, { cwd: root, stdio: 'inherit' });
}
// Nothing to find: the program still runs and reads back no face.
fs.mkdirSync(path.join(out, 'blank'));
fs.writeFileSync(path.join(out, 'blank/frame.rgba'), Buffer.alloc(320 * 240 * 4, 96));
fs.writeFileSync(path.join(out, 'blank/expected.json'), JSON.stringify({ width: 320, height: 240, mirror: false, probes: [] }));

const server = await serve(0, [
  ['/pkg/', path.join(root, 'pkg')],
  ['/expect/', out],
  ['/', path.join(root, 'tests/browser')],
]);
const chrome = await startChrome(['--enable-unsafe-webgpu']);
let failed = 0;
let passed = 0;
try {
  await chrome.go(`http://127.0.0.1:${server.address().port}/webgpu.html?frames=${FRAMES.map((f) => f[0]).join(',')},blank`);
  let text = '';
  for (let i = 0; i < 600 && !text.startsWith('{'); i++) {
    await new Promise((r) => setTimeout(r, 500));
    text = await chrome.eval("return document.getElementById('out').textContent");
  }
  if (!text.startsWith('{')) throw new Error(`the page did not finish (${await chrome.eval('return document.title')}): ${JSON.stringify(await chrome.consoleLog()).slice(0, 2000)}`);
  const result = JSON.parse(text);
  for (const c of result.checks) {
    console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.detail ? ` (${c.detail})` : ''}`);
    if (c.ok) passed++;
    else failed++;
  }
  if (result.error) {
    console.log(`FAIL the page threw: ${result.error}`);
    failed++;
  }
  if (failed) console.log(JSON.stringify(await chrome.consoleLog()).slice(0, 4000));
} finally {
  await chrome.quit();
  server.close();
}
console.log(`test result: ${failed ? 'FAILED' : 'ok'}. ${passed} passed; ${failed} failed (WebGPU backend, SwiftShader)`);
process.exit(failed ? 1 : 0);
