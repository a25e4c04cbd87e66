// A/B of wasm builds in node (V8, one thread): `analyze` on the same nuaa-sequences frames,
// builds taken in turn each round, so the machine's drift between rounds hits both alike.
//   node tests/bench/ab.mjs pkg/simd /tmp/other-build [--rounds 3]
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
if (args.length === 0) throw new Error('usage: node tests/bench/ab.mjs BUILD_DIR [BUILD_DIR ...] [--rounds N]');
const data = process.env.FACEGATE_DATA || path.resolve('../shared/data');
const seq = path.join(data, 'nuaa-sequences/live');
const frames = fs.readdirSync(seq).filter((f) => f.endsWith('.jpg')).sort().slice(0, 10)
  .map((f) => jpeg.decode(fs.readFileSync(path.join(seq, f)), { useTArray: true }));

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
    const t = time(b.core).sort((x, y) => x - y);
    console.log(`round ${r + 1} ${b.dir}: median ${t[t.length >> 1].toFixed(1)} ms, min ${t[0].toFixed(1)} ms (${frames[0].width}x${frames[0].height}, ${t.length} frames)`);
  }
}
