/** Every error facegate raises; `code` is stable and safe to switch on. */
export class FaceGateError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'FaceGateError';
    this.code = code;
  }
}

/** Rejects with ABORTED if `signal` has fired. */
export function checkAbort(signal) {
  if (signal?.aborted) throw new FaceGateError('ABORTED', `aborted: ${signal.reason?.message ?? signal.reason ?? 'by the caller'}`);
}
