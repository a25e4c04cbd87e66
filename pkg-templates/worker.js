// Worker entry: hosts one FaceGate off the page's main thread. Messages are
// {id, method, args}; replies are {id, result} or {id, error: {code, message}}, and
// {progress} while the engine loads. Use it through FaceGateWorker (facegate.js).

import { FaceGate, FaceGateError } from './facegate.js';

let gate = null;

/** Transferred bitmaps and video frames hold pixels until closed. */
function release(args) {
  for (const a of args.flat()) {
    if (typeof a?.close === 'function' && ((typeof ImageBitmap !== 'undefined' && a instanceof ImageBitmap) || (typeof VideoFrame !== 'undefined' && a instanceof VideoFrame))) a.close();
  }
}

self.onmessage = async (event) => {
  const { id, method, args } = event.data;
  try {
    let result;
    if (method === 'create') {
      const options = args[0] ?? {};
      gate = await FaceGate.create({ ...options, onProgress: options.onProgress ? (progress) => self.postMessage({ progress }) : undefined });
      result = gate.info();
    } else if (!gate) {
      throw new FaceGateError('NOT_READY', 'the worker has no engine yet');
    } else if (method === 'analyze') {
      // The asynchronous form: on the GPU when the worker's engine runs 'webgpu'.
      result = await gate.analyzeAsync(...args);
    } else if (['enroll', 'verify', 'info', 'setThresholds', 'needsReenrolment'].includes(method)) {
      result = await gate[method](...args);
    } else {
      throw new FaceGateError('BAD_ARGUMENT', `unknown method ${method}`);
    }
    self.postMessage({ id, result });
  } catch (e) {
    self.postMessage({ id, error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(e) } });
  } finally {
    release(args ?? []);
  }
};
