// Builds the sample page as any app using the `facegate` npm package would; adds one thing,
// precache.json (every emitted file but the WebGPU backend's), which the service worker caches
// for offline use.

import { defineConfig } from 'vite';

function precacheList() {
  return {
    name: 'facegate-precache-list',
    generateBundle(_, bundle) {
      // The WebGPU backend's files (1.5 MB, mostly float32 weights) are emitted because the
      // package names them, but this page runs the default backend: they are not cached.
      const webgpu = (f) => (bundle[f].originalFileNames ?? []).some((n) => /facegate\/webgpu(\.js$|\/)/.test(n));
      const files = Object.keys(bundle).filter((f) => !f.endsWith('.map') && !webgpu(f));
      this.emitFile({ type: 'asset', fileName: 'precache.json', source: JSON.stringify(files.sort(), null, 1) });
    },
  };
}

export default defineConfig({
  base: './',
  build: { target: 'es2022', assetsInlineLimit: 0, emptyOutDir: true },
  worker: { format: 'es' },
  plugins: [precacheList()],
});
