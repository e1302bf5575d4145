// pagelm's service worker: the app shell is cached on install, and every same-origin GET is served
// cache-first with runtime caching (hashed build assets, the engine worker, shaders), so a reload
// without network still shows the chat; the models themselves live in IndexedDB (the store), so
// pack files (/models/…) and range requests pass straight through to the network.
const CACHE = 'pagelm-shell-v1';
const SHELL = ['/', '/index.html', '/manifest.webmanifest', '/icon.svg', '/icon-192.png', '/icon-512.png'];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  // Model files go to IndexedDB, not here: the store fetches with cache: 'no-store' (any pack URL).
  if (req.cache === 'no-store' || url.pathname.startsWith('/models/') || req.headers.has('range')) return;
  if (url.pathname === '/sw.js') return;
  if (req.mode === 'navigate') {
    // Pages: network first (fresh HTML after a deploy), the cached shell when offline.
    event.respondWith(
      fetch(req)
        .then((res) => {
          const copy = res.clone();
          if (res.ok) caches.open(CACHE).then((c) => c.put('/index.html', copy));
          return res;
        })
        .catch(() => caches.match('/index.html').then((r) => r ?? caches.match('/'))),
    );
    return;
  }
  event.respondWith(
    caches.match(req, { ignoreSearch: false }).then(
      (hit) =>
        hit ??
        fetch(req).then((res) => {
          if (res.ok && res.type === 'basic') {
            const copy = res.clone();
            caches.open(CACHE).then((c) => c.put(req, copy));
          }
          return res;
        }),
    ),
  );
});
