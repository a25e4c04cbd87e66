// Just enough of the W3C WebDriver protocol to drive Debian's headless Chromium through
// Debian's chromedriver (no downloaded browser, no extra npm dependency).

import { spawn } from 'node:child_process';
import net from 'node:net';

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export async function startChrome(extraArgs = []) {
  const port = await freePort();
  const driver = spawn(process.env.CHROMEDRIVER ?? '/usr/bin/chromedriver', [`--port=${port}`], { stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/status`)).ok) break;
    } catch {}
    if (i > 100) throw new Error('chromedriver did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const call = async (method, path, body) => {
    const r = await fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
    const j = await r.json();
    if (j.value && j.value.error) throw new Error(`${j.value.error}: ${j.value.message}`);
    return j.value;
  };
  const args = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', ...extraArgs];
  const capabilities = { browserName: 'chrome', 'goog:loggingPrefs': { browser: 'ALL' }, 'goog:chromeOptions': { binary: process.env.CHROMIUM ?? '/usr/bin/chromium', args } };
  const session = await call('POST', '/session', { capabilities: { alwaysMatch: capabilities } });
  const id = session.sessionId;
  return {
    go: (url) => call('POST', `/session/${id}/url`, { url }),
    eval: (script, args = []) => call('POST', `/session/${id}/execute/sync`, { script, args }),
    /** Runs `script` with a `done` callback as its last argument (execute/async). */
    evalAsync: (script, args = []) => call('POST', `/session/${id}/execute/async`, { script, args }),
    /** A WebAuthn virtual authenticator (W3C WebAuthn, WebDriver extension). */
    addVirtualAuthenticator: (options) => call('POST', `/session/${id}/webauthn/authenticator`, options),
    screenshot: async () => Buffer.from(await call('GET', `/session/${id}/screenshot`), 'base64'),
    /** The page's console since the last call ({level, message}). */
    consoleLog: () => call('POST', `/session/${id}/se/log`, { type: 'browser' }),
    async quit() {
      try {
        await call('DELETE', `/session/${id}`);
      } finally {
        driver.kill();
      }
    },
  };
}
