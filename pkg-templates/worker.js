// Worker entry: hosts one FaceGate off the page's main thread. Messages are
// {id, method, args}; replies are {id, result} or {id, error: {code, message}}.
// Use it through FaceGateWorker (facegate.js), not directly.

import { FaceGate, FaceGateError } from './facegate.js';

let gate = null;

self.onmessage = async (event) => {
  const { id, method, args } = event.data;
  try {
    let result;
    if (method === 'create') {
      gate = await FaceGate.create(args[0] ?? {});
      result = gate.info();
    } else if (!gate) {
      throw new FaceGateError('NOT_READY', 'the worker has no engine yet');
    } else if (['analyze', 'enroll', 'verify', 'info', 'setThresholds'].includes(method)) {
      result = await gate[method](...args);
    } else {
      throw new FaceGateError('BAD_ARGUMENT', `unknown method ${method}`);
    }
    self.postMessage({ id, result });
  } catch (e) {
    self.postMessage({ id, error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(e) } });
  }
};
