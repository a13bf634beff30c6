//! `stadtbote device list` and `stadtbote device remove`: the account's
//! signed device list, and removing a lost device from it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use stadtbote_protocol::DeviceId;

use super::open_connected;

/// `stadtbote device …`.
#[derive(Subcommand)]
pub enum DeviceCommand {
    /// Show the devices on this account's signed device list.
    List {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Remove a device (a lost or stolen phone) from this account: it can
    /// no longer log in, and other people's clients stop encrypting to it.
    Remove {
        /// The device id, as `stadtbote device list` shows it.
        device: String,
    },
}

/// Runs a `device` subcommand.
pub async fn device(home: &PathBuf, server: &str, command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::List { json } => list(home, server, json).await,
        DeviceCommand::Remove { device } => remove(home, server, &device).await,
    }
}

async fn list(home: &PathBuf, server: &str, json: bool) -> Result<()> {
    let mut client = open_connected(home, server).await?;
    client.disconnect().await;
    let own = client.own_devices()?;
    let this = client.device();
    if json {
        let devices: Vec<_> = own
            .list
            .devices
            .iter()
            .map(|d| {
                serde_json::json!({
                    "device": d.device.to_string(),
                    "fingerprint": d.identity_key.fingerprint(),
                    "added_at": d.added_at,
                    "this_device": d.device == this,
                })
            })
            .collect();
        let value = serde_json::json!({
            "account": own.list.account.to_string(),
            "version": own.list.version,
            "account_key": own.list.account_key.fingerprint(),
            "this_device": this.to_string(),
            "holds_account_key": own.holds_account_key,
            "devices": devices,
        });
        println!("{value}");
        return Ok(());
    }
    println!(
        "Devices of account {} (signed list version {}, account key {}):",
        own.list.account,
        own.list.version,
        own.list.account_key.fingerprint()
    );
    for d in &own.list.devices {
        let marker = if d.device == this { "  (this device)" } else { "" };
        println!(
            "  {}  added {}  key {}{marker}",
            d.device,
            stadtbote_cli::output::format_utc_minutes(d.added_at),
            d.identity_key.fingerprint()
        );
    }
    if !own.holds_account_key {
        println!(
            "This device does not hold the account key: link and remove devices from one that does."
        );
    }
    Ok(())
}

async fn remove(home: &PathBuf, server: &str, device: &str) -> Result<()> {
    let device = DeviceId::parse(device.trim()).map_err(|_| {
        anyhow::anyhow!("{device:?} is not a device id (see `stadtbote device list`)")
    })?;
    let mut client = open_connected(home, server).await?;
    let result = client.remove_device(&device).await;
    client.disconnect().await;
    let list = result?;
    println!(
        "Removed device {device} from account {} (signed list version {}). It can no longer log in; \
         other people's apps stop encrypting to it when they next write.",
        list.account, list.version
    );
    Ok(())
}
