// Template keys kept in this origin's IndexedDB. The browser stores a CryptoKey object, and
// a non-extractable one never shows its bytes to any script, page or extension API. With a
// passphrase or a passkey, only a wrapped form is stored: AES-KW under a key derived from the
// passphrase (PBKDF2-SHA-256, 600,000 iterations, a random salt) or from the passkey's PRF
// output (WebAuthn `prf` extension, HKDF-SHA-256), so the stored record alone opens nothing.

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

/** Does this browser offer passkeys with the PRF extension (what `passkey` needs)? */
export async function passkeySupported() {
  if (typeof PublicKeyCredential === 'undefined') return false;
  try {
    const caps = await PublicKeyCredential.getClientCapabilities?.();
    return Boolean(caps?.['extension:prf']);
  } catch {
    return false;
  }
}

const PRF_INFO = new TextEncoder().encode('facegate template key wrapping');

/** The passkey's PRF output for `salt`, as an AES-KW key (HKDF-SHA-256). */
async function passkeyWrappingKey(credentialId, salt, rpId) {
  let assertion;
  try {
    assertion = await navigator.credentials.get({
      publicKey: {
        challenge: crypto.getRandomValues(new Uint8Array(32)),
        rpId,
        allowCredentials: [{ type: 'public-key', id: credentialId }],
        userVerification: 'required',
        extensions: { prf: { eval: { first: salt } } },
      },
    });
  } catch (e) {
    throw new FaceGateError('PASSKEY_FAILED', `the passkey was not used (${e.name}: ${e.message})`);
  }
  const first = assertion?.getClientExtensionResults().prf?.results?.first;
  if (!first) throw new FaceGateError('PASSKEY_UNAVAILABLE', 'this passkey gives no PRF output');
  const material = await crypto.subtle.importKey('raw', first, 'HKDF', false, ['deriveKey']);
  return crypto.subtle.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt, info: PRF_INFO }, material, { name: 'AES-KW', length: 256 }, false, ['wrapKey', 'unwrapKey']);
}

/** A new passkey with the PRF extension on; its credential id. */
async function createPasskey({ rpId, userName = 'facegate' }) {
  let credential;
  try {
    credential = await navigator.credentials.create({
      publicKey: {
        rp: { name: 'facegate template key', id: rpId },
        user: { id: crypto.getRandomValues(new Uint8Array(16)), name: userName, displayName: userName },
        challenge: crypto.getRandomValues(new Uint8Array(32)),
        pubKeyCredParams: [{ type: 'public-key', alg: -7 }, { type: 'public-key', alg: -257 }],
        authenticatorSelection: { userVerification: 'required', residentKey: 'preferred' },
        extensions: { prf: {} },
      },
    });
  } catch (e) {
    throw new FaceGateError('PASSKEY_FAILED', `no passkey was made (${e.name}: ${e.message})`);
  }
  if (!credential?.getClientExtensionResults().prf?.enabled) throw new FaceGateError('PASSKEY_UNAVAILABLE', 'the authenticator does not support the PRF extension');
  return new Uint8Array(credential.rawId);
}

/**
 * The AES-GCM key that seals templates, kept under `name` in IndexedDB; made on first use.
 * Without `passphrase` or `passkey` it is a non-extractable key stored as is. With one, it is
 * stored wrapped, and opening it again needs the same passphrase (WRONG_PASSPHRASE otherwise)
 * or the same passkey (`passkey: { rpId, userName }`: a WebAuthn credential with the PRF
 * extension, made on first use; see `passkeySupported`).
 */
export async function templateKey({ name = 'default', passphrase, passkey } = {}) {
  if (passphrase !== undefined && (typeof passphrase !== 'string' || passphrase.length < 8)) {
    throw new FaceGateError('BAD_ARGUMENT', 'a passphrase is a string of at least 8 characters');
  }
  if (passphrase !== undefined && passkey !== undefined) throw new FaceGateError('BAD_ARGUMENT', 'a passphrase or a passkey, not both');
  const record = await tx('readonly', (s) => s.get(name));
  const kind = passphrase !== undefined ? 'passphrase' : passkey !== undefined ? 'passkey' : 'plain';
  const stored = record?.key ? 'plain' : record?.passkey ? 'passkey' : record?.wrapped ? 'passphrase' : null;
  if (stored && stored !== kind) {
    if (stored === 'passphrase') throw new FaceGateError('PASSPHRASE_REQUIRED', `key "${name}" is protected by a passphrase`);
    throw new FaceGateError('BAD_ARGUMENT', `key "${name}" is stored ${stored === 'plain' ? 'without protection' : 'under a passkey'}`);
  }
  if (stored === 'plain') return record.key;
  const unwrap = (wrapped, kek) => crypto.subtle.unwrapKey('raw', wrapped, kek, 'AES-KW', { name: 'AES-GCM' }, false, USAGES);
  if (stored === 'passphrase') {
    const kek = await wrappingKey(passphrase, record.salt, record.iterations);
    try {
      return await unwrap(record.wrapped, kek);
    } catch {
      throw new FaceGateError('WRONG_PASSPHRASE', `the passphrase does not open key "${name}"`);
    }
  }
  if (stored === 'passkey') {
    const kek = await passkeyWrappingKey(record.passkey.credentialId, record.passkey.salt, record.passkey.rpId);
    try {
      return await unwrap(record.wrapped, kek);
    } catch {
      throw new FaceGateError('PASSKEY_FAILED', `this passkey does not open key "${name}"`);
    }
  }
  if (kind === 'plain') {
    const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, USAGES);
    await tx('readwrite', (s) => s.put({ key }, name));
    return key;
  }
  // Extractable only for the moment it takes to wrap it; the key handed out is not.
  const salt = crypto.getRandomValues(new Uint8Array(kind === 'passkey' ? 32 : 16));
  let kek;
  let extra;
  if (kind === 'passkey') {
    const rpId = passkey.rpId ?? location.hostname;
    const credentialId = await createPasskey({ ...passkey, rpId });
    kek = await passkeyWrappingKey(credentialId, salt, rpId);
    extra = { passkey: { credentialId, salt, rpId } };
  } else {
    kek = await wrappingKey(passphrase, salt, ITERATIONS);
    extra = { salt, iterations: ITERATIONS };
  }
  const fresh = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, USAGES);
  const wrapped = new Uint8Array(await crypto.subtle.wrapKey('raw', fresh, kek, 'AES-KW'));
  await tx('readwrite', (s) => s.put({ wrapped, ...extra }, name));
  return unwrap(wrapped, kek);
}

/** Deletes the key `name`: every template it sealed stops opening. */
export function forgetTemplateKey(name = 'default') {
  return tx('readwrite', (s) => s.delete(name));
}
