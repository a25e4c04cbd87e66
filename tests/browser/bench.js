// Median ms per frame of detect + crop + student (FaceGate.analyze) over 100 camera frames,
// SIMD and plain wasm, after a 3 s warm-up. Results land in #out as JSON (read by bench.mjs).

import { FaceGate } from '/pkg/facegate.js';

const out = document.getElementById('out');

async function frames() {
  const list = [];
  for (const seq of ['live', 'print', 'other-live']) {
    for (let i = 0; i < 48; i += 1) {
      const blob = await (await fetch(`/frames/${seq}/${String(i).padStart(3, '0')}.jpg`)).blob();
      const bmp = await createImageBitmap(blob);
      const c = new OffscreenCanvas(bmp.width, bmp.height);
      const ctx = c.getContext('2d');
      ctx.drawImage(bmp, 0, 0);
      list.push(ctx.getImageData(0, 0, bmp.width, bmp.height));
    }
  }
  return list.slice(0, 100);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function run(backend, images) {
  const t0 = performance.now();
  const gate = await FaceGate.create({ backend });
  const load = performance.now() - t0;
  const warm = performance.now();
  let k = 0;
  while (performance.now() - warm < 3000) gate.analyze(images[k++ % images.length]);
  const times = images.map((img) => {
    const t = performance.now();
    gate.analyze(img);
    return performance.now() - t;
  });
  return { backend, simd_build: gate.info().simd, load_ms: load, median_ms: median(times), p90_ms: [...times].sort((a, b) => a - b)[Math.floor(times.length * 0.9)], frames: times.length, width: images[0].width, height: images[0].height };
}

try {
  const images = await frames();
  const results = [await run('simd', images), await run('wasm', images)];
  const sizes = {};
  for (const flavour of ['simd', 'plain']) {
    const r = await fetch(`/pkg/${flavour}/facegate_wasm_bg.wasm`);
    sizes[flavour] = (await r.arrayBuffer()).byteLength;
  }
  out.textContent = JSON.stringify({ ok: true, userAgent: navigator.userAgent, results, wasm_bytes: sizes });
} catch (e) {
  out.textContent = JSON.stringify({ ok: false, error: String(e && e.stack ? e.stack : e) });
}
