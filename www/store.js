// Where the sample page keeps its state: one IndexedDB store holding the AES-GCM key (a
// non-extractable CryptoKey: the browser stores it but no script can read its bytes) and the
// template sealed with it. "Forget me" deletes both.

const DB = 'facegate-login';
const STORE = 'kv';

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx(mode, f) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = f(t.objectStore(STORE));
      t.oncomplete = () => resolve(req && req.result);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  } finally {
    db.close();
  }
}

const get = (k) => tx('readonly', (s) => s.get(k));
const put = (k, v) => tx('readwrite', (s) => s.put(v, k));

/** This browser's template key, generated (non-extractable) on first use. */
export async function templateKey() {
  const existing = await get('key');
  if (existing) return existing;
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  await put('key', key);
  return key;
}

/** The enrolled template ({template, enrolledAt}) or undefined. */
export const loadEnrolment = () => get('enrolment');

export const saveEnrolment = (template) => put('enrolment', { template, enrolledAt: new Date().toISOString() });

/** Deletes the template and the key that sealed it. */
export const forget = () => tx('readwrite', (s) => s.clear());
