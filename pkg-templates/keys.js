// Template keys kept in this origin's IndexedDB. The browser stores a CryptoKey object, and
// a non-extractable one never shows its bytes to any script, page or extension API. With a
// passphrase, only a wrapped form is stored: AES-KW under a key derived from the passphrase
// (PBKDF2-SHA-256, 600,000 iterations, a random salt), so the stored record alone opens nothing.

import { FaceGateError } from './errors.js';

const DB = 'facegate-keys';
const STORE = 'keys';
const ITERATIONS = 600_000;
const USAGES = ['encrypt', 'decrypt'];

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new FaceGateError('KEY_STORE', `IndexedDB is unavailable: ${req.error?.message}`));
  });
}

async function tx(mode, f) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const req = f(t.objectStore(STORE));
      t.oncomplete = () => resolve(req && req.result);
      t.onerror = () => reject(new FaceGateError('KEY_STORE', `IndexedDB: ${t.error?.message}`));
      t.onabort = () => reject(new FaceGateError('KEY_STORE', `IndexedDB: ${t.error?.message}`));
    });
  } finally {
    db.close();
  }
}

async function wrappingKey(passphrase, salt, iterations) {
  const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(passphrase), 'PBKDF2', false, ['deriveKey']);
  return crypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, material, { name: 'AES-KW', length: 256 }, false, ['wrapKey', 'unwrapKey']);
}

/**
 * The AES-GCM key that seals templates, kept under `name` in IndexedDB; made on first use.
 * Without `passphrase` it is a non-extractable key stored as is. With one, it is stored
 * wrapped, and opening it again needs the same passphrase (WRONG_PASSPHRASE otherwise).
 */
export async function templateKey({ name = 'default', passphrase } = {}) {
  if (passphrase !== undefined && (typeof passphrase !== 'string' || passphrase.length < 8)) {
    throw new FaceGateError('BAD_ARGUMENT', 'a passphrase is a string of at least 8 characters');
  }
  const record = await tx('readonly', (s) => s.get(name));
  if (record?.key) {
    if (passphrase !== undefined) throw new FaceGateError('BAD_ARGUMENT', `key "${name}" is stored without a passphrase`);
    return record.key;
  }
  if (record?.wrapped) {
    if (passphrase === undefined) throw new FaceGateError('PASSPHRASE_REQUIRED', `key "${name}" is protected by a passphrase`);
    const kek = await wrappingKey(passphrase, record.salt, record.iterations);
    try {
      return await crypto.subtle.unwrapKey('raw', record.wrapped, kek, 'AES-KW', { name: 'AES-GCM' }, false, USAGES);
    } catch {
      throw new FaceGateError('WRONG_PASSPHRASE', `the passphrase does not open key "${name}"`);
    }
  }
  if (passphrase === undefined) {
    const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, USAGES);
    await tx('readwrite', (s) => s.put({ key }, name));
    return key;
  }
  // Extractable only for the moment it takes to wrap it; the key handed out is not.
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const kek = await wrappingKey(passphrase, salt, ITERATIONS);
  const fresh = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, USAGES);
  const wrapped = new Uint8Array(await crypto.subtle.wrapKey('raw', fresh, kek, 'AES-KW'));
  await tx('readwrite', (s) => s.put({ wrapped, salt, iterations: ITERATIONS }, name));
  return crypto.subtle.unwrapKey('raw', wrapped, kek, 'AES-KW', { name: 'AES-GCM' }, false, USAGES);
}

/** Deletes the key `name`: every template it sealed stops opening. */
export function forgetTemplateKey(name = 'default') {
  return tx('readwrite', (s) => s.delete(name));
}
