// A Y4M (I420) video from a folder of same-size JPEG frames: what Chromium's fake camera
// plays (--use-file-for-fake-video-capture), so browser tests see a real camera stream.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const jpeg = createRequire(import.meta.url)('jpeg-js');

/** BT.601 studio-range I420 planes of one RGBA frame (2x2 chroma averaging). */
export function i420(rgba, width, height) {
  const cw = width >> 1;
  const ch = height >> 1;
  const out = Buffer.alloc(width * height + 2 * cw * ch);
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    out[i] = Math.round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255);
  }
  for (let y = 0; y < ch; y++) {
    for (let x = 0; x < cw; x++) {
      let [r, g, b] = [0, 0, 0];
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const p = 4 * ((2 * y + dy) * width + 2 * x + dx);
        r += rgba[p] / 4;
        g += rgba[p + 1] / 4;
        b += rgba[p + 2] / 4;
      }
      out[width * height + y * cw + x] = Math.round(128 + (-37.797 * r - 74.203 * g + 112 * b) / 255);
      out[width * height + cw * ch + y * cw + x] = Math.round(128 + (112 * r - 93.786 * g - 18.214 * b) / 255);
    }
  }
  return out;
}

/** Writes `out` from the .jpg files of `dir` (name order, or those `keep` accepts in the order
 * `order` gives) at `fps`; returns the frame count. */
export function makeY4m(dir, out, fps = 10, keep = () => true, order = undefined) {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.jpg') && keep(f)).sort(order);
  if (files.length === 0) throw new Error(`${dir}: no .jpg frames`);
  let size = null;
  const fd = fs.openSync(out, 'w');
  try {
    for (const f of files) {
      const img = jpeg.decode(fs.readFileSync(path.join(dir, f)), { useTArray: true });
      if (!size) {
        size = [img.width & ~1, img.height & ~1];
        fs.writeSync(fd, `YUV4MPEG2 W${size[0]} H${size[1]} F${fps}:1 Ip A1:1 C420jpeg\n`);
      }
      if (img.width !== size[0] || img.height !== size[1]) throw new Error(`${f}: ${img.width}x${img.height}, expected ${size.join('x')}`);
      fs.writeSync(fd, 'FRAME\n');
      fs.writeSync(fd, i420(img.data, img.width, img.height));
    }
  } finally {
    fs.closeSync(fd);
  }
  return files.length;
}
