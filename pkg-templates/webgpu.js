// The WebGPU backend, loaded only when a page asks for `backend: 'webgpu'`. It knows no
// network: it replays the program facegate-gpu wrote at build time (webgpu/program.json: WGSL
// kernels, buffer sizes, one dispatch per step) on the weights beside it (webgpu/weights.bin),
// one command buffer and one readback per frame. What the readback means (faces, scores,
// decisions) is decided by the engine in the default wasm, as for the CPU backend.

const BINDINGS = [
  { binding: 0, visibility: 4, buffer: { type: 'storage' } },
  { binding: 1, visibility: 4, buffer: { type: 'read-only-storage' } },
  { binding: 2, visibility: 4, buffer: { type: 'uniform' } },
  { binding: 3, visibility: 4, buffer: { type: 'read-only-storage' } },
];
/** Each step's parameters sit at their own 256-byte offset (WebGPU's uniform alignment). */
const PARAM_STRIDE = 256;
/** [width, height, mirror, 0] before the frame's pixels. */
const HEADER_BYTES = 16;
const PROGRAM_FORMAT = 1;

/** Why the GPU cannot run the program here; the caller falls back to the CPU. */
export class GpuUnavailable extends Error {
  constructor(message) {
    super(message);
    this.name = 'GpuUnavailable';
  }
}

async function fetchOk(url, as) {
  const r = await fetch(url);
  if (!r.ok) throw new GpuUnavailable(`could not fetch ${url}: HTTP ${r.status}`);
  return as === 'json' ? r.json() : r.arrayBuffer();
}

/**
 * Starts the program on a GPU device. `modelId` must be the default wasm's (the program
 * belongs to one model); `adapter` overrides `navigator.gpu.requestAdapter()` (tests force a
 * failure with it). Rejects with GpuUnavailable when there is no adapter, the device or a
 * shader cannot be made, or the files do not belong to this model.
 */
export async function createGpu({ modelId, programUrl, weightsUrl, adapter } = {}) {
  const gpu = typeof navigator !== 'undefined' ? navigator.gpu : undefined;
  if (!gpu) throw new GpuUnavailable('this browser has no WebGPU (navigator.gpu)');
  const [program, weights, found] = await Promise.all([
    fetchOk(programUrl ?? new URL('./webgpu/program.json', import.meta.url), 'json'),
    fetchOk(weightsUrl ?? new URL('./webgpu/weights.bin', import.meta.url)),
    adapter ? adapter() : gpu.requestAdapter(),
  ]);
  if (!found) throw new GpuUnavailable('no WebGPU adapter');
  if (program.format !== PROGRAM_FORMAT) throw new GpuUnavailable(`program format ${program.format}, this module runs ${PROGRAM_FORMAT}`);
  if (modelId && program.modelId !== modelId) throw new GpuUnavailable(`the WebGPU program is for model ${program.modelId}, the engine runs ${modelId}`);
  if (weights.byteLength !== program.weights * 4) throw new GpuUnavailable(`weights.bin has ${weights.byteLength} bytes, the program ${program.weights * 4}`);
  const device = await found.requestDevice();
  const info = found.info ?? {};
  const runner = new Gpu(device, program, weights, `${info.vendor ?? ''} ${info.architecture ?? ''}`.trim() || 'unknown');
  try {
    return await runner.compile();
  } catch (e) {
    runner.destroy();
    throw e;
  }
}

class Gpu {
  #device;
  #program;
  #arena;
  #params;
  #weights;
  #frame = null;
  #frameBytes = 0;
  #groups = [];
  #pipelines = new Map();
  #layout;
  #readback;
  #queue = Promise.resolve();
  #lost = null;
  /** Per frame: dispatches, readbacks and bytes read back (the bench reports them). */
  stats;
  adapter;

