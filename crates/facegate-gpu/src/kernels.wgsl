// facegate's kernels as WebGPU compute shaders: the ops the detector and the student are made
// of, and the steps between them (resize, face selection, crop), so a frame goes in and only
// the readback buffer comes out. Every entry point reads its arguments from `params` (set by
// facegate-gpu's lowering, `src/lower.rs`, which names each layout); offsets count f32 values
// of the activation `arena` or of the `weights`. Each thread computes one output value, one
// output pixel or (select, head) one workgroup's share.

@group(0) @binding(0) var<storage, read_write> arena: array<f32>;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<uniform> params: array<vec4<u32>, 8>;
// [width, height, mirror, 0], then the frame's RGBA pixels, one u32 each.
@group(0) @binding(3) var<storage, read> frame: array<u32>;

const NONE: u32 = 0xffffffffu;
const FRAME_PIXELS: u32 = 4u;

fn p(i: u32) -> u32 {
  return params[i / 4u][i % 4u];
}

fn pf(i: u32) -> f32 {
  return bitcast<f32>(p(i));
}

// One invocation per value: x runs over up to 65535 workgroups of 64, y over the rest.
fn index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
  return gid.x + gid.y * groups.x * 64u;
}

// Images a batched layer runs on: `images`, or fewer when the count cell says so (the student
// runs on as many crops as faces were found).
fn images(count_at: u32, most: u32) -> u32 {
  if (count_at == NONE) {
    return most;
  }
  return min(most, u32(arena[count_at]));
}

fn activate(v: f32, act: u32) -> f32 {
  if (act == 1u) {
    return select(0.0, v, v > 0.0);
  }
  if (act == 2u) {
    return select(select(0.0, v, v > 0.0), 6.0, v > 6.0);
  }
  return v;
}

fn channel(px: u32, c: u32) -> f32 {
  return f32((px >> (8u * c)) & 255u);
}

fn pixel(x: i32, y: i32, c: u32) -> f32 {
  let w = i32(frame[0]);
  let h = i32(frame[1]);
  if (x < 0 || y < 0 || x >= w || y >= h) {
    return 0.0;
  }
  return channel(frame[FRAME_PIXELS + u32(y * w + x)], c);
}

// params: out, size. TF's resizeBilinear (no corner alignment, no half-pixel centres) of the
// frame to size x size, scaled to -1..1: the detector's input (facegate-face `resize_bilinear`).
@compute @workgroup_size(64)
fn resize(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  let size = p(1u);
  if (i >= size * size) {
    return;
  }
  let w = frame[0];
  let h = frame[1];
  let r = i / size;
  let col = i % size;
  let fy = f32(h) / f32(size) * f32(r);
  let fx = f32(w) / f32(size) * f32(col);
  let y0 = max(floor(fy), 0.0);
  let x0 = max(floor(fx), 0.0);
  let top = u32(y0);
  let bot = min(u32(ceil(fy)), h - 1u);
  let left = u32(x0);
  let right = min(u32(ceil(fx)), w - 1u);
  let dy = fy - y0;
  let dx = fx - x0;
  for (var c = 0u; c < 3u; c++) {
    let tl = channel(frame[FRAME_PIXELS + top * w + left], c);
    let tr = channel(frame[FRAME_PIXELS + top * w + right], c);
    let bl = channel(frame[FRAME_PIXELS + bot * w + left], c);
    let br = channel(frame[FRAME_PIXELS + bot * w + right], c);
    let t = tl + (tr - tl) * dx;
    let b = bl + (br - bl) * dx;
    arena[p(0u) + i * 3u + c] = (t + (b - t) * dy) / 127.5 - 1.0;
  }
}

