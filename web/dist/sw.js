// Stadtbote's service worker: starts the app without a connection.
//
// It caches exactly the files the signed manifest (/stadtbote-web-manifest.json)
// lists, with the manifest and its signature, in one cache per release, and
// serves the app's files from there. It never caches anything else: the
// API (/v1/), /privacy and every other path go to the network untouched.
// It does no cryptography; the app checks the files (web/src/integrity.rs).
//
// Updates: scripts/build-web.sh writes the release's bundle hash into
// BUNDLE below, so a new release changes this file and the browser installs
// the new worker. It caches the whole new release before it takes over
// (each file's ETag, the server's SHA-256 of what it sends, must be the
// manifest's), then deletes the old release's cache; the page reloads once
// (app.js). A failed or inconsistent download keeps the old release.
//
// Push notifications (issue 18) will be handled by this same worker.
const BUNDLE = "5281cde48d8e492ecf4ed897ef8ad9d827b5d33f416aa9ccdef664a000a838c9";
const PREFIX = "stadtbote-app-";
const CACHE = PREFIX + BUNDLE;
const MANIFEST = "/stadtbote-web-manifest.json";
const SIGNATURE = "/stadtbote-web-manifest.sig";
const ROOT = "/";

async function download(path, sha256) {
  const response = await fetch(path, { cache: "no-store", credentials: "omit" });
  if (!response.ok) {
    throw new Error(`${path}: HTTP ${response.status}`);
  }
  const etag = response.headers.get("ETag");
  if (sha256 !== null && etag !== null && etag !== `"sha256-${sha256}"`) {
    throw new Error(`${path} is not the file the manifest lists`);
  }
  return response;
}

async function precache() {
  const manifestResponse = await download(MANIFEST, null);
  const manifest = JSON.parse(await manifestResponse.clone().text());
  const responses = new Map([
    [MANIFEST, manifestResponse],
    [SIGNATURE, await download(SIGNATURE, null)],
  ]);
  for (const file of manifest.files) {
    responses.set(file.path, await download(file.path, file.sha256));
  }
  const root = responses.get(manifest.root);
  if (root === undefined) {
    throw new Error("the manifest lists no root page");
  }
  responses.set(ROOT, root.clone());
  // All downloaded: only now write the cache (a fresh one).
  await caches.delete(CACHE);
  const cache = await caches.open(CACHE);
  for (const [path, response] of responses) {
    await cache.put(path, response);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(PREFIX) && name !== CACHE) {
          await caches.delete(name);
        }
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") {
    return;
  }
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.search !== "" || url.pathname.startsWith("/v1/")) {
    return;
  }
  event.respondWith(
    (async () => {
      const cache = await caches.open(CACHE);
      const cached = await cache.match(url.pathname);
      return cached !== undefined ? cached : fetch(request);
    })(),
  );
});