  constructor(device, program, weights, adapter) {
    this.#device = device;
    this.#program = program;
    this.adapter = adapter;
    this.stats = { dispatches: program.steps.length, readbacks: 1, readbackBytes: program.resultLen * 4 };
    device.lost.then((info) => {
      this.#lost = new GpuUnavailable(`the WebGPU device was lost: ${info.message || info.reason}`);
    });
    const usage = GPUBufferUsage;
    this.#arena = device.createBuffer({ size: program.arena * 4, usage: usage.STORAGE | usage.COPY_SRC | usage.COPY_DST });
    this.#weights = device.createBuffer({ size: Math.max(4, weights.byteLength), usage: usage.STORAGE | usage.COPY_DST });
    device.queue.writeBuffer(this.#weights, 0, weights);
    this.#params = device.createBuffer({ size: program.steps.length * PARAM_STRIDE, usage: usage.UNIFORM | usage.COPY_DST });
    const params = new Uint32Array((program.steps.length * PARAM_STRIDE) / 4);
    program.steps.forEach((s, k) => params.set(s.params, (k * PARAM_STRIDE) / 4));
    device.queue.writeBuffer(this.#params, 0, params);
    this.#readback = device.createBuffer({ size: program.resultLen * 4, usage: usage.MAP_READ | usage.COPY_DST });
    this.#layout = device.createBindGroupLayout({ entries: BINDINGS });
  }

  /** Compiles the kernels; a shader error rejects with GpuUnavailable. */
  async compile() {
    const device = this.#device;
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code: this.#program.wgsl });
    const messages = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
    if (messages.length) {
      await device.popErrorScope();
      throw new GpuUnavailable(`WGSL: ${messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ')}`);
    }
    const layout = device.createPipelineLayout({ bindGroupLayouts: [this.#layout] });
    for (const kernel of new Set(this.#program.steps.map((s) => s.kernel))) {
      this.#pipelines.set(kernel, await device.createComputePipelineAsync({ layout, compute: { module, entryPoint: kernel } }));
    }
    const error = await device.popErrorScope();
    if (error) throw new GpuUnavailable(`WebGPU: ${error.message}`);
    return this;
  }

  /** The frame buffer, grown to hold `bytes` of pixels; the bind groups follow it. */
  #frameFor(bytes) {
    if (this.#frame && this.#frameBytes >= bytes) return;
    this.#frame?.destroy();
    this.#frameBytes = Math.max(bytes, 640 * 480 * 4);
    this.#frame = this.#device.createBuffer({ size: HEADER_BYTES + this.#frameBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    this.#groups = this.#program.steps.map((_, k) =>
      this.#device.createBindGroup({
        layout: this.#layout,
        entries: [
          { binding: 0, resource: { buffer: this.#arena } },
          { binding: 1, resource: { buffer: this.#weights } },
          { binding: 2, resource: { buffer: this.#params, offset: k * PARAM_STRIDE, size: 128 } },
          { binding: 3, resource: { buffer: this.#frame } },
        ],
      }),
    );
  }

  /** Runs every step on an RGBA frame `{data, width, height}` (`mirror`: also the mirror pass
   * enrol and verify need). Resolves to the readback (facegate-engine's layout); `probes`:
   * also the named arena values, for parity tests. Frames run one after another. */
  run(frame, mirror, probes = []) {
    const next = this.#queue.then(() => this.#run(frame, mirror, probes));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #run({ data, width, height }, mirror, probes) {
    if (this.#lost) throw this.#lost;
    const device = this.#device;
    this.#frameFor(data.byteLength);
    device.queue.writeBuffer(this.#frame, 0, new Uint32Array([width, height, mirror ? 1 : 0, 0]));
    device.queue.writeBuffer(this.#frame, HEADER_BYTES, data.buffer, data.byteOffset, data.byteLength);
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder();
    const { result, resultLen } = this.#program;
    // Rows and slots this frame does not fill read back as zeros, never as an earlier frame's.
    encoder.clearBuffer(this.#arena, result * 4, resultLen * 4);
    const pass = encoder.beginComputePass();
    this.#program.steps.forEach((s, k) => {
      pass.setPipeline(this.#pipelines.get(s.kernel));
      pass.setBindGroup(0, this.#groups[k]);
      pass.dispatchWorkgroups(...s.groups);
    });
    pass.end();
    encoder.copyBufferToBuffer(this.#arena, result * 4, this.#readback, 0, resultLen * 4);
    const wanted = probes.map((name) => this.#program.probes.find((p) => p.name === name) ?? { name, missing: true });
    const extra = wanted.filter((p) => !p.missing).reduce((n, p) => n + p.len, 0);
    const probeBuffer = extra ? device.createBuffer({ size: extra * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : null;
    let at = 0;
    for (const p of wanted.filter((p) => !p.missing)) {
      encoder.copyBufferToBuffer(this.#arena, p.at * 4, probeBuffer, at * 4, p.len * 4);
      at += p.len;
    }
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) throw new GpuUnavailable(`WebGPU: ${error.message}`);
    try {
      await this.#readback.mapAsync(GPUMapMode.READ);
    } catch (e) {
      throw this.#lost ?? new GpuUnavailable(`WebGPU readback failed: ${e.message}`);
    }
    const out = new Float32Array(this.#readback.getMappedRange().slice(0));
    this.#readback.unmap();
    if (!probeBuffer) return out;
    await probeBuffer.mapAsync(GPUMapMode.READ);
    const all = new Float32Array(probeBuffer.getMappedRange().slice(0));
    probeBuffer.destroy();
    const values = {};
    at = 0;
    for (const p of wanted) {
      if (p.missing) continue;
      values[p.name] = all.subarray(at, at + p.len);
      at += p.len;
    }
    return { result: out, probes: values };
  }

  /** Program facts for tests and the bench: steps per kernel and the probes it offers. */
  describe() {
    const kernels = {};
    for (const s of this.#program.steps) kernels[s.kernel] = (kernels[s.kernel] ?? 0) + 1;
    return { kernels, probes: this.#program.probes.map((p) => ({ name: p.name, kernel: p.kernel, len: p.len })), adapter: this.adapter };
  }

  destroy() {
    this.#frame?.destroy();
    this.#arena.destroy();
    this.#weights.destroy();
    this.#params.destroy();
    this.#readback.destroy();
    this.#device.destroy();
  }
}
