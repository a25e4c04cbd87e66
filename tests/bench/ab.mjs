// A/B of wasm builds, one thread: `analyze` on the same nuaa-sequences frames, builds taken
// in turn each round, so the machine's drift between rounds hits both alike. In node (V8 of
// node 20) by default; `--browser` runs the same loop in headless Debian Chromium, the
// browser of the frame-time target (node's older V8 can rank two builds differently).
//   node tests/bench/ab.mjs pkg/simd /tmp/other-build [--rounds 3] [--browser]
// Each argument is a wasm-bindgen `--target web` output folder (facegate_wasm.js + _bg.wasm).
// A comparison tool, not a test: it prints medians and asserts nothing.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const jpeg = require('jpeg-js');
const args = process.argv.slice(2);
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(args.splice(roundsAt, 2)[1]) : 3;
const browserAt = args.indexOf('--browser');
const browser = browserAt >= 0 && args.splice(browserAt, 1).length > 0;
if (args.length === 0) throw new Error('usage: node tests/bench/ab.mjs BUILD_DIR [BUILD_DIR ...] [--rounds N]');
const data = process.env.FACEGATE_DATA || path.resolve('../shared/data');
const seq = path.join(data, 'nuaa-sequences/live');
const names = fs.readdirSync(seq).filter((f) => f.endsWith('.jpg')).sort().slice(0, 10);
const report = (r, dir, t) => console.log(`round ${r} ${dir}: median ${t[t.length >> 1].toFixed(1)} ms, min ${t[0].toFixed(1)} ms (640x480, ${t.length} frames)`);
if (browser) {
  await inChromium();
  process.exit(0);
}
const frames = names.map((f) => jpeg.decode(fs.readFileSync(path.join(seq, f)), { useTArray: true }));

const builds = [];
for (const dir of args) {
  const mod = await import(path.resolve(dir, 'facegate_wasm.js'));
  await mod.default({ module_or_path: fs.readFileSync(path.resolve(dir, 'facegate_wasm_bg.wasm')) });
  builds.push({ dir, core: new mod.Core() });
}
const time = (core) => {
  const t = [];
  for (const f of frames) {
    const s = performance.now();
    core.analyze(f.data, f.width, f.height);
    t.push(performance.now() - s);
  }
  return t;
};
for (const b of builds) time(b.core); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const b of builds) {
    report(r + 1, b.dir, time(b.core).sort((x, y) => x - y));
  }
}

/** The same rounds in headless Chromium: frames decoded by the browser, builds served locally. */
async function inChromium() {
  const { serve } = await import('../browser/serve.mjs');
  const { startChrome } = await import('../browser/webdriver.mjs');
  const server = await serve(0, [['/frames/', seq], ...args.map((dir, i) => [`/b${i}/`, path.resolve(dir)])]);
  const chrome = await startChrome();
  try {
    await chrome.go(`http://127.0.0.1:${server.address().port}/blank`);
    const out = await chrome.evalAsync(
      `const [builds, names, rounds, done] = arguments;
      (async () => {
        const frames = [];
        for (const n of names) {
          const bitmap = await createImageBitmap(await (await fetch('/frames/' + n)).blob());
          const g = new OffscreenCanvas(bitmap.width, bitmap.height).getContext('2d');
          g.drawImage(bitmap, 0, 0);
          frames.push(g.getImageData(0, 0, bitmap.width, bitmap.height));
        }
        const cores = [];
        for (const b of builds) {
          const m = await import(b + 'facegate_wasm.js');
          await m.default({ module_or_path: b + 'facegate_wasm_bg.wasm' });
          cores.push(new m.Core());
        }
        const time = (core) => frames.map((f) => { const s = performance.now(); core.analyze(f.data, f.width, f.height); return performance.now() - s; });
        cores.forEach(time);
        const out = [];
        for (let r = 0; r < rounds; r++) for (let i = 0; i < cores.length; i++) out.push({ round: r + 1, build: i, t: time(cores[i]).sort((a, b) => a - b) });
        return out;
      })().then(done, (e) => done({ error: String(e) }));`,
      [args.map((_, i) => `/b${i}/`), names, rounds],
    );
    if (out.error) throw new Error(out.error);
    for (const { round, build, t } of out) report(round, args[build], t);
  } finally {
    await chrome.quit();
    server.close();
  }
}
