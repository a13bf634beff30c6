//! Following a channel in the browser (issue 16, channels): the core's
//! [`Follower`] over this browser's IndexedDB ([`IndexedDbStorage`], the
//! store [`PIN_STORE`] that needs no account), client-web's WebSocket and
//! clock. Opened from an invite link, it follows (or, when followed
//! before, continues from the kept cursor), catches up, listens for new
//! posts, and on a dropped connection says so and reconnects with a
//! growing pause. Photos are downloaded, checked and decrypted by the
//! core and shown from `blob:` URLs (the CSP's `img-src blob:`).
//!
//! One follower task runs at a time: opening another link (or leaving the
//! screen) ends the running one at its next wake-up. "Nicht mehr folgen"
//! is done by the running task itself, so that nothing else writes the
//! follows while it holds them.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use js_sys::{Array, Uint8Array};
use stadtbote_client::clock::Clock;
use stadtbote_client::connection::Connection;
use stadtbote_client::follow::{FeedItem, FeedLine, FollowError, Follower, photos, store};
use stadtbote_client::storage::HolderId;
use stadtbote_client_web::clock::BrowserClock;
use stadtbote_client_web::storage::IndexedDbStorage;
use stadtbote_client_web::transport::{BrowserConnector, BrowserTransport};
use stadtbote_protocol::channel::ChannelInvite;
use stadtbote_protocol::{ChannelId, Event};

use crate::app::update;
use crate::channel_state::{ChannelScreen, Failure, Followed, Live, Photo};
use crate::town_open::{PIN_STORE, ws_url};

type Conn = Connection<BrowserTransport, BrowserClock>;
type BrowserFollower = Follower<IndexedDbStorage, BrowserClock>;

/// How long the task waits for an event before it looks whether it should
/// stop or unfollow.
const POLL: Duration = Duration::from_millis(300);
/// A ping after this much silence finds a dead connection.
const PING_AFTER_MS: u64 = 25_000;
/// How many of the newest posts the screen shows when it opens.
const HISTORY: u64 = 100;
/// The longest pause between reconnection attempts.
const MAX_BACKOFF_MS: u64 = 30_000;

