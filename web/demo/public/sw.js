// Offline: the wasm library and Pyodide's files (CORE and everything under
// pyodide/, large and fixed for a deployment) are served cache-first; the
// page's own assets network-first, cached on first use and served from the
// cache when the network is gone.  A new deployment changes CACHE.
const CACHE = "remotemedia-demo-v2";
const CORE = ["./", "./index.html", "./remotemedia.wasm", "./mic-worklet.js", "./pyodide/pyodide.mjs",
  "./pyodide/pyodide.asm.mjs", "./pyodide/pyodide.asm.wasm", "./pyodide/python_stdlib.zip", "./pyodide/pyodide-lock.json"];

// The Python snapshot and the standard library it was made with, when the
// build made them (web/scripts/python-snapshot.mjs names them by content).
async function snapshotFiles() {
  try {
    const r = await fetch("./pyodide/snapshot.json");
    if (!r.ok) return [];
    const m = await r.json();
    return ["./pyodide/snapshot.json", `./pyodide/${m.snapshot}`, `./pyodide/${m.stdlib}`];
  } catch {
    return [];
  }
}

self.addEventListener("install", (e) => {
  e.waitUntil((async () => {
    const c = await caches.open(CACHE);
    await c.addAll([...CORE, ...(await snapshotFiles())]);
    await self.skipWaiting();
  })());
});
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET" || new URL(req.url).origin !== self.location.origin) return;
  const scope = self.registration.scope;
  const core = req.url.startsWith(new URL("./pyodide/", scope).href) ||
    CORE.some((p) => p.length > 2 && req.url === new URL(p, scope).href);
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
