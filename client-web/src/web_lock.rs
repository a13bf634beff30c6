//! One exclusive Web Lock (`navigator.locks`): held by the tab (or worker)
//! whose storage handle holds a device's lease, so that every other tab of
//! the same origin sees at once that the device has a writer, and sees at
//! once when that tab is gone (the browser releases a closed or crashed
//! tab's locks).
//!
//! A lock is requested either if available (the normal case: a second tab
//! is told no and stays read-only) or by stealing it (taking over from a
//! holder whose lease expired: a frozen tab); a stolen lock's holder learns
//! it through [`WebLock::is_held`], and the lease's fencing token in
//! IndexedDB refuses its writes in any case.
//!
//! web-sys has the Web Locks API only behind `--cfg web_sys_unstable_apis`
//! (a flag for the whole build), so the few calls go through `Reflect`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function, Object, Promise, Reflect};
use stadtbote_client::storage::StorageError;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::js;

/// The value our holding promise resolves with when we release the lock.
const RELEASED: &str = "released";

/// How a lock is requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Granted only if nobody holds it.
    IfAvailable,
    /// Granted at once; a current holder loses it.
    Steal,
}

fn unavailable(action: &str, error: &JsValue) -> StorageError {
    StorageError::Unavailable { reason: format!("{action}: {}", js::describe(error)) }
}

/// `navigator.locks`, or a clear error where the browser has none (not a
/// secure context, or a very old browser).
fn lock_manager() -> Result<JsValue, StorageError> {
    let scope = js::scope()
        .ok_or(StorageError::Unavailable { reason: "no window or worker scope".into() })?;
    let locks = Reflect::get(&scope.navigator(), &"locks".into())
        .map_err(|e| unavailable("navigator.locks", &e))?;
    if locks.is_undefined() || locks.is_null() {
        return Err(StorageError::Unavailable {
            reason: "the Web Locks API is not available (the page is not a secure context)".into(),
        });
    }
    Ok(locks)
}

fn method(object: &JsValue, name: &str) -> Result<Function, StorageError> {
    Reflect::get(object, &name.into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| StorageError::Unavailable { reason: format!("navigator.locks.{name}") })
}

/// A held exclusive lock; released when dropped.
#[derive(Debug)]
pub struct WebLock {
    name: String,
    /// Resolves the promise the lock callback returned: releases the lock.
    release: Option<Function>,
    /// Set when the lock was stolen by another request.
    lost: Rc<Cell<bool>>,
    /// The request's promise: settles once the lock is released or stolen.
    done: Promise,
}

impl WebLock {
    /// Requests the exclusive lock `name`; `None` when it is held and
    /// `how` is [`Request::IfAvailable`].
    pub async fn request(name: &str, how: Request) -> Result<Option<WebLock>, StorageError> {
        let locks = lock_manager()?;
        let request = method(&locks, "request")?;
        let options = Object::new();
        let set = |key: &str, value: JsValue| {
            Reflect::set(&options, &key.into(), &value).map_err(|e| unavailable("lock options", &e))
        };
        set("mode", "exclusive".into())?;
        match how {
            Request::IfAvailable => set("ifAvailable", true.into())?,
            Request::Steal => set("steal", true.into())?,
        };

        let release: Rc<RefCell<Option<Function>>> = Rc::default();
        let mut granted_resolve: Option<Function> = None;
        let granted = Promise::new(&mut |resolve, _| granted_resolve = Some(resolve));
        let granted_resolve = granted_resolve
            .ok_or(StorageError::Unavailable { reason: "Promise executor did not run".into() })?;
        let slot = release.clone();
        // Called once by the lock manager: with the lock, or with null when
        // `ifAvailable` found it held. While the promise it returns is
        // pending, the lock stays held.
        let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
            if lock.is_null() {
                let _ = granted_resolve.call1(&JsValue::UNDEFINED, &false.into());
                return JsValue::UNDEFINED;
            }
            let hold = Promise::new(&mut |resolve, _| *slot.borrow_mut() = Some(resolve));
            let _ = granted_resolve.call1(&JsValue::UNDEFINED, &true.into());
            hold.into()
        });
        let done = request
            .call3(&locks, &name.into(), &options, &callback)
            .map_err(|e| unavailable("navigator.locks.request", &e))?
            .dyn_into::<Promise>()
            .map_err(|_| StorageError::Unavailable {
                reason: "locks.request: no promise".into(),
            })?;
        let lost = Rc::new(Cell::new(false));
        let flag = lost.clone();
        // One function for both outcomes, so it is called exactly once: our
        // own release resolves with RELEASED, a steal rejects (AbortError).
        let settled = Closure::once_into_js(move |outcome: JsValue| {
            if outcome.as_string().as_deref() != Some(RELEASED) {
                flag.set(true);
            }
        });
        // js-sys's `then2` takes only Rust closures; this one frees itself.
        let then = Reflect::get(&done, &"then".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok())
            .ok_or(StorageError::Unavailable { reason: "Promise.then".into() })?;
        let done = then
            .call2(&done, &settled, &settled)
            .ok()
            .and_then(|p| p.dyn_into::<Promise>().ok())
            .ok_or(StorageError::Unavailable { reason: "Promise.then".into() })?;

        let granted = JsFuture::from(granted)
            .await
            .map_err(|e| unavailable("navigator.locks.request", &e))?;
        if granted.as_bool() != Some(true) {
            return Ok(None);
        }
        let release = release.borrow_mut().take();
        Ok(Some(WebLock { name: name.to_string(), release, lost, done }))
    }

    /// Whether the lock `name` is held by anyone (any tab or worker of the
    /// origin, this one included).
    pub async fn is_held_anywhere(name: &str) -> Result<bool, StorageError> {
        let locks = lock_manager()?;
        let query = method(&locks, "query")?;
        let snapshot = query.call0(&locks).map_err(|e| unavailable("navigator.locks.query", &e))?;
        let snapshot = JsFuture::from(Promise::resolve(&snapshot))
            .await
            .map_err(|e| unavailable("navigator.locks.query", &e))?;
        let held = Reflect::get(&snapshot, &"held".into())
            .map_err(|e| unavailable("navigator.locks.query", &e))?;
        Ok(Array::from(&held).iter().any(|info| {
            Reflect::get(&info, &"name".into()).ok().and_then(|n| n.as_string()).as_deref()
                == Some(name)
        }))
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Releases the lock and waits until the lock manager has let it go, so
    /// that a request made next (by this tab or another) finds it free.
    pub async fn release(mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call1(&JsValue::UNDEFINED, &RELEASED.into());
            let _ = JsFuture::from(self.done.clone()).await;
        }
    }

    /// Whether this lock is still ours (not stolen, not released).
    pub fn is_held(&self) -> bool {
        self.release.is_some() && !self.lost.get()
    }
}

impl Drop for WebLock {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.call1(&JsValue::UNDEFINED, &RELEASED.into());
        }
    }
}
