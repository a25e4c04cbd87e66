// Builds the sample page as any app using the `facegate` npm package would; adds one thing,
// precache.json (every emitted file), which the service worker caches for offline use.

import { defineConfig } from 'vite';

function precacheList() {
  return {
    name: 'facegate-precache-list',
    generateBundle(_, bundle) {
      const files = Object.keys(bundle).filter((f) => !f.endsWith('.map'));
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
