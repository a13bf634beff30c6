//! The server's web app address, asked over the CLI's WebSocket (the
//! links themselves are the core's, `stadtbote_client::app_links`).

use stadtbote_client::clock::Clock;

use crate::clock::SystemClock;
use crate::connection::WsConnector;

/// Asks the server at `server_url` for its web app address (see
/// [`stadtbote_client::app_links::public_url_with`]); `None` when it has
/// none, cannot say, or cannot be reached.
pub async fn public_url(server_url: &str) -> Option<String> {
    public_url_with(server_url, SystemClock).await
}

/// [`public_url`] with an explicit clock.
pub async fn public_url_with<C: Clock>(server_url: &str, clock: C) -> Option<String> {
    crate::connection::validate_url(server_url).ok()?;
    let connector = WsConnector::for_url(server_url).ok()?;
    stadtbote_client::app_links::public_url_with(&connector, server_url, clock).await
}
