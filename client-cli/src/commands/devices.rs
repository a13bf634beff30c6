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
        "{}",
        stadtbote_i18n::tr!(
            "devices-header",
            account = own.list.account,
            version = own.list.version,
            key = own.list.account_key.fingerprint()
        )
    );
    for d in &own.list.devices {
        let marker = if d.device == this {
            format!("  {}", stadtbote_i18n::tr!("devices-this"))
        } else {
            String::new()
        };
        println!(
            "  {}  {}{marker}",
            d.device,
            stadtbote_i18n::tr!(
                "devices-line",
                added = stadtbote_cli::output::format_utc_minutes(d.added_at),
                key = d.identity_key.fingerprint()
            )
        );
    }
    if !own.holds_account_key {
        println!("{}", stadtbote_i18n::tr!("devices-no-account-key"));
    }
    Ok(())
}

async fn remove(home: &PathBuf, server: &str, device: &str) -> Result<()> {
    let device = DeviceId::parse(device.trim()).map_err(|_| {
        anyhow::anyhow!(stadtbote_i18n::tr!(
            "devices-not-a-device-id",
            device = format!("{device:?}")
        ))
    })?;
    let mut client = open_connected(home, server).await?;
    let result = client.remove_device(&device).await;
    client.disconnect().await;
    let list = result?;
    println!(
        "{}",
        stadtbote_i18n::tr!(
            "devices-removed",
            device = device,
            account = list.account,
            version = list.version
        )
    );
    Ok(())
}
