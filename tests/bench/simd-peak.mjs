// What one core of this machine can do in wasm, for the frame-time budget: multiply-adds per
// second in loops with no memory traffic (12 independent accumulators, as a matrix product's
// register block), for each way SIMD128 can multiply-add:
//   f32 mul+add       f32x4.mul then f32x4.add (what the shipped builds use: SIMD128 has no FMA)
//   f32 relaxed madd  f32x4.relaxed_madd (relaxed SIMD: an FMA where the CPU has one)
//   i16 dot           i32x4.dot_i16x8_s + i32x4.add (baseline SIMD128: 8 multiply-adds an op)
//   i8 relaxed dot    i32x4.relaxed_dot_i8x16_i7x16_add_s (relaxed SIMD: 16 an op)
// The modules are assembled here byte by byte (no toolchain), each kernel is checked on known
// values before it is timed, and the same function runs in headless Chromium (the browser of
// the frame-time target) and in node. Not a test: it prints numbers.
//   node tests/bench/simd-peak.mjs [--json results/simd-peak.json]

import fs from 'node:fs';
import { startChrome } from '../browser/webdriver.mjs';

/** Self-contained (it is sent to the browser as source): best of `rounds` runs, G multiply-adds/s. */
function measure(iterations, rounds) {
  const leb = (n) => {
    const out = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n) b |= 0x80;
      out.push(b);
    } while (n);
    return out;
  };
  const simd = (op) => [0xfd, ...leb(op)];
  const vec = (bytes) => [...simd(0x0c), ...bytes];
  const f32s = (v) => [...new Uint8Array(new Float32Array([v, v, v, v]).buffer)];
  const i16s = (v) => [...new Uint8Array(new Int16Array(8).fill(v).buffer)];
  const i8s = (v) => [...new Uint8Array(new Int8Array(16).fill(v).buffer)];
  const ACC = 12;
  // Locals: 0 = n (param), 1..12 accumulators, 13 = x (varies per iteration), 14..25 = w_i, 26 = step.
  const [X, W, STEP] = [13, 14, 26];
  const get = (i) => [0x20, ...leb(i)];
  const set = (i) => [0x21, ...leb(i)];
  // acc_i <- body(acc_i, x, w_i); x <- x + step, so no product is loop-invariant.
  const kernels = {
    'f32 mul+add': { fill: f32s, x: 1, w: 0.5, step: 1e-6, lanes: 4, mac: (i) => [...get(1 + i), ...get(X), ...get(W + i), ...simd(0xe6), ...simd(0xe4)], stepOp: simd(0xe4), extract: [...simd(0x1f), 0], want: (n) => n * 0.5 },
    'f32 relaxed madd': { fill: f32s, x: 1, w: 0.5, step: 1e-6, lanes: 4, mac: (i) => [...get(X), ...get(W + i), ...get(1 + i), ...simd(0x105)], stepOp: simd(0xe4), extract: [...simd(0x1f), 0], want: (n) => n * 0.5 },
    'i16 dot': { fill: i16s, x: 3, w: 2, step: 1, lanes: 8, mac: (i) => [...get(1 + i), ...get(X), ...get(W + i), ...simd(0xba), ...simd(0xae)], stepOp: simd(0x8e), extract: [...simd(0x1b), 0], want: (n) => n * 12 },
    'i8 relaxed dot': { fill: i8s, x: 3, w: 2, step: 1, lanes: 16, mac: (i) => [...get(X), ...get(W + i), ...get(1 + i), ...simd(0x113)], stepOp: simd(0x6e), extract: [...simd(0x1b), 0], want: (n) => n * 24 },
  };
  const module = (k, step) => {
    const body = [0x01, ...leb(26), 0x7b]; // 26 v128 locals after the param
    for (let i = 0; i < ACC; i++) body.push(...vec(k.fill(0)), ...set(1 + i));
    body.push(...vec(k.fill(k.x)), ...set(X));
    for (let i = 0; i < ACC; i++) body.push(...vec(k.fill(k.w)), ...set(W + i));
    body.push(...vec(k.fill(step)), ...set(STEP));
    body.push(0x02, 0x40, 0x03, 0x40); // block, loop
    body.push(...get(0), 0x45, 0x0d, 0x01); // n == 0 -> break
    for (let i = 0; i < ACC; i++) body.push(...k.mac(i), ...set(1 + i));
    body.push(...get(X), ...get(STEP), ...k.stepOp, ...set(X));
    body.push(...get(0), 0x41, 0x01, 0x6b, ...set(0), 0x0c, 0x00, 0x0b, 0x0b); // n -= 1; continue; end loop; end block
    // The sum of every accumulator's lane 0, so none of them is dead.
    body.push(...get(1), ...k.extract);
    const add = k.extract[1] === 0x1f ? 0x92 : 0x6a; // f32.add / i32.add
    for (let i = 1; i < ACC; i++) body.push(...get(1 + i), ...k.extract, add);
    body.push(0x0b);
    const code = [...leb(body.length), ...body];
    const result = k.extract[1] === 0x1f ? 0x7d : 0x7f;
    const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
    const name = [...new TextEncoder().encode('run')];
    return new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      ...section(1, [0x01, 0x60, 0x01, 0x7f, 0x01, result]),
      ...section(3, [0x01, 0x00]),
      ...section(7, [0x01, name.length, ...name, 0x00, 0x00]),
      ...section(10, [0x01, ...code]),
    ]);
  };
  const out = {};
  for (const [label, k] of Object.entries(kernels)) {
    const instance = (step) => new WebAssembly.Instance(new WebAssembly.Module(module(k, step))).exports.run;
    if (!WebAssembly.validate(module(k, k.step))) {
      out[label] = { supported: false };
      continue;
    }
    // With step 0, x stays k.x, so after n iterations each lane-0 accumulator holds n * (its products).
    const got = instance(0)(10);
    if (got !== ACC * k.want(10)) throw new Error(`${label}: 10 iterations gave ${got}, not ${ACC * k.want(10)}`);
    // Timed with x moving, so no product is loop-invariant.
    const run = instance(k.step);
    run(iterations); // warm-up (tier-up)
    let best = Infinity;
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now();
      run(iterations);
      best = Math.min(best, performance.now() - t0);
    }
    const macs = iterations * ACC * k.lanes;
    out[label] = { supported: true, gmacs: +(macs / best / 1e6).toFixed(2), ms: +best.toFixed(1), macs };
  }
  return out;
}

const ITER = 20_000_000;
const ROUNDS = 5;
const result = { iterations: ITER, rounds: ROUNDS, accumulators: 12 };
const chrome = await startChrome();
try {
  await chrome.go('about:blank');
  result.chromium = await chrome.evalAsync(`const done = arguments[arguments.length - 1];
    try { done((${measure.toString()})(${ITER}, ${ROUNDS})); } catch (e) { done({ error: String(e) }); }`);
  result.chromium_version = await chrome.eval('return navigator.userAgent');
} finally {
  await chrome.quit();
}
result.node = measure(ITER, ROUNDS);
result.node_version = process.version;
const json = process.argv.indexOf('--json');
if (json > 0) fs.writeFileSync(process.argv[json + 1], JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
