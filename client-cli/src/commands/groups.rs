//! Handlers of the discussion-group commands: `group create|invite|join|
//! post|read|remove` and `groups`. A link or id a command hands out is
//! printed alone on its last line.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use stadtbote_cli::Client;
use stadtbote_cli::group_output::{post_json, post_text, summary_json, summary_text};

/// `stadtbote group …`
#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a discussion group (certified staff devices).
    Create {
        /// The group's name.
        name: String,
        /// The org, when this device is staff of several.
        #[arg(long, value_name = "HANDLE")]
        org: Option<String>,
    },
    /// Print the group's current join link (any member).
    Invite {
        /// The group id (or an unambiguous prefix, or its name).
        group: String,
    },
    /// Join a group with its link.
    Join {
        /// The join link (`stadtbote:group:…`).
        link: String,
    },
    /// Post to a group.
    Post {
        /// The group id.
        group: String,
        /// The text.
        text: String,
    },
    /// Show the group's posts not shown before.
    Read {
        /// The group id.
        group: String,
        /// One JSON object per post.
        #[arg(long)]
        json: bool,
    },
    /// Remove a member and replace the join link (staff moderators).
    Remove {
        /// The group id.
        group: String,
        /// Account id (or unique prefix) or display name seen in the group.
        member: String,
    },
}

/// Runs a `group` subcommand.
pub async fn group(home: &PathBuf, server: &str, command: GroupCommand) -> Result<()> {
    let mut client = Client::open(home, server)?;
    let result = run(&mut client, command).await;
    client.disconnect().await;
    result
}

async fn run(client: &mut Client, command: GroupCommand) -> Result<()> {
    match command {
        GroupCommand::Create { name, org } => {
            let group = client.create_discussion_group(&name, org.as_deref()).await?;
            println!("{}", stadtbote_i18n::tr!("group-created", name = format!("{name:?}")));
            println!("{group}");
        }
        GroupCommand::Invite { group } => {
            let link = client.group_invite(&group).await?;
            println!("{}", stadtbote_i18n::tr!("group-invite"));
            println!("{link}");
            let app = stadtbote_cli::app_links::public_url(client.server_url()).await;
            if let Some(url) = stadtbote_cli::app_links::group_link_url(app.as_deref(), &link) {
                println!("{}", stadtbote_i18n::tr!("app-link-url"));
                println!("{url}");
            }
        }
        GroupCommand::Join { link } => {
            let (name, group) = client.join_group(&link).await?;
            let name = stadtbote_cli::output::safe(&name);
            println!("{}", stadtbote_i18n::tr!("group-joined", name = name));
            println!("{group}");
        }
        GroupCommand::Post { group, text } => {
            client.post_to_group(&group, &text).await?;
            println!("{}", stadtbote_i18n::tr!("group-posted"));
        }
        GroupCommand::Read { group, json } => {
            let group = client.resolve_group(&group)?;
            crate::commands::try_catch_up(client).await?;
            let posts = client.take_unshown_posts(&group).await?;
            if posts.is_empty() && !json {
                println!("{}", stadtbote_i18n::tr!("feed-none"));
            }
            for post in &posts {
                if json {
                    println!(
                        "{}",
                        stadtbote_cli::output::safe_json(&post_json(&group, post).to_string())
                    );
                } else {
                    println!("{}", post_text(post));
                }
            }
        }
        GroupCommand::Remove { group, member } => {
            let account = client.remove_from_group(&group, &member).await?;
            println!("{}", stadtbote_i18n::tr!("group-removed", account = account));
        }
    }
    Ok(())
}

/// `stadtbote groups`: the groups this device is in (offline).
pub fn groups(home: &PathBuf, server: &str, json: bool) -> Result<()> {
    let client = Client::open(home, server)?;
    let summaries = client.group_summaries()?;
    if summaries.is_empty() && !json {
        println!("{}", stadtbote_i18n::tr!("groups-none"));
    }
    for summary in &summaries {
        if json {
            println!("{}", stadtbote_cli::output::safe_json(&summary_json(summary).to_string()));
        } else {
            println!("{}", summary_text(summary));
        }
    }
    Ok(())
}