// params: x, y, weight, bias, h, w, cin, oh, ow, cout, kh, kw, sh, sw, pad top, pad left,
// activation, depthwise, images, count cell. NHWC; weights in TF's layout (dense
// [kh, kw, cin, cout], depthwise [kh, kw, c]); zero padding.
@compute @workgroup_size(64)
fn conv(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  let h = p(4u); let w = p(5u); let cin = p(6u); let oh = p(7u); let ow = p(8u); let cout = p(9u);
  let kh = p(10u); let kw = p(11u); let sh = p(12u); let sw = p(13u);
  let per = oh * ow * cout;
  if (i >= images(p(19u), p(18u)) * per) {
    return;
  }
  let img = i / per;
  let o = i % per;
  let oc = o % cout;
  let ox = (o / cout) % ow;
  let oy = o / (cout * ow);
  let x = p(0u) + img * h * w * cin;
  let wt = p(2u);
  var acc = weights[p(3u) + oc];
  for (var ky = 0u; ky < kh; ky++) {
    let iy = i32(oy * sh + ky) - i32(p(14u));
    if (iy < 0 || iy >= i32(h)) {
      continue;
    }
    for (var kx = 0u; kx < kw; kx++) {
      let ix = i32(ox * sw + kx) - i32(p(15u));
      if (ix < 0 || ix >= i32(w)) {
        continue;
      }
      let base = x + (u32(iy) * w + u32(ix)) * cin;
      if (p(17u) == 1u) {
        acc += arena[base + oc] * weights[wt + (ky * kw + kx) * cout + oc];
      } else {
        let row = wt + (ky * kw + kx) * cin * cout + oc;
        for (var c = 0u; c < cin; c++) {
          acc += arena[base + c] * weights[row + c * cout];
        }
      }
    }
  }
  arena[p(1u) + img * per + o] = activate(acc, p(16u));
}

// params: a, b, y, n, activation. y = act(a + b).
@compute @workgroup_size(64)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= p(3u)) {
    return;
  }
  arena[p(2u) + i] = activate(arena[p(0u) + i] + arena[p(1u) + i], p(4u));
}

// params: x, y, n, activation.
@compute @workgroup_size(64)
fn act(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  if (i >= p(2u)) {
    return;
  }
  arena[p(1u) + i] = activate(arena[p(0u) + i], p(3u));
}

// params: x, y, h, w, c, oh, ow, kh, kw, sh, sw, pad top, pad left. Padded cells never win.
@compute @workgroup_size(64)
fn pool(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  let h = p(2u); let w = p(3u); let c = p(4u); let oh = p(5u); let ow = p(6u);
  if (i >= oh * ow * c) {
    return;
  }
  let ch = i % c;
  let ox = (i / c) % ow;
  let oy = i / (c * ow);
  var best = -3.4e38;
  var found = false;
  for (var ky = 0u; ky < p(7u); ky++) {
    let iy = i32(oy * p(9u) + ky) - i32(p(11u));
    for (var kx = 0u; kx < p(8u); kx++) {
      let ix = i32(ox * p(10u) + kx) - i32(p(12u));
      if (iy >= 0 && iy < i32(h) && ix >= 0 && ix < i32(w)) {
        let v = arena[p(0u) + (u32(iy) * w + u32(ix)) * c + ch];
        if (!found || v > best) {
          best = v;
        }
        found = true;
      }
    }
  }
  arena[p(1u) + i] = best;
}

// params: x, y, h, w, c, oh, ow, oc, pad top, pad left, channels before. Zero padding.
@compute @workgroup_size(64)
fn pad(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  let h = p(2u); let w = p(3u); let c = p(4u); let ow = p(6u); let oc = p(7u);
  if (i >= p(5u) * ow * oc) {
    return;
  }
  let ch = i32(i % oc) - i32(p(10u));
  let ox = i32((i / oc) % ow) - i32(p(9u));
  let oy = i32(i / (oc * ow)) - i32(p(8u));
  var v = 0.0;
  if (ch >= 0 && ch < i32(c) && ox >= 0 && ox < i32(w) && oy >= 0 && oy < i32(h)) {
    v = arena[p(0u) + (u32(oy) * w + u32(ox)) * c + u32(ch)];
  }
  arena[p(1u) + i] = v;
}

// params: x, y, outer, inner, total, offset: one part of a row-major concatenation.
@compute @workgroup_size(64)
fn concat(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  let inner = p(3u);
  if (i >= p(2u) * inner) {
    return;
  }
  arena[p(1u) + (i / inner) * p(4u) + p(5u) + i % inner] = arena[p(0u) + i];
}

