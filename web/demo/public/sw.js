// Offline: the wasm library and Pyodide's files (CORE, large and fixed for a
// deployment) are served cache-first; the page's own assets network-first,
// cached on first use and served from the cache when the network is gone.
// A new deployment changes CACHE.
const CACHE = "remotemedia-demo-v1";
const CORE = ["./", "./index.html", "./remotemedia.wasm", "./mic-worklet.js", "./pyodide/pyodide.mjs",
  "./pyodide/pyodide.asm.mjs", "./pyodide/pyodide.asm.wasm", "./pyodide/python_stdlib.zip", "./pyodide/pyodide-lock.json"];

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(CORE)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET" || new URL(req.url).origin !== self.location.origin) return;
  const core = CORE.some((p) => p.length > 2 && req.url === new URL(p, self.registration.scope).href);
  e.respondWith((async () => {
    const cache = await caches.open(CACHE);
    if (core) {
      const hit = await cache.match(req, { ignoreSearch: true });
      if (hit) return hit;
    }
    try {
      const res = await fetch(req);
      if (res.ok) await cache.put(req, res.clone());
      return res;
    } catch (err) {
      const hit = await cache.match(req, { ignoreSearch: true });
      if (hit) return hit;
      throw err;
    }
  })());
});
