//! Handlers of the org and thread commands of the `stadtbote` binary: they
//! parse what clap could not, call the client library and print. What they
//! print is a contract (see `stadtbote_cli::thread_output`); a code or id a
//! command hands out is always printed alone on its last line.

pub mod account;
pub mod admin_session;
pub mod audit;
pub mod channels;
pub mod devices;
pub mod groups;
pub mod org;
pub mod org_legal;
pub mod server_info;
pub mod threads;
pub mod web;

use std::path::PathBuf;

use anyhow::Result;
use stadtbote_cli::Client;

/// Connects and catches up if the server can be reached; otherwise warns
/// and carries on with what this device has. Returns whether it connected.
pub async fn try_catch_up(client: &mut Client) -> Result<bool> {
    match crate::catch_up(client, None).await {
        Ok(_) => Ok(true),
        Err(error) => match stadtbote_cli::error::client_error(&error) {
            Some(e) if e.is_transient() => {
                let e = stadtbote_cli::output::safe(&stadtbote_cli::error_text::localized(e))
                    .into_owned();
                let message = stadtbote_i18n::tr!("offline-working-locally", error = e);
                eprintln!("{}", stadtbote_i18n::tr!("warning-line", message = message));
                client.disconnect().await;
                Ok(false)
            }
            _ => Err(error),
        },
    }
}

/// The second-factor code from `--otp` / `STADTBOTE_OTP`, set once by
/// `main` before any command runs.
static OTP: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Remembers the `--otp` code for [`open_connected`].
pub fn set_otp(otp: String) {
    // Set once at start; a second call would only repeat the same value.
    let _ = OTP.set(otp);
}

/// Opens the client and connects, for commands that need the server. With
/// `--otp`, presents the code right after login, so that the connection
/// passes the second factor for this device's admin roles.
pub async fn open_connected(home: &PathBuf, server: &str) -> Result<Client> {
    let mut client = Client::open(home, server)?;
    if let Some(otp) = OTP.get() {
        // Presented right after login, before the catch-up (whose
        // automatic staff approvals may need it).
        client.set_second_factor_code(otp.clone());
    }
    crate::catch_up(&mut client, None).await?;
    Ok(client)
}

/// Exit code of `consult` when the org is not holding a consultation right
/// now: the question was not sent (the output says so and lists the
/// hours). Distinct from 1, which every other failure uses.
pub const EXIT_NOT_SENT: u8 = 3;

/// A command that has already printed what happened and only needs to end
/// with a particular exit code (no `error:` line).
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct Exit {
    /// The process's exit code.
    pub code: u8,
    /// What happened, for logs and tests (not printed).
    pub reason: &'static str,
}
