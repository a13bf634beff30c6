//! The app's state, start-up, events and rendering. One state for the
//! page, re-rendered whole on every change (the screens are small; a
//! screen with long lists can keep its own nodes later). Events are
//! delegated: one click listener on the document and one `hashchange`
//! listener, installed once, so re-rendering never leaks closures.

use std::cell::RefCell;

use stadtbote_i18n::Lang;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Element, Event};

use crate::a11y;
use crate::build_info::{self, BuildInfo};
use crate::channel_state::{ChannelScreen, Followed};
use crate::dom::{Dom, DomResult};
use crate::install;
use crate::integrity;
use crate::lang;
use crate::link_state::LinkState;
use crate::net::{self, FetchError};
use crate::router::Route;
use crate::statement;
use crate::text::t1;
use crate::views;

/// Something fetched from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Load<T> {
    /// Not there yet.
    Loading,
    /// Fetched.
    Ready(T),
    /// The fetch failed.
    Failed(FetchError),
}

/// Everything the screens show.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// The language the page is shown in.
    pub lang: Lang,
    /// Whether the start page's explanations show in Leichte Sprache
    /// (German only).
    pub easy: bool,
    /// The locale dates and times are formatted in ([`lang::intl_locale`]).
    pub locale: String,
    /// The browser's languages, most preferred first (for `locale`).
    pub browser_langs: Vec<String>,
    /// The open screen.
    pub route: Route,
    /// The server's `/privacy` statement (JSON).
    pub statement: Load<serde_json::Value>,
    /// The bundle's build record.
    pub build: Load<BuildInfo>,
    /// The app link in the fragment, when [`Route::Link`] is open.
    pub link: Option<LinkState>,
    /// The start-up check of the app's own files (issue 17.4).
    pub integrity: Load<integrity::Report>,
    /// Whether to tell this browser to add the app to the home screen
    /// (Safari on an iPhone or iPad, not installed).
    pub home_screen_hint: bool,
    /// The channel screen, when a channel invite is open (s10-follow).
    pub channel: Option<ChannelScreen>,
    /// The channels this browser follows (start page).
    pub followed: Vec<Followed>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Starts the app; failures go to the browser console (there is no other
/// place to show them before the page exists).
pub fn start() {
    if let Err(error) = boot() {
        web_sys::console::error_2(&JsValue::from_str("stadtbote: start failed:"), &error);
    }
}

fn window() -> DomResult<web_sys::Window> {
    web_sys::window().ok_or_else(|| JsValue::from_str("no window"))
}

fn boot() -> DomResult<()> {
    let window = window()?;
    let storage = window.local_storage().ok().flatten();
    let saved_item = |key: &str| storage.as_ref().and_then(|s| s.get_item(key).ok().flatten());
    let saved = saved_item(lang::STORAGE_KEY);
    let browser: Vec<String> =
        window.navigator().languages().iter().filter_map(|tag| tag.as_string()).collect();
    let hash = window.location().hash().unwrap_or_default();
    let chosen = lang::choose(saved.as_deref(), &browser);
    let state = State {
        lang: chosen,
        easy: lang::choose_easy(saved_item(lang::EASY_STORAGE_KEY).as_deref(), chosen),
        locale: lang::intl_locale(chosen, &browser),
        browser_langs: browser,
        route: Route::from_hash(&hash),
        statement: Load::Loading,
        build: Load::Loading,
        link: None,
        integrity: Load::Loading,
        home_screen_hint: install::needs_home_screen_hint(&install::Browser::of(&window)),
        channel: None,
        followed: Vec::new(),
    };
    STATE.with(|cell| *cell.borrow_mut() = Some(state));
    if let Some(document) = window.document() {
        a11y::install(&document)?;
    }
    install_listeners(&window)?;
    open_link(&hash);
    render()?;
    wasm_bindgen_futures::spawn_local(async {
        let statement = match net::get_json(statement::URL).await {
            Ok(value) => Load::Ready(value),
            Err(error) => Load::Failed(error),
        };
        update(|state| state.statement = statement);
    });
    wasm_bindgen_futures::spawn_local(async {
        let build = match net::get_json(build_info::URL).await {
            Ok(value) => BuildInfo::from_json(&value)
                .map(Load::Ready)
                .unwrap_or(Load::Failed(FetchError::Format)),
            Err(error) => Load::Failed(error),
        };
        update(|state| state.build = build);
    });
    Ok(())
}

/// Changes the state and renders it.
pub(crate) fn update(change: impl FnOnce(&mut State)) {
    STATE.with(|cell| {
        if let Some(state) = cell.borrow_mut().as_mut() {
            change(state);
        }
    });
    if let Err(error) = render() {
        web_sys::console::error_2(&JsValue::from_str("stadtbote: render failed:"), &error);
    }
}

fn render() -> DomResult<()> {
    let document = window()?.document().ok_or_else(|| JsValue::from_str("no document"))?;
    let dom = Dom::new(document);
    let state = STATE.with(|cell| cell.borrow().clone());
    match state {
        // A re-render (a fetch completed, the language changed) keeps the
        // keyboard focus where it was.
        Some(state) => a11y::keeping_focus(dom.document(), || views::render(&dom, &state)),
        None => Ok(()),
    }
}

fn install_listeners(target: &web_sys::Window) -> DomResult<()> {
    let on_click = Closure::<dyn FnMut(Event)>::new(|event: Event| {
        let Some(target) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        if let Some(document) = target.owner_document()
            && a11y::skip_link_clicked(&document, &target)
        {
            // Its `#main-heading` target is no route.
            event.prevent_default();
            return;
        }
        if let Ok(Some(_)) =
            target.closest(&format!("[data-action=\"{}\"]", views::channel::UNFOLLOW_ACTION))
        {
            #[cfg(target_arch = "wasm32")]
            crate::channel_open::request_unfollow();
            return;
        }
        let Ok(Some(button)) = target.closest("[data-lang]") else { return };
        let Some(lang) = button.get_attribute("data-lang").as_deref().and_then(Lang::parse) else {
            return;
        };
        choose_language(lang, button.has_attribute(views::shell::EASY_ATTRIBUTE));
    });
    target.add_event_listener_with_callback("click", on_click.as_ref().unchecked_ref())?;
    // Lives as long as the page.
    on_click.forget();

    let on_hash = Closure::<dyn FnMut(Event)>::new(|_: Event| {
        let Ok(hash) = window().and_then(|w| w.location().hash()) else { return };
        update(|state| state.route = Route::from_hash(&hash));
        open_link(&hash);
        // Screen readers: move the focus to the new screen's heading and
        // announce it in the live region.
        let Some(document) = window().ok().and_then(|w| w.document()) else { return };
        a11y::focus(&document, a11y::HEADING_ID);
        if let Some(heading) = a11y::heading_text(&document) {
            let lang = STATE.with(|cell| cell.borrow().as_ref().map(|s| s.lang));
            let text = t1(lang.unwrap_or(Lang::De), "web-route-announced", "title", &heading);
            a11y::announce(&document, &text);
        }
    });
    target.add_event_listener_with_callback("hashchange", on_hash.as_ref().unchecked_ref())?;
    on_hash.forget();
    Ok(())
}

/// Reads the app link in `hash` (if the route is one) into the state and,
/// for a town, starts its check against the server. The fragment is never
/// logged or sent: only the town's handle goes to the server, as any
/// directory look-up does.
fn open_link(hash: &str) {
    let route = Route::from_hash(hash);
    let link = (route == Route::Link).then(|| LinkState::from_hash(hash));
    let town = link.as_ref().and_then(LinkState::town_to_check);
    update(|state| state.link = link);
    open_channel(hash, route);
    #[cfg(target_arch = "wasm32")]
    if let Some((handle, key)) = town {
        wasm_bindgen_futures::spawn_local(async move {
            let check = crate::town_open::open(handle.clone(), key).await;
            update(|state| {
                // Only if the same link is still open.
                if let Some(LinkState::Town { handle: open, key: open_key, check: slot }) =
                    state.link.as_mut()
                    && *open == handle
                    && *open_key == key
                {
                    *slot = check;
                }
            });
        });
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = town;
}

/// Opens the channel screen for a channel invite in `hash` (and ends the
/// running one otherwise); on the start page, reads the followed channels.
fn open_channel(hash: &str, route: Route) {
    #[cfg(target_arch = "wasm32")]
    {
        use stadtbote_protocol::app_link::AppLink;
        let invite = match AppLink::parse_fragment(hash) {
            Ok(AppLink::Channel(invite)) if route == Route::Link => Some(invite),
            _ => None,
        };
        let unchanged = STATE.with(|cell| {
            let state = cell.borrow();
            match (state.as_ref().and_then(|s| s.channel.as_ref()), &invite) {
                (Some(open), Some(invite)) => open.channel == invite.channel,
                _ => false,
            }
        });
        if unchanged {
            return;
        }
        match invite {
            Some(invite) => {
                let screen = crate::channel_open::open(invite);
                update(|state| state.channel = Some(screen));
            }
            None => {
                crate::channel_open::stop();
                update(|state| state.channel = None);
            }
        }
        if route == Route::About {
            wasm_bindgen_futures::spawn_local(async {
                let followed = crate::channel_open::followed().await;
                update(|state| state.followed = followed);
            });
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (hash, route);
}

fn choose_language(lang: Lang, easy: bool) {
    let easy = easy && lang == Lang::De;
    if let Ok(Some(storage)) = window().and_then(|w| w.local_storage()) {
        // Private windows may refuse storage; the choice then lasts for
        // this page only.
        let _ = storage.set_item(lang::STORAGE_KEY, lang.code());
        let _ = if easy {
            storage.set_item(lang::EASY_STORAGE_KEY, "1")
        } else {
            storage.remove_item(lang::EASY_STORAGE_KEY)
        };
    }
    update(|state| {
        state.lang = lang;
        state.easy = easy;
        state.locale = lang::intl_locale(lang, &state.browser_langs);
    });
    // The switch was re-rendered: keep the keyboard focus on the button.
    if let Some(document) = window().ok().and_then(|w| w.document()) {
        a11y::focus(&document, &views::shell::switch_button_id(lang, easy));
    }
}