// select: the detector's table to the faces the engine decides on, in one workgroup.
// params: table, anchors (weights), anchor count, boxes (arena scratch), result, slots, count
// cell, detector size, most kept, most scored, IoU threshold, min confidence, person score,
// bystander ratio, the 4 template points (x, y) of the student's aligned view, and the
// offsets of the result's rows and scored list (facegate-engine `readback::at`).
// Mirrors facegate-face (`Detector::keep`, `people`) and facegate-engine (`Engine::faces`'
// scoring order); the engine checks what it gets and recomputes on the CPU if they differ.
const ROW: u32 = 17u;
const MAX_SCORED: u32 = 4u;
var<workgroup> score: array<f32, 1024>;
var<workgroup> open: array<u32, 1024>;
var<workgroup> best_v: array<f32, 256>;
var<workgroup> best_i: array<u32, 256>;
var<workgroup> kept: array<u32, 16>;
var<workgroup> n_kept: u32;
var<workgroup> finished: u32;

fn box_at(i: u32, k: u32) -> f32 {
  return arena[p(3u) + i * 4u + k];
}

fn iou(i: u32, j: u32) -> f32 {
  let a0 = min(box_at(i, 0u), box_at(i, 2u)); let a1 = min(box_at(i, 1u), box_at(i, 3u));
  let a2 = max(box_at(i, 0u), box_at(i, 2u)); let a3 = max(box_at(i, 1u), box_at(i, 3u));
  let b0 = min(box_at(j, 0u), box_at(j, 2u)); let b1 = min(box_at(j, 1u), box_at(j, 3u));
  let b2 = max(box_at(j, 0u), box_at(j, 2u)); let b3 = max(box_at(j, 1u), box_at(j, 3u));
  let area_a = (a2 - a0) * (a3 - a1);
  let area_b = (b2 - b0) * (b3 - b1);
  if (area_a <= 0.0 || area_b <= 0.0) {
    return 0.0;
  }
  let inter = max(min(a2, b2) - max(a0, b0), 0.0) * max(min(a3, b3) - max(a1, b1), 0.0);
  return inter / (area_a + area_b - inter);
}

