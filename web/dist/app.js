// Stadtbote web app: loads the app's WebAssembly (built from web/src by
// scripts/build-web.sh; wasm-bindgen's glue is stadtbote_web.js) and starts
// it. Everything the page shows is rendered by the Rust side; this file
// stays this small on purpose (no other JavaScript, no third party).
import init from "./stadtbote_web.js";

init().catch((error) => {
  console.error("stadtbote: the app could not start:", error);
});
