// Where the sample page keeps its enrolment: the sealed template, in one IndexedDB store. Its
// key lives in the package's key store (`templateKey`); "Forget me" deletes both.

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

/** The enrolled template ({template, enrolledAt}) or undefined. */
export const loadEnrolment = () => get('enrolment');

export const saveEnrolment = (template) => put('enrolment', { template, enrolledAt: new Date().toISOString() });

/** Deletes the template. */
export const forget = () => tx('readwrite', (s) => s.clear());
