// Stadtbote web app: loads the app's WebAssembly (built from web/src by
// scripts/build-web.sh; wasm-bindgen's glue is stadtbote_web.js) and starts
// it. Everything the page shows is rendered by the Rust side; this file
// stays this small on purpose (no other JavaScript, no third party).
//
// The wasm is fetched here and instantiated from exactly those bytes, which
// then go to the Rust side's start-up check (check_integrity): it hashes
// what runs, not a second download. Then the service worker (sw.js) is
// registered for the offline start.
import init, { check_integrity } from "./stadtbote_web.js";

const WASM = "stadtbote_web_bg.wasm";
const WORKER = "/sw.js";

async function start() {
  const response = await fetch(WASM);
  if (!response.ok) {
    throw new Error(`${WASM}: HTTP ${response.status}`);
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  await init({ module_or_path: bytes });
  check_integrity(bytes);
}

// The page's Content-Security-Policy requires Trusted Types for script
// URLs, and registering a service worker is such a sink; this one policy
// (the only one the policy allows) passes exactly the worker's URL.
function workerUrl() {
  if (!window.trustedTypes) {
    return WORKER;
  }
  const policy = window.trustedTypes.createPolicy("stadtbote-sw", {
    createScriptURL: (url) => {
      if (url !== WORKER) {
        throw new TypeError("stadtbote: only the service worker's URL is allowed");
      }
      return url;
    },
  });
  return policy.createScriptURL("/sw.js");
}

function registerWorker() {
  if (!("serviceWorker" in navigator)) {
    return;
  }
  // A new release's worker takes over as soon as it has cached all of that
  // release's files; a page that ran the old release then reloads once, so
  // that no page runs a mix of old and new files.
  const updating = navigator.serviceWorker.controller !== null;
  let reloaded = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (updating && !reloaded) {
      reloaded = true;
      window.location.reload();
    }
  });
  navigator.serviceWorker
    .register(workerUrl(), { scope: "/", updateViaCache: "none" })
    .catch((error) => console.warn("stadtbote: no offline start:", error));
}

start()
  .catch((error) => console.error("stadtbote: the app could not start:", error))
  .finally(registerWorker);