@compute @workgroup_size(256)
fn select_faces(@builtin(local_invocation_index) t: u32) {
  let table = p(0u); let anchors = p(1u); let n = p(2u); let boxes = p(3u);
  let size = f32(p(7u));
  for (var i = t; i < n; i += 256u) {
    let row = table + i * ROW;
    let s = 1.0 / (1.0 + exp(-arena[row]));
    score[i] = s;
    open[i] = select(0u, 1u, s > pf(11u));
    let cx = (arena[row + 1u] + weights[anchors + i * 2u]) / size;
    let cy = (arena[row + 2u] + weights[anchors + i * 2u + 1u]) / size;
    let hw = arena[row + 3u] / size / 2.0;
    let hh = arena[row + 4u] / size / 2.0;
    arena[boxes + i * 4u] = (cx - hw) * size;
    arena[boxes + i * 4u + 1u] = (cy - hh) * size;
    arena[boxes + i * 4u + 2u] = (cx + hw) * size;
    arena[boxes + i * 4u + 3u] = (cy + hh) * size;
  }
  if (t == 0u) {
    n_kept = 0u;
    finished = 0u;
  }
  storageBarrier();
  workgroupBarrier();
  // Greedy suppression: the best open candidate (ties: the lower index) is kept unless it
  // overlaps a kept one; one candidate closes per round.
  loop {
    var v = -1.0;
    var best_at = NONE;
    for (var i = t; i < n; i += 256u) {
      if (open[i] == 1u && score[i] > v) {
        v = score[i];
        best_at = i;
      }
    }
    best_v[t] = v;
    best_i[t] = best_at;
    workgroupBarrier();
    for (var span = 128u; span > 0u; span /= 2u) {
      if (t < span) {
        let ov = best_v[t + span];
        let oi = best_i[t + span];
        if (ov > best_v[t] || (ov == best_v[t] && oi < best_i[t])) {
          best_v[t] = ov;
          best_i[t] = oi;
        }
      }
      workgroupBarrier();
    }
    if (t == 0u) {
      let i = best_i[0];
      if (i == NONE || n_kept >= p(8u)) {
        finished = 1u;
      } else {
        open[i] = 0u;
        var clear = true;
        for (var k = 0u; k < n_kept; k++) {
          if (iou(i, kept[k]) >= pf(10u)) {
            clear = false;
          }
        }
        if (clear) {
          kept[n_kept] = i;
          n_kept += 1u;
        }
      }
    }
    if (workgroupUniformLoad(&finished) == 1u) {
      break;
    }
  }
  if (t != 0u) {
    return;
  }
  // People (confident, not bystanders) first, then confident bystanders: Engine::faces' order.
  let result = p(4u); let slots = p(5u);
  let fx = f32(frame[0]) / size;
  let fy = f32(frame[1]) / size;
  var largest = 0.0;
  var side: array<f32, 16>;
  for (var k = 0u; k < n_kept; k++) {
    let i = kept[k];
    side[k] = max((box_at(i, 2u) - box_at(i, 0u)) * fx, (box_at(i, 3u) - box_at(i, 1u)) * fy);
    if (score[i] >= pf(12u)) {
      largest = max(largest, side[k]);
    }
    arena[result + p(22u) + k * (ROW + 1u)] = f32(i);
    for (var c = 0u; c < ROW; c++) {
      arena[result + p(22u) + k * (ROW + 1u) + 1u + c] = arena[table + i * ROW + c];
    }
  }
  var scored: array<u32, 4>;
  var n_scored = 0u;
  var people = 0u;
  for (var round = 0u; round < 2u; round++) {
    for (var k = 0u; k < n_kept; k++) {
      let confident = score[kept[k]] >= pf(12u);
      let person = confident && side[k] >= pf(13u) * largest;
      if (person && round == 0u) {
        people += 1u;
      }
      if (confident && (person == (round == 0u)) && n_scored < min(p(9u), MAX_SCORED)) {
        scored[n_scored] = k;
        n_scored += 1u;
      }
    }
  }
  var degenerate = 0u;
  for (var s = 0u; s < n_scored; s++) {
    let k = scored[s];
    let i = kept[k];
    arena[result + p(23u) + s] = f32(k);
    // Least-squares similarity from the four keypoints onto the template (facegate-face
    // `Similarity::fit`), then its inverse: crop pixel -> frame pixel.
    var src: array<vec2<f32>, 4>;
    var dst: array<vec2<f32>, 4>;
    var ms = vec2<f32>(0.0);
    var md = vec2<f32>(0.0);
    for (var q = 0u; q < 4u; q++) {
      let row = table + i * ROW + 5u + 2u * q;
      src[q] = vec2<f32>((arena[row] + weights[anchors + i * 2u]) * fx, (arena[row + 1u] + weights[anchors + i * 2u + 1u]) * fy);
      dst[q] = vec2<f32>(pf(14u + 2u * q), pf(15u + 2u * q));
      ms += src[q] / 4.0;
      md += dst[q] / 4.0;
    }
    var sdot = 0.0;
    var scross = 0.0;
    var norm = 0.0;
    for (var q = 0u; q < 4u; q++) {
      let a = src[q] - ms;
      let b = dst[q] - md;
      sdot += a.x * b.x + a.y * b.y;
      scross += a.x * b.y - a.y * b.x;
      norm += a.x * a.x + a.y * a.y;
    }
    let sa = sdot / norm;
    let sb = scross / norm;
    let tx = md.x - (sa * ms.x - sb * ms.y);
    let ty = md.y - (sb * ms.x + sa * ms.y);
    let d = sa * sa + sb * sb;
    if (!(norm > 1e-12) || !(d > 1e-12)) {
      degenerate = 1u;
    }
    let ia = sa / d;
    let ib = -sb / d;
    arena[slots + s * 8u] = ia;
    arena[slots + s * 8u + 1u] = ib;
    arena[slots + s * 8u + 2u] = -(ia * tx - ib * ty);
    arena[slots + s * 8u + 3u] = -(ib * tx + ia * ty);
    arena[slots + s * 8u + 4u] = 0.0;
  }
  // The mirror pass is for the one person a decision is made on (Engine::read_here).
  let mirror = select(0u, 1u, frame[2] == 1u && people == 1u && degenerate == 0u);
  if (mirror == 1u) {
    for (var c = 0u; c < 4u; c++) {
      arena[slots + n_scored * 8u + c] = arena[slots + c];
    }
    arena[slots + n_scored * 8u + 4u] = 1.0;
  }
  arena[result] = f32(n_kept);
  arena[result + 1u] = f32(n_scored);
  arena[result + 2u] = f32(mirror);
  arena[result + 3u] = f32(degenerate);
  arena[p(6u)] = f32(n_scored + mirror);
}

