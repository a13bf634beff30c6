//! A server's refusal as the server sent it ([`Refusal`]). Front-ends word
//! it in the user's language by its stable reason code (the CLI:
//! client-cli/src/refusal_text.rs), never by the server's English text.

use stadtbote_protocol::{ErrorBody, RefusalReason};

/// A refusal as the server sent it. Its `Display` is the server's own
/// English text (what `ClientError`'s English messages have always shown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub ErrorBody);

impl Refusal {
    /// The refusal's reason, if the server sent one this client knows.
    pub fn reason(&self) -> Option<RefusalReason> {
        self.0.reason.filter(|reason| *reason != RefusalReason::Unknown)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)
    }
}
