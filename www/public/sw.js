// Offline after the first visit: on install, caches every file of the build (listed in
// precache.json, written by vite.config.js); then serves from that cache when the network
// fails. Same-origin GETs only: the page makes no other requests.

const CACHE = 'facegate-login-v1';

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const list = await (await fetch('./precache.json', { cache: 'no-store' })).json();
    const cache = await caches.open(CACHE);
    await cache.addAll(['./', ...list]);
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET' || new URL(req.url).origin !== self.location.origin) return;
  // Network first, so a new build is picked up when online; the cache when offline.
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const fresh = await fetch(req);
      if (fresh.ok) await cache.put(req, fresh.clone());
      return fresh;
    } catch (e) {
      const hit = await cache.match(req, { ignoreSearch: true }) ?? (req.mode === 'navigate' ? await cache.match('./') : undefined);
      if (hit) return hit;
      throw e;
    }
  })());
});