// params: slots, count cell, out, size. The student's crops: each slot's similarity sampled
// bilinearly (integer pixel centres, zero outside the frame: facegate-face `warp`), mirrored
// for the mirror slot, scaled to -1..1.
@compute @workgroup_size(64)
fn warp(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let i = index(gid, groups);
  let size = p(3u);
  let per = size * size;
  if (i >= images(p(1u), 8u) * per) {
    return;
  }
  let slot = p(0u) + (i / per) * 8u;
  let y = f32((i % per) / size);
  var x = f32(i % size);
  if (arena[slot + 4u] == 1.0) {
    x = f32(size - 1u) - x;
  }
  let a = arena[slot]; let b = arena[slot + 1u];
  let sx = a * x - b * y + arena[slot + 2u];
  let sy = b * x + a * y + arena[slot + 3u];
  let x0 = floor(sx);
  let y0 = floor(sy);
  let dx = sx - x0;
  let dy = sy - y0;
  let ix = i32(x0);
  let iy = i32(y0);
  for (var c = 0u; c < 3u; c++) {
    let top = pixel(ix, iy, c) * (1.0 - dx) + pixel(ix + 1, iy, c) * dx;
    let bot = pixel(ix, iy + 1, c) * (1.0 - dx) + pixel(ix + 1, iy + 1, c) * dx;
    arena[p(2u) + i * 3u + c] = (top * (1.0 - dy) + bot * dy) / 127.5 - 1.0;
  }
}

// head: the student's two heads, one workgroup per crop (facegate-runtime
// `StudentKernels::run_raw`). params: s2, s3, h2, w2, c2, h3, w3, c3, first row, first column,
// window side, face pool, embed weight, embed bias, live weight, live bias, count cell, out,
// embedding size.
var<workgroup> face: array<f32, 512>;
var<workgroup> features: array<f32, 1024>;
var<workgroup> live_crops: u32;

@compute @workgroup_size(256)
fn head(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  if (t == 0u) {
    live_crops = images(p(16u), 8u);
  }
  if (wid.x >= workgroupUniformLoad(&live_crops)) {
    return;
  }
  let h2 = p(2u); let w2 = p(3u); let c2 = p(4u); let h3 = p(5u); let w3 = p(6u); let c3 = p(7u);
  let k = p(10u);
  let s2 = p(0u) + wid.x * h2 * w2 * c2;
  let s3 = p(1u) + wid.x * h3 * w3 * c3;
  for (var c = t; c < c3; c += 256u) {
    var f = 0.0;
    for (var y = 0u; y < k; y++) {
      for (var x = 0u; x < k; x++) {
        f += arena[s3 + ((p(8u) + y) * w3 + p(9u) + x) * c3 + c] * weights[p(11u) + (c * k + y) * k + x];
      }
    }
    face[c] = f;
    var m = 0.0;
    for (var q = 0u; q < h3 * w3; q++) {
      m += arena[s3 + q * c3 + c];
    }
    features[c2 + c] = m / f32(h3 * w3);
  }
  for (var c = t; c < c2; c += 256u) {
    var m = 0.0;
    for (var q = 0u; q < h2 * w2; q++) {
      m += arena[s2 + q * c2 + c];
    }
    features[c] = m / f32(h2 * w2);
  }
  workgroupBarrier();
  let dim = p(18u);
  let dst_at = p(17u) + wid.x * (dim + 1u);
  for (var j = t; j < dim; j += 256u) {
    var e = weights[p(13u) + j];
    for (var c = 0u; c < c3; c++) {
      e += face[c] * weights[p(12u) + c * dim + j];
    }
    arena[dst_at + j] = e;
  }
  if (t == 0u) {
    var logit = weights[p(15u)];
    for (var c = 0u; c < c2 + c3; c++) {
      logit += features[c] * weights[p(14u) + c];
    }
    arena[dst_at + dim] = logit;
  }
}
