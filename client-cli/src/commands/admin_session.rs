//! Several admin commands within one login: `stadtbote admin batch` (one
//! command per line of standard input) and `stadtbote admin shell` (an
//! interactive prompt).
//!
//! The server elevates a connection once its second factor is passed
//! (`--otp CODE`, presented right after login) and keeps it elevated until
//! the connection closes, so one connection runs every command with one
//! code. The session is bounded by the server: it closes a connection that
//! stays silent for its `idle_timeout_secs` (5 minutes by default), and
//! every command is still its own entry in the audit log, after the
//! session's one `second-factor` entry.

use stadtbote_client::connection::ConnectionError;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Result, anyhow, bail};
use clap::Parser;
use stadtbote_cli::error_text::localized_chain;
use stadtbote_cli::output::safe;
use stadtbote_cli::{Client, ClientError};
use stadtbote_i18n::tr;

use super::org::{AdminCommand, admin_inner};

/// One line of a batch or shell: what follows `stadtbote admin`.
#[derive(Parser)]
#[command(name = "admin", no_binary_name = true, disable_version_flag = true)]
struct AdminLine {
    #[command(subcommand)]
    command: AdminCommand,
}

/// What a line of input asks for.
enum Line {
    /// Blank or a `#` comment.
    Skip,
    /// `exit` or `quit` (shell only; in a batch it is simply the end).
    Exit,
    /// An admin command.
    Command(Box<AdminCommand>),
}

/// Parses one line; a clap error (including `help`) is returned as is so
/// that the shell can print its help text.
fn parse_line(line: &str) -> Result<Line, LineError> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Line::Skip);
    }
    if matches!(trimmed, "exit" | "quit") {
        return Ok(Line::Exit);
    }
    let words = shlex::split(trimmed).ok_or(LineError::Quoting)?;
    let parsed = AdminLine::try_parse_from(words).map_err(LineError::Usage)?;
    match parsed.command {
        AdminCommand::Batch | AdminCommand::Shell => Err(LineError::Nested),
        command => Ok(Line::Command(Box::new(command))),
    }
}

/// Why a line is not a command.
enum LineError {
    /// Unbalanced quotes.
    Quoting,
    /// `batch` or `shell` inside a session.
    Nested,
    /// Not a valid admin command (or a request for help).
    Usage(clap::Error),
}

impl LineError {
    /// One line for an error message.
    fn summary(&self) -> String {
        match self {
            LineError::Quoting => tr!("admin-session-unbalanced-quotes"),
            LineError::Nested => tr!("admin-session-nested"),
            LineError::Usage(e) => {
                let text = e.to_string();
                let first = text.lines().next().unwrap_or_default();
                first.strip_prefix("error: ").unwrap_or(first).to_owned()
            }
        }
    }
}

/// Whether `error` means the session's connection is gone.
fn session_ended(error: &anyhow::Error) -> bool {
    matches!(
        stadtbote_cli::error::client_error(error),
        Some(ClientError::Connection(ConnectionError::Lost { .. }) | ClientError::NotConnected)
    )
}

/// What to tell the user when the connection closed mid-session.
fn session_ended_text() -> String {
    tr!("admin-session-ended")
}

/// `stadtbote admin batch`: runs each line of standard input as an admin
/// command on `client`'s one connection; stops at the first failure,
/// naming its line.
pub async fn batch(client: &mut Client, home: &Path) -> Result<()> {
    let stdin = std::io::stdin();
    let mut ran = 0usize;
    for (index, line) in stdin.lock().lines().enumerate() {
        let number = index + 1;
        let line = line
            .map_err(|e| anyhow!("{}", tr!("admin-batch-read-line", line = number, error = e)))?;
        let command = match parse_line(&line) {
            Ok(Line::Skip) => continue,
            Ok(Line::Exit) => break,
            Ok(Line::Command(command)) => command,
            Err(e) => bail!(
                "{}",
                tr!("admin-batch-stopped", line = number, error = e.summary(), ran = ran)
            ),
        };
        if let Err(error) = admin_inner(client, home, *command).await {
            if session_ended(&error) {
                bail!("{}", tr!("admin-batch-line", line = number, error = session_ended_text()));
            }
            let error = localized_chain(error.chain());
            bail!("{}", tr!("admin-batch-stopped", line = number, error = error, ran = ran));
        }
        ran += 1;
        // Each command's output is complete before the next one starts.
        std::io::stdout().flush()?;
    }
    Ok(())
}

/// `stadtbote admin shell`: reads admin commands line by line (with a
/// prompt on a terminal), runs each on the same connection and keeps going
/// after a failed command; `exit`, `quit` or end of input leave.
pub async fn shell(client: &mut Client, home: &Path) -> Result<()> {
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("{}", tr!("admin-shell-intro"));
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            eprint!("admin> ");
            std::io::stderr().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line.map_err(|e| anyhow!("{}", tr!("admin-shell-read", error = e)))?;
        let command = match parse_line(&line) {
            Ok(Line::Skip) => continue,
            Ok(Line::Exit) => break,
            Ok(Line::Command(command)) => command,
            Err(LineError::Usage(e))
                if matches!(
                    e.kind(),
                    clap::error::ErrorKind::DisplayHelp
                        | clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                ) =>
            {
                eprint!("{}", e.render());
                continue;
            }
            Err(e) => {
                eprintln!("{}", tr!("error-line", message = safe(&e.summary())));
                continue;
            }
        };
        if let Err(error) = admin_inner(client, home, *command).await {
            if session_ended(&error) {
                bail!("{}", session_ended_text());
            }
            let text = localized_chain(error.chain()).replace(['\n', '\r'], " ");
            eprintln!("{}", tr!("error-line", message = safe(&text)));
        }
        std::io::stdout().flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_like_the_command_line() {
        assert!(matches!(parse_line("  # a comment"), Ok(Line::Skip)));
        assert!(matches!(parse_line(""), Ok(Line::Skip)));
        assert!(matches!(parse_line("quit"), Ok(Line::Exit)));
        assert!(matches!(
            parse_line("org create 'Stadt Musterhausen' --handle musterhausen"),
            Ok(Line::Command(c)) if matches!(*c, AdminCommand::Org { .. })
        ));
        assert!(matches!(parse_line("stats --json"), Ok(Line::Command(_))));
        assert!(matches!(parse_line("batch"), Err(LineError::Nested)));
        assert!(matches!(parse_line("org create 'Stadt"), Err(LineError::Quoting)));
        let Err(unknown) = parse_line("frobnicate") else { panic!("accepted") };
        assert!(unknown.summary().contains("frobnicate"), "{}", unknown.summary());
    }
}