thread_local! {
    /// The running task's number; a task whose number is not this one
    /// stops.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    /// Set by the "unfollow" button for the running task.
    static UNFOLLOW: Cell<bool> = const { Cell::new(false) };
    /// `blob:` URLs handed out, revoked when the screen closes.
    static BLOB_URLS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn current(generation: u64) -> bool {
    GENERATION.with(Cell::get) == generation
}

/// Ends the running task (if any) and frees its photos.
pub fn stop() {
    GENERATION.with(|g| g.set(g.get() + 1));
    UNFOLLOW.with(|u| u.set(false));
    BLOB_URLS.with(|urls| {
        for url in urls.borrow_mut().drain(..) {
            let _ = web_sys::Url::revoke_object_url(&url);
        }
    });
}

/// Asks the running task to unfollow its channel.
pub fn request_unfollow() {
    UNFOLLOW.with(|u| u.set(true));
}

fn holder() -> Option<HolderId> {
    HolderId::new(format!("tab-{:016x}", (js_sys::Math::random() * 2f64.powi(53)) as u64)).ok()
}

async fn open_follower() -> Result<BrowserFollower, FollowError> {
    let storage = IndexedDbStorage::open(PIN_STORE).await?;
    let holder = holder().ok_or(FollowError::Corrupt { reason: "holder id".into() })?;
    Follower::open(storage, holder, BrowserClock::new()).await
}

/// The channels this browser follows, for the start page (read only).
pub async fn followed() -> Vec<Followed> {
    let Ok(storage) = IndexedDbStorage::open(PIN_STORE).await else { return Vec::new() };
    match store::load(&storage).await {
        Ok(Some(file)) => file.follows.values().map(Followed::of).collect(),
        _ => Vec::new(),
    }
}

/// Opens `invite`'s channel: the screen state now, the task in the
/// background.
pub fn open(invite: ChannelInvite) -> ChannelScreen {
    stop();
    let generation = GENERATION.with(Cell::get);
    let screen = ChannelScreen::new(&invite);
    wasm_bindgen_futures::spawn_local(run(invite, generation));
    screen
}

/// Changes the open channel screen, if it is still this task's.
fn change(generation: u64, channel: ChannelId, f: impl FnOnce(&mut ChannelScreen)) {
    if !current(generation) {
        return;
    }
    update(|state| {
        if let Some(screen) = state.channel.as_mut()
            && screen.channel == channel
        {
            f(screen);
        }
    });
}

/// What ended a session.
enum Ended {
    /// The screen closed or the channel was unfollowed.
    Stop,
    /// The connection dropped.
    Lost,
    /// The channel cannot be shown.
    Failed(Failure),
}

fn failure_of(error: &FollowError) -> Option<Failure> {
    match error {
        FollowError::Connection(_) => None,
        FollowError::UnknownChannel(_)
        | FollowError::UnknownOrg { .. }
        | FollowError::OrgNotSetUp { .. } => Some(Failure::UnknownChannel),
        FollowError::OutdatedInvite => Some(Failure::OutdatedInvite),
        FollowError::RevocationListWithheld { .. } | FollowError::StaffListRolledBack { .. } => {
            Some(Failure::ListsWithheld)
        }
        FollowError::Storage(_) | FollowError::Corrupt { .. } | FollowError::NewerFormat { .. } => {
            Some(Failure::Storage)
        }
        _ => Some(Failure::Forged),
    }
}

async fn run(invite: ChannelInvite, generation: u64) {
    let channel = invite.channel;
    let clock = BrowserClock::new();
    let mut follower = match open_follower().await {
        Ok(follower) => follower,
        Err(_) => {
            change(generation, channel, |s| s.failure = Some(Failure::Storage));
            return;
        }
    };
    let mut backoff = 1_000u64;
    let mut followed = false;
    while current(generation) {
        change(generation, channel, |s| s.live = Live::Connecting);
        let started = clock.now_ms();
        match session(&mut follower, &invite, &mut followed, generation).await {
            Ended::Stop => return,
            Ended::Failed(failure) => {
                change(generation, channel, |s| s.failure = Some(failure));
                return;
            }
            Ended::Lost => {}
        }
        if !current(generation) {
            return;
        }
        change(generation, channel, |s| s.live = Live::Reconnecting);
        // A session that lasted a while starts the pauses over.
        if clock.now_ms().saturating_sub(started) > MAX_BACKOFF_MS {
            backoff = 1_000;
        }
        let until = clock.now_ms() + backoff;
        while current(generation) && clock.now_ms() < until {
            clock.sleep(POLL).await;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF_MS);
    }
}

/// One connection: follow (once), catch up, listen until it drops.
async fn session(
    follower: &mut BrowserFollower,
    invite: &ChannelInvite,
    followed: &mut bool,
    generation: u64,
) -> Ended {
    let Some(url) = ws_url() else { return Ended::Failed(Failure::Storage) };
    let mut conn = match follower.connect(&BrowserConnector::new(), &url).await {
        Ok(conn) => conn,
        Err(_) => return Ended::Lost,
    };
    let ended = listen(follower, &mut conn, invite, followed, generation).await;
    conn.close().await;
    match ended {
        Ok(ended) => ended,
        Err(error) => match failure_of(&error) {
            Some(failure) => Ended::Failed(failure),
            None => Ended::Lost,
        },
    }
}

async fn listen(
    follower: &mut BrowserFollower,
    conn: &mut Conn,
    invite: &ChannelInvite,
    followed: &mut bool,
    generation: u64,
) -> Result<Ended, FollowError> {
    let channel = invite.channel;
    let first = !*followed;
    if first {
        follower.follow(conn, invite).await?;
        *followed = true;
    }
    let ids = vec![channel];
    let mut revoked = follower.revocations(conn, &ids).await?;
    let org = follower.follows().get(&channel).map(|f| f.org);
    let revoked_of = |r: &std::collections::BTreeMap<_, Vec<_>>| {
        org.and_then(|o| r.get(&o).cloned()).unwrap_or_default()
    };
    if first {
        // The screen shows the channel's newest posts, also those read
        // before (a reload, a channel followed earlier), verified again.
        let lines = follower.history(conn, channel, &revoked_of(&revoked), HISTORY).await?;
        show(conn, &lines, generation, channel).await;
    }
    let lines = follower.catch_up(conn, channel, &revoked_of(&revoked)).await?;
    show(conn, &lines, generation, channel).await;
    Follower::<IndexedDbStorage, BrowserClock>::listen(conn, ids.clone()).await?;
    change(generation, channel, |s| s.live = Live::Listening);
    let clock = BrowserClock::new();
    let mut quiet_since = clock.now_ms();
    let mut refreshed = clock.now_ms();
    loop {
        if !current(generation) {
            return Ok(Ended::Stop);
        }
        if UNFOLLOW.with(|u| u.replace(false)) {
            follower.unfollow(&channel.to_string()).await?;
            change(generation, channel, |s| s.live = Live::Unfollowed);
            return Ok(Ended::Stop);
        }
        // A long-open screen learns of a revoked publisher device too.
        if clock.now_ms().saturating_sub(refreshed) > 300_000 {
            revoked = follower.revocations(conn, &ids).await?;
            refreshed = clock.now_ms();
        }
        match conn.next_event(POLL).await? {
            Some(Event::ChannelPost { channel: id, post }) if id == channel => {
                let lines = follower.on_push(conn, channel, post, &revoked_of(&revoked)).await?;
                show(conn, &lines, generation, channel).await;
                quiet_since = clock.now_ms();
            }
            Some(_) => quiet_since = clock.now_ms(),
            None if clock.now_ms().saturating_sub(quiet_since) > PING_AFTER_MS => {
                conn.request(stadtbote_protocol::Request::Ping).await?;
                quiet_since = clock.now_ms();
            }
            None => {}
        }
    }
}

/// Puts `lines` on the screen, then downloads their photos.
async fn show(conn: &mut Conn, lines: &[FeedLine], generation: u64, channel: ChannelId) {
    if lines.is_empty() {
        return;
    }
    let mut wanted = Vec::new();
    change(generation, channel, |s| wanted = s.add(lines));
    for (seq, count) in wanted {
        let refs = lines.iter().find_map(|line| match &line.item {
            FeedItem::Post { seq: s, post } if *s == seq => Some(post.body.photos.clone()),
            _ => None,
        });
        for (index, photo) in refs.unwrap_or_default().into_iter().take(count).enumerate() {
            let shown = if photos::PHOTO_MIMES.contains(&photo.mime.as_str()) {
                match photos::fetch_photo(conn, &photo).await {
                    Ok(bytes) => blob_url(&bytes, &photo.mime).map_or(Photo::Failed, Photo::Ready),
                    Err(_) => Photo::Failed,
                }
            } else {
                Photo::Failed
            };
            change(generation, channel, |s| s.set_photo(seq, index, shown));
        }
    }
}

/// A `blob:` URL for `bytes` of type `mime` (revoked by [`stop`]).
fn blob_url(bytes: &[u8], mime: &str) -> Option<String> {
    let parts = Array::of1(&Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
    BLOB_URLS.with(|urls| urls.borrow_mut().push(url.clone()));
    Some(url)
}
