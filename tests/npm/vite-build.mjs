// Installs the packed npm tarball into a fresh Vite project and builds it, as a web developer
// would: the import resolves, the types ship, and both .wasm files end up in the bundle.
// Run by ./build.sh test after ./build.sh build has made target/facegate-<version>.tgz.

import { build } from 'vite';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const tarballs = fs.readdirSync(path.join(root, 'target')).filter((f) => /^facegate-.*\.tgz$/.test(f));
assert.equal(tarballs.length, 1, `expected one target/facegate-*.tgz, found ${tarballs}`);
const tarball = path.join(root, 'target', tarballs[0]);

const app = fs.mkdtempSync(path.join(os.tmpdir(), 'facegate-vite-'));
fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
fs.writeFileSync(path.join(app, 'index.html'), '<!doctype html><video></video><script type="module" src="./main.js"></script>\n');
fs.writeFileSync(
  path.join(app, 'main.js'),
  "import { FaceGate, FaceGateError } from 'facegate';\n" +
    "const gate = await FaceGate.create();\n" +
    "try { await gate.verify(document.querySelector('video'), 'FGT1.AAAA'); } catch (e) { console.log(e instanceof FaceGateError, e.code); }\n",
);
execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: app, stdio: 'inherit' });

const pkg = path.join(app, 'node_modules/facegate');
const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
assert.equal(manifest.type, 'module');
assert.equal(manifest.sideEffects, false);
assert.ok(fs.existsSync(path.join(pkg, manifest.types)), 'types file ships');
assert.ok(manifest.exports['.'].default && manifest.exports['./worker'], 'exports map');

await build({ root: app, logLevel: 'warn', build: { outDir: path.join(app, 'dist'), target: 'es2022' } });
const assets = fs.readdirSync(path.join(app, 'dist/assets'));
const wasm = assets.filter((f) => f.endsWith('.wasm'));
assert.equal(wasm.length, 2, `both wasm builds are bundled: ${assets}`);
const js = assets.filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(app, 'dist/assets', f), 'utf8')).join('\n');
for (const w of wasm) assert.ok(js.includes(w), `bundle references ${w}`);
fs.rmSync(app, { recursive: true, force: true });
console.log(`test result: ok. 1 passed; 0 failed (vite build of ${path.basename(tarball)}: ${wasm.join(', ')})`);
