//! `stadtbote account export` and `stadtbote account delete`: the citizen's
//! rights of access (GDPR Art. 15) and erasure (Art. 17).

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Subcommand;
use stadtbote_protocol::account::AccountExport;

use super::open_connected;

/// `stadtbote account …`.
#[derive(Subcommand)]
pub enum AccountCommand {
    /// Show everything the server holds about this account.
    Export {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete this account on the server and on this device, for good.
    Delete {
        /// Confirm: the account, its devices and their waiting messages and
        /// uploads are deleted and cannot be restored.
        #[arg(long)]
        yes: bool,
    },
}

/// Runs an `account` subcommand.
pub async fn account(home: &PathBuf, server: &str, command: AccountCommand) -> Result<()> {
    match command {
        AccountCommand::Export { json } => export(home, server, json).await,
        AccountCommand::Delete { yes } => delete(home, server, yes).await,
    }
}

async fn export(home: &PathBuf, server: &str, json: bool) -> Result<()> {
    let mut client = open_connected(home, server).await?;
    let export = client.export_account().await?;
    client.disconnect().await;
    if json {
        println!("{}", stadtbote_cli::output::safe_json(&serde_json::to_string(&export)?));
    } else {
        print!("{}", render(&export));
    }
    Ok(())
}

/// A Unix-ms time as `YYYY-MM-DD HH:MM UTC` (0 as "never").
fn time(ms: u64) -> String {
    if ms == 0 {
        return "never".into();
    }
    crate::output::format_utc_minutes(ms)
}

fn yes_no(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}

fn list(items: &[String]) -> String {
    // Org handles as the server names them: shown through `safe`.
    if items.is_empty() {
        "none".into()
    } else {
        stadtbote_cli::output::safe(&items.join(", ")).into_owned()
    }
}

/// The origin (`scheme://host[:port]`) of a push endpoint: which push
/// service it is. The rest of the URL names one browser and is only in the
/// `--json` export.
fn endpoint_origin(endpoint: &str) -> &str {
    let host = endpoint.find("://").map_or(0, |i| i + 3);
    let end = endpoint[host..].find(['/', '?', '#']).map_or(endpoint.len(), |i| host + i);
    &endpoint[..end]
}

/// A device's Web Push subscription as one line.
fn push_subscription(device: &stadtbote_protocol::account::DeviceExport) -> String {
    match &device.push_subscription {
        None => "none".into(),
        Some(subscription) => {
            let mut line = format!(
                "via {}, registered {}",
                stadtbote_cli::output::safe(endpoint_origin(&subscription.endpoint)),
                time(subscription.created_at)
            );
            if subscription.last_used_at > 0 {
                line.push_str(&format!(", last used {}", time(subscription.last_used_at)));
            }
            line
        }
    }
}

/// The human-readable export.
pub fn render(export: &AccountExport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "What this server stores about account {}", export.account);
    let _ = writeln!(
        out,
        "Message contents, names and attachments are end-to-end encrypted: the server \
         holds them only as ciphertext it cannot read, and keeps waiting messages only \
         until they are delivered or expire."
    );
    let _ = writeln!(out, "\naccount created: {}", time(export.created_at));
    let _ = writeln!(out, "\ndevices: {}", export.devices.len());
    for device in &export.devices {
        let key: String = device.identity_key.0.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "  device {}", device.device);
        let _ = writeln!(out, "    identity key: {key}");
        let _ = writeln!(out, "    added: {}", time(device.created_at));
        let _ = writeln!(out, "    blocked: {}", yes_no(device.blocked));
        let _ = writeln!(
            out,
            "    stored KeyPackages: {} one-time, last-resort: {}",
            device.key_packages,
            yes_no(device.last_resort_key_package)
        );
        let _ = writeln!(
            out,
            "    waiting messages: {} ({} bytes of ciphertext)",
            device.queued_envelopes, device.queued_bytes
        );
        let _ = writeln!(out, "    server admin: {}", yes_no(device.server_admin));
        let _ = writeln!(out, "    org admin of: {}", list(&device.org_admin_of));
        let _ = writeln!(out, "    staff of: {}", list(&device.staff_of));
        let _ = writeln!(out, "    push notifications: {}", push_subscription(device));
    }
    let _ = writeln!(out, "\nconversations (ids only): {}", export.groups.len());
    for group in &export.groups {
        let _ = writeln!(out, "  {group}");
    }
    let _ = writeln!(out, "\nuploads: {}", export.blobs.len());
    for blob in &export.blobs {
        let _ = writeln!(
            out,
            "  {}: {} bytes, {}, deleted {}",
            blob.blob,
            blob.size,
            if blob.complete { "complete" } else { "unfinished" },
            time(blob.expires_at)
        );
    }
    let _ = writeln!(out, "upload quota used: {} bytes", export.blob_usage_bytes);
    let _ = writeln!(out, "pending device link codes: {}", export.pending_link_codes);
    out
}

async fn delete(home: &PathBuf, server: &str, yes: bool) -> Result<()> {
    if !yes {
        bail!("{}", stadtbote_i18n::tr!("account-delete-confirm", home = home.display()));
    }
    let client = open_connected(home, server).await?;
    let account = client.account();
    let (deleted, removed) = client.delete_account().await?;
    println!(
        "{}",
        stadtbote_i18n::tr!(
            "account-deleted",
            account = account,
            devices = deleted.devices,
            envelopes = deleted.envelopes,
            blobs = deleted.blobs,
            key_packages = deleted.key_packages
        )
    );
    println!("{}", stadtbote_i18n::tr!("account-deleted-here", home = home.display()));
    for path in removed {
        println!("  {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::endpoint_origin;

    #[test]
    fn only_the_push_services_origin_is_shown() {
        assert_eq!(
            endpoint_origin("https://fcm.googleapis.com/fcm/send/dGhlLWJyb3dzZXI"),
            "https://fcm.googleapis.com"
        );
        assert_eq!(endpoint_origin("http://127.0.0.1:9/w?x#y"), "http://127.0.0.1:9");
        assert_eq!(endpoint_origin("https://push.example"), "https://push.example");
        assert_eq!(endpoint_origin("no-scheme/x"), "no-scheme");
    }
}
