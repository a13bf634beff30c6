//! `stadtbote org legal …` and `stadtbote org template …`: the town's
//! Impressum and privacy notice, and its departments' reply templates, in
//! the org's signed profile (issue 16, items 5 and 6; the logic is
//! `stadtbote_cli::org_legal`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use stadtbote_cli::invalid_input::InvalidReason as R;
use stadtbote_cli::org_legal_output::{legal_json, legal_lines, template_lines, templates_json};
use stadtbote_cli::output::{safe, safe_json};
use stadtbote_cli::{Client, ClientError};
use stadtbote_i18n::tr;
use stadtbote_protocol::org_legal::{LegalField, ReplyTemplate, validate_template_name};

use super::open_connected;

/// `stadtbote org legal …`
#[derive(Subcommand)]
pub enum LegalCommand {
    /// Set the town's Impressum and privacy notice (GDPR Art. 13) in its
    /// signed profile, each from a text file (UTF-8; an empty file
    /// removes the part). Give only the parts to change; the others stay.
    /// Citizens' apps show them from the verified profile.
    Set(LegalFiles),
    /// Show the legal pages of the org's published profile.
    Show {
        /// One JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// The text files of `org legal set`, one per part.
#[derive(Args)]
#[group(required = true, multiple = true)]
pub struct LegalFiles {
    /// Impressum: who runs the service, address, contact, representative.
    #[arg(long, value_name = "FILE")]
    impressum: Option<PathBuf>,
    /// Controller (Art. 13(1)(a)): name, postal address, contact.
    #[arg(long, value_name = "FILE")]
    controller: Option<PathBuf>,
    /// Data-protection officer (Art. 13(1)(b)): contact.
    #[arg(long, value_name = "FILE")]
    dpo: Option<PathBuf>,
    /// Purposes of the processing and its legal basis (Art. 13(1)(c)).
    #[arg(long, value_name = "FILE")]
    purposes: Option<PathBuf>,
    /// How long data is kept (Art. 13(2)(a)).
    #[arg(long, value_name = "FILE")]
    retention: Option<PathBuf>,
    /// Recipients of the data (Art. 13(1)(e)).
    #[arg(long, value_name = "FILE")]
    recipients: Option<PathBuf>,
    /// The citizens' rights, including the complaint to the supervisory
    /// authority (Art. 13(2)(b)-(d)).
    #[arg(long, value_name = "FILE")]
    rights: Option<PathBuf>,
}

impl LegalFiles {
    fn given(&self) -> Vec<(LegalField, &Path)> {
        [
            (LegalField::Impressum, &self.impressum),
            (LegalField::Controller, &self.controller),
            (LegalField::Dpo, &self.dpo),
            (LegalField::Purposes, &self.purposes),
            (LegalField::Retention, &self.retention),
            (LegalField::Recipients, &self.recipients),
            (LegalField::Rights, &self.rights),
        ]
        .into_iter()
        .filter_map(|(field, path)| path.as_deref().map(|p| (field, p)))
        .collect()
    }
}

/// `stadtbote org template …`
#[derive(Subcommand)]
pub enum TemplateCommand {
    /// Add a reply template ("Textbaustein") for a department, or replace
    /// the one of that name; staff use it with `reply THREAD --template NAME`.
    Add {
        /// Its short name, e.g. erledigt (1-32 of a-z, 0-9, -, _).
        name: String,
        /// The department whose staff use it, e.g. bauhof.
        #[arg(long)]
        department: String,
        /// The reply text (or --file).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        text: Option<String>,
        /// Read the reply text from this file (UTF-8).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// List the reply templates of the org's published profile.
    List {
        /// Only this department's.
        #[arg(long)]
        department: Option<String>,
        /// One JSON object per template.
        #[arg(long)]
        json: bool,
    },
    /// Remove a reply template.
    Remove {
        /// Its name.
        name: String,
        /// Its department.
        #[arg(long)]
        department: String,
    },
}

/// Reads a text file given on the command line.
fn read_text(path: &Path) -> Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| tr!("org-legal-read-failed", file = path.display()))?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) => bail!("{}", tr!("org-legal-not-utf8", file = path.display())),
    }
}

