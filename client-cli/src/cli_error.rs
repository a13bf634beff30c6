//! The CLI's own errors: its home directory and files, the photos it
//! reads, passphrases typed at the terminal, QR codes it draws, the extra
//! CA file — everything the client core (which never touches a file) does
//! not know. The core's [`ClientError`] travels inside as
//! [`CliError::Core`]; a CLI error that arises inside a core operation (a
//! key file under the home) travels the other way, as the core's
//! [`ClientError::Local`]. [`crate::error_text`] words both.

use std::path::{Path, PathBuf};

use stadtbote_client::ClientError;
use stadtbote_client::storage::StorageError;

/// Why a CLI operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The client core's error.
    #[error(transparent)]
    Core(#[from] ClientError),
    /// The extra CA certificate file (`--ca-cert`) cannot be used.
    #[error("cannot use CA certificate {path}: {reason}")]
    CaCert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The home directory has no identity yet.
    #[error("{home} holds no Stadtbote identity; run `stadtbote init` first")]
    NotInitialised {
        /// The home directory.
        home: PathBuf,
    },
    /// `init` on a home that already holds an identity.
    #[error("{home} is already initialised with a Stadtbote identity")]
    AlreadyInitialised {
        /// The home directory.
        home: PathBuf,
    },
    /// Another command holds the home directory's lock.
    #[error("another stadtbote command is using {home}; try again when it has finished")]
    Locked {
        /// The home directory.
        home: PathBuf,
    },
    /// A local file exists but cannot be decoded.
    #[error(
        "the local file {file} is corrupt ({reason}); restore it from a backup or move it away"
    )]
    CorruptFile {
        /// The file.
        file: PathBuf,
        /// Why it could not be read.
        reason: String,
    },
    /// A local file could not be read or written.
    #[error("cannot {action} {}: {}", .file.display(), stadtbote_client::inner_error::io_reason_en(.source))]
    Io {
        /// What was attempted ("read", "write", …).
        action: &'static str,
        /// The file or directory.
        file: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Wrong passphrase (or a damaged export file).
    #[error("wrong passphrase, or the key file is damaged")]
    WrongPassphrase,
    /// Empty passphrase.
    #[error("the passphrase must not be empty")]
    EmptyPassphrase,
    /// No passphrase available.
    #[error("no passphrase: set {env} or run the command in a terminal")]
    NoPassphrase {
        /// The environment variable.
        env: &'static str,
    },
    /// The two passphrases typed differ.
    #[error("the passphrases do not match")]
    PassphraseMismatch,
    /// Rendering the QR code failed.
    #[error(
        "cannot draw the QR code ({0}); run the command again, and report the problem if it persists"
    )]
    Qr(String),
    /// A photo file that cannot be read (missing, not a file, no
    /// permission). The OS reason is part of the message, not a source, so
    /// the one-line error shows it once.
    #[error("cannot read the photo {}: {reason}", .path.display())]
    PhotoUnreadable {
        /// The file.
        path: PathBuf,
        /// Why, in words ("there is no such file", ...).
        reason: String,
    },
}

impl CliError {
    /// The core's error inside, also when it came back wrapped as a
    /// [`ClientError::Local`] error.
    pub fn core(&self) -> Option<&ClientError> {
        match self {
            CliError::Core(error) => Some(error),
            _ => None,
        }
    }
}

impl From<CliError> for ClientError {
    /// A CLI error inside a core operation (a key file under the home):
    /// the core's error itself when it is one, else carried as
    /// [`ClientError::Local`].
    fn from(error: CliError) -> ClientError {
        match error {
            CliError::Core(error) => error,
            other => ClientError::local(other),
        }
    }
}

/// The CLI's error of a core error: a CLI error that travelled through
/// the core as [`ClientError::Local`] comes out as itself, the storage's
/// errors under `home` as the file errors the CLI has always reported
/// (see [`storage_error`]), everything else as [`CliError::Core`].
pub fn from_core(error: ClientError) -> CliError {
    match error {
        ClientError::Local(inner) => match inner.downcast::<CliError>() {
            Ok(cli) => *cli,
            Err(other) => CliError::Core(ClientError::Local(other)),
        },
        ClientError::Storage { place, error } => storage_error(Path::new(&place), &error),
        ClientError::StoredData { place, reason } => CliError::CorruptFile {
            file: Path::new(&place).join(crate::home_store::STORE_DIR),
            reason,
        },
        other => CliError::Core(other),
    }
}

/// A storage error of the store of `home` as the CLI reports local file
/// trouble: damage names the store's directory, another holder is the
/// home's "in use" error.
pub fn storage_error(home: &Path, error: &StorageError) -> CliError {
    let dir = home.join(crate::home_store::STORE_DIR);
    match error {
        StorageError::Corrupt { what } => CliError::CorruptFile { file: dir, reason: what.clone() },
        StorageError::UnsupportedVersion { .. } => {
            CliError::CorruptFile { file: dir, reason: error.to_string() }
        }
        StorageError::LeaseLost | StorageError::LeaseHeld { .. } => {
            CliError::Locked { home: home.to_path_buf() }
        }
        StorageError::NoSpace => CliError::Io {
            action: "write",
            file: dir,
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        },
        other => CliError::Io {
            action: "write",
            file: dir,
            source: std::io::Error::other(other.to_string()),
        },
    }
}

/// The core's connection error as the CLI says it (English): the core's
/// text, which names what failed, with what the user can do about it added
/// where there is something (wait; trust a town's own CA with
/// `--ca-cert`). The core never mentions the CLI's flags, so the advice
/// lives here.
pub fn connection_text(error: &stadtbote_client::connection::ConnectionError) -> String {
    use stadtbote_client::connection::ConnectionError;
    match error {
        ConnectionError::Busy { url, reason } => {
            format!("the server at {url} refused the connection: {reason}; try again later")
        }
        ConnectionError::UntrustedCertificate { url, reason } => format!(
            "TLS: the server's certificate is not trusted: {reason} (server {url}; for a town's own CA pass --ca-cert FILE)"
        ),
        other => other.to_string(),
    }
}

impl From<stadtbote_client::connection::ConnectionError> for CliError {
    fn from(error: stadtbote_client::connection::ConnectionError) -> CliError {
        CliError::Core(ClientError::Connection(error))
    }
}

/// The core's error in `error` (an `anyhow` error of a command), whether it
/// came as itself or inside a [`CliError::Core`].
pub fn client_error(error: &anyhow::Error) -> Option<&ClientError> {
    error
        .downcast_ref::<ClientError>()
        .or_else(|| error.downcast_ref::<CliError>().and_then(CliError::core))
}
