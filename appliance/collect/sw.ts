/**
 * The web app's service worker (scope `/collect/`): keeps the app shell so the app opens with no connection.
 * The build injects `__SHELL__` (the page, its hashed assets, manifest and icon) and `__VERSION__` (a hash
 * of them): a new build installs a new cache and drops the old one. The page is fetched from the box when it
 * answers (so an update shows at once) and from the cache when not; hashed assets always from the cache.
 * The API is never cached here: form definitions and unsent submissions live in IndexedDB (src/store.ts).
 */
export {};

declare const __SHELL__: string[];
declare const __VERSION__: string;
declare const self: ServiceWorkerGlobalScope;

const CACHE = `nexus-collect-${__VERSION__}`;
const PAGE = "/collect/";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(__SHELL__))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(
          keys.filter((k) => k.startsWith("nexus-collect-") && k !== CACHE).map((k) => caches.delete(k)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (event.request.mode === "navigate" && url.pathname.startsWith(PAGE)) {
    event.respondWith(pageFromBoxOrCache(event.request));
    return;
  }
  if (__SHELL__.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit ?? fetch(event.request)));
  }
});

async function pageFromBoxOrCache(request: Request): Promise<Response> {
  try {
    const res = await fetch(request, { cache: "no-store" });
    if (res.ok) {
      const cache = await caches.open(CACHE);
      await cache.put(PAGE, res.clone());
    }
    return res;
  } catch {
    return (await caches.match(PAGE)) ?? new Response("offline and not cached yet", { status: 503 });
  }
}
