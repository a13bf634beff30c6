//! Small bridges to the browser shared by the adapters: the global scope (a
//! window or a worker), promises from IndexedDB requests, and readable
//! descriptions of JavaScript errors (the error's name and message only).

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbRequest, IdbTransaction, WorkerGlobalScope};

/// The global scope the code runs in.
pub(crate) enum Scope {
    Window(web_sys::Window),
    Worker(WorkerGlobalScope),
}

/// The current global scope; `None` outside a window or worker.
pub(crate) fn scope() -> Option<Scope> {
    let global = js_sys::global();
    if let Ok(window) = global.clone().dyn_into::<web_sys::Window>() {
        return Some(Scope::Window(window));
    }
    global.dyn_into::<WorkerGlobalScope>().ok().map(Scope::Worker)
}

impl Scope {
    pub(crate) fn indexed_db(&self) -> Result<Option<web_sys::IdbFactory>, JsValue> {
        match self {
            Scope::Window(w) => w.indexed_db(),
            Scope::Worker(w) => w.indexed_db(),
        }
    }

    pub(crate) fn crypto(&self) -> Result<web_sys::Crypto, JsValue> {
        match self {
            Scope::Window(w) => w.crypto(),
            Scope::Worker(w) => w.crypto(),
        }
    }

    /// `navigator` (of the window or the worker) as a plain object.
    pub(crate) fn navigator(&self) -> JsValue {
        match self {
            Scope::Window(w) => w.navigator().into(),
            Scope::Worker(w) => w.navigator().into(),
        }
    }

    pub(crate) fn set_timeout(&self, callback: &Function, ms: i32) -> Result<i32, JsValue> {
        match self {
            Scope::Window(w) => {
                w.set_timeout_with_callback_and_timeout_and_arguments_0(callback, ms)
            }
            Scope::Worker(w) => {
                w.set_timeout_with_callback_and_timeout_and_arguments_0(callback, ms)
            }
        }
    }

    pub(crate) fn clear_timeout(&self, handle: i32) {
        match self {
            Scope::Window(w) => w.clear_timeout_with_handle(handle),
            Scope::Worker(w) => w.clear_timeout_with_handle(handle),
        }
    }
}

/// "Name: message" of a JavaScript error (a DOMException, a TypeError), or
/// its string form. Browser messages never contain stored data.
pub(crate) fn describe(error: &JsValue) -> String {
    let name = Reflect::get(error, &"name".into()).ok().and_then(|v| v.as_string());
    let message = Reflect::get(error, &"message".into()).ok().and_then(|v| v.as_string());
    match (name, message) {
        (Some(name), Some(message)) if !message.is_empty() => format!("{name}: {message}"),
        (Some(name), _) => name,
        _ => error.as_string().unwrap_or_else(|| "unknown error".to_string()),
    }
}

/// The `name` of a JavaScript error ("QuotaExceededError", …).
pub(crate) fn error_name(error: &JsValue) -> Option<String> {
    Reflect::get(error, &"name".into()).ok().and_then(|v| v.as_string())
}

/// Bytes as a fresh JavaScript `Uint8Array` (a copy, so it outlives wasm
/// memory growth).
pub(crate) fn bytes(data: &[u8]) -> Uint8Array {
    Uint8Array::from(data)
}

/// The bytes of an `ArrayBuffer` or a typed array; `None` for anything else.
pub(crate) fn to_bytes(value: &JsValue) -> Option<Vec<u8>> {
    if let Some(buffer) = value.dyn_ref::<js_sys::ArrayBuffer>() {
        return Some(Uint8Array::new(buffer).to_vec());
    }
    value.dyn_ref::<Uint8Array>().map(Uint8Array::to_vec)
}

/// Completes with the request's result once it succeeds, or with its
/// error. The handlers are plain functions (a promise's resolvers), so
/// nothing of ours runs inside the transaction.
pub(crate) async fn request(req: &IdbRequest) -> Result<JsValue, JsValue> {
    let promise = Promise::new(&mut |resolve, reject| {
        req.set_onsuccess(Some(&resolve));
        req.set_onerror(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    req.set_onsuccess(None);
    req.set_onerror(None);
    match outcome {
        Ok(_) => req.result(),
        Err(_) => Err(req.error().ok().flatten().map(JsValue::from).unwrap_or(JsValue::NULL)),
    }
}

/// Completes when the transaction has committed (`complete`: its changes
/// are written), or fails with its error when it aborted.
pub(crate) async fn transaction_done(tx: &IdbTransaction) -> Result<(), JsValue> {
    let promise = Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&resolve));
        tx.set_onabort(Some(&reject));
    });
    let outcome = JsFuture::from(promise).await;
    tx.set_oncomplete(None);
    tx.set_onabort(None);
    match outcome {
        Ok(_) => Ok(()),
        Err(_) => Err(tx.error().map(JsValue::from).unwrap_or(JsValue::NULL)),
    }
}