/// Runs `stadtbote org legal …`.
pub async fn legal(
    home: &PathBuf,
    server: &str,
    handle: Option<&str>,
    command: LegalCommand,
) -> Result<()> {
    match command {
        LegalCommand::Set(files) => {
            // Read (and refuse) before connecting.
            let mut changes = Vec::new();
            for (field, path) in files.given() {
                changes.push((field, read_text(path)?));
            }
            let mut client = open_connected(home, server).await?;
            let handle = client.admin_org(handle)?.handle.clone();
            let result = client.set_legal(&handle, changes).await;
            client.disconnect().await;
            let profile = result?;
            println!("{}", tr!("org-legal-set", org = safe(&profile.name)));
            for line in legal_lines(profile.legal.as_ref()) {
                println!("{line}");
            }
            if !profile.legal.as_ref().is_some_and(|l| l.has_privacy_notice()) {
                let note = tr!("org-legal-incomplete");
                eprintln!("{}", tr!("note-line", message = note));
            }
            println!("{}", tr!("org-profile-published", version = profile.version));
            println!("{}", tr!("org-legal-shown", handle = safe(&handle)));
            Ok(())
        }
        LegalCommand::Show { json } => {
            let mut client = Client::open(home, server)?;
            let handle = client.admin_org(handle)?.handle.clone();
            let profile = published_profile(&mut client, &handle).await?;
            if json {
                println!("{}", safe_json(&legal_json(Some(&profile)).to_string()));
            } else {
                for line in legal_lines(profile.legal.as_ref()) {
                    println!("{line}");
                }
            }
            Ok(())
        }
    }
}

/// The org's profile: fetched and verified when the server can be
/// reached, else the one this device published or pinned last.
async fn published_profile(
    client: &mut Client,
    handle: &str,
) -> Result<stadtbote_protocol::org::OrgProfile> {
    let connected = super::try_catch_up(client).await?;
    let fetched = if connected { client.fetch_org(handle).await.ok() } else { None };
    client.disconnect().await;
    let profile = fetched
        .and_then(|o| o.profile)
        .or_else(|| client.admin_org(Some(handle)).ok().and_then(|a| a.profile.clone()))
        .or_else(|| client.cached_org(handle).ok().flatten().and_then(|o| o.profile));
    match profile {
        Some(profile) => Ok(profile),
        None => bail!("{}", tr!("org-no-profile")),
    }
}

/// The org a template command is about: `--org`, else the org this
/// device administers, else the org it is staff of.
fn template_org(client: &Client, handle: Option<&str>) -> Result<String> {
    if let Some(handle) = handle {
        return Ok(handle.to_string());
    }
    match client.admin_org(None) {
        Ok(admin) => Ok(admin.handle.clone()),
        Err(error) => match client.state().enrolments.first() {
            Some(enrolment) => Ok(enrolment.handle.clone()),
            None => Err(error.into()),
        },
    }
}

/// Runs `stadtbote org template …`.
pub async fn template(
    home: &PathBuf,
    server: &str,
    handle: Option<&str>,
    command: TemplateCommand,
) -> Result<()> {
    match command {
        TemplateCommand::Add { name, department, text, file } => {
            let text = match (text, file) {
                (Some(text), _) => text,
                (None, Some(path)) => read_text(&path)?,
                (None, None) => bail!("{}", tr!("org-template-no-text")),
            };
            let template = ReplyTemplate { department, name, text: text.trim_end().to_string() };
            template
                .check()
                .map_err(|e| ClientError::Invalid { what: "template", reason: R::Format(e) })?;
            let mut client = open_connected(home, server).await?;
            let handle = client.admin_org(handle)?.handle.clone();
            let (department, name) = (template.department.clone(), template.name.clone());
            let result = client.add_template(&handle, template).await;
            client.disconnect().await;
            let (profile, replaced) = result?;
            let (name_text, department_text) = (safe(&name), safe(&department));
            if replaced {
                let message =
                    tr!("org-template-replaced", name = name_text, department = department_text);
                println!("{message}");
            } else {
                let message =
                    tr!("org-template-added", name = name_text, department = department_text);
                println!("{message}");
            }
            println!("{}", tr!("org-template-use", name = safe(&name)));
            println!("{}", tr!("org-profile-published", version = profile.version));
            Ok(())
        }
        TemplateCommand::Remove { name, department } => {
            validate_template_name(&name)
                .map_err(|e| ClientError::Invalid { what: "template", reason: R::Format(e) })?;
            let mut client = open_connected(home, server).await?;
            let handle = client.admin_org(handle)?.handle.clone();
            let result = client.remove_template(&handle, &department, &name).await;
            client.disconnect().await;
            let profile = result?;
            println!(
                "{}",
                tr!("org-template-removed", name = safe(&name), department = safe(&department))
            );
            println!("{}", tr!("org-profile-published", version = profile.version));
            Ok(())
        }
        TemplateCommand::List { department, json } => {
            let mut client = Client::open(home, server)?;
            let handle = template_org(&client, handle)?;
            let profile = published_profile(&mut client, &handle).await?;
            let templates: Vec<ReplyTemplate> = profile
                .reply_templates
                .into_iter()
                .filter(|t| department.as_ref().is_none_or(|d| *d == t.department))
                .collect();
            if json {
                if let serde_json::Value::Array(items) = templates_json(&templates) {
                    for item in items {
                        println!("{}", safe_json(&item.to_string()));
                    }
                }
            } else {
                for line in template_lines(&templates) {
                    println!("{line}");
                }
            }
            Ok(())
        }
    }
}
