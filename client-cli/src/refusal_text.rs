//! A server's refusal in the user's language, chosen by the refusal's
//! stable reason code ([`RefusalReason`], the `reason` of an
//! [`ErrorBody`]) from the catalogs' `refusal-…` messages: never by
//! matching the server's English `message`, which a server may word as it
//! likes. Only a refusal without a reason this client knows (an older or a
//! newer server) shows the server's text, filtered like every other
//! party's string ([`crate::output::safe`]).
//!
//! The catalog id of a reason is `refusal-` and its wire name with `-` for
//! `_` (`second_factor_wrong_code` → `refusal-second-factor-wrong-code`);
//! the English catalog texts equal the server's English texts (the
//! server's tests check that), so English output does not change.

use stadtbote_i18n::{Catalog, Lang, language};
use stadtbote_protocol::{ErrorBody, RefusalReason};

use crate::output::safe;

pub use stadtbote_client::refusal::Refusal;

/// A server's [`Refusal`] in the user's language.
pub trait RefusalText {
    /// The refusal in the current language.
    fn text(&self) -> String;
}

impl RefusalText for Refusal {
    fn text(&self) -> String {
        refusal_text(&self.0)
    }
}

/// The catalog id of `reason`'s text; `None` for [`RefusalReason::Unknown`].
pub fn catalog_id(reason: RefusalReason) -> Option<String> {
    (reason != RefusalReason::Unknown)
        .then(|| format!("refusal-{}", reason.as_str().replace('_', "-")))
}

/// `body`'s refusal in `lang`: the catalog's text for its reason, else the
/// server's message made safe for a terminal.
pub fn refusal_text_in(lang: Lang, body: &ErrorBody) -> String {
    body.reason
        .and_then(catalog_id)
        .and_then(|id| Catalog::get(lang).value(&id))
        .unwrap_or_else(|| safe(&body.message).into_owned())
}

/// `body`'s refusal in the current language (see [`refusal_text_in`]).
pub fn refusal_text(body: &ErrorBody) -> String {
    refusal_text_in(language(), body)
}

/// A whole server error as `ConnectionError::Server` (in
/// `ClientError::Connection`) shows it: the refusal in
/// the current language and its (untranslated, stable) code.
pub fn server_error_text(body: &ErrorBody) -> String {
    format!("{} ({})", refusal_text(body), body.code.as_str())
}

#[cfg(test)]
mod tests {
    use stadtbote_protocol::ErrorCode;

    use super::*;

    fn body(reason: Option<RefusalReason>, message: &str) -> ErrorBody {
        ErrorBody { reason, ..ErrorBody::new(ErrorCode::SecondFactorRequired, message) }
    }

    /// Every reason a server sends has a text in every language: a reason
    /// added to the protocol without catalog entries fails here.
    #[test]
    fn every_reason_has_a_text_in_every_language() {
        let mut missing = Vec::new();
        for lang in Lang::ALL {
            for reason in RefusalReason::ALL {
                let id = catalog_id(*reason).unwrap_or_default();
                if !Catalog::get(lang).has(&id) {
                    missing.push(format!("{id} ({})", lang.code()));
                }
            }
        }
        assert!(missing.is_empty(), "refusal texts missing from the catalogs: {missing:?}");
    }

    /// German texts are German: none of them is the English one (the few
    /// words both languages share would be a mistake here).
    #[test]
    fn german_texts_differ_from_english() {
        for reason in RefusalReason::ALL {
            let id = catalog_id(*reason).unwrap_or_default();
            let de = Catalog::get(Lang::De).value(&id);
            let en = Catalog::get(Lang::En).value(&id);
            assert_ne!(de, en, "{id} is not translated");
        }
    }

    /// The text comes from the reason whatever the server wrote, in the
    /// language asked for.
    #[test]
    fn the_reason_chooses_the_text_not_the_message() {
        let wrong = body(Some(RefusalReason::SecondFactorWrongCode), "anything at all");
        assert_eq!(refusal_text_in(Lang::De, &wrong), "zweiter Faktor abgelehnt: falscher Code");
        assert_eq!(refusal_text_in(Lang::En, &wrong), "second factor refused: wrong code");
        let superseded = body(Some(RefusalReason::SecondFactorSuperseded), "");
        assert!(refusal_text_in(Lang::De, &superseded).contains("älter als der zuletzt benutzte"));
    }

    /// Without a reason, or with one from a newer server, the server's own
    /// text is shown, with its control characters neutralised.
    #[test]
    fn unknown_reasons_fall_back_to_the_filtered_message() {
        let future = body(Some(RefusalReason::Unknown), "new rule\u{1b}[2J refused it");
        assert_eq!(refusal_text_in(Lang::De, &future), "new rule␛[2J refused it");
        let old = body(None, "second factor refused: wrong code\r\n");
        assert_eq!(refusal_text_in(Lang::De, &old), "second factor refused: wrong code␍␊");
        assert_eq!(catalog_id(RefusalReason::Unknown), None);
    }

    #[test]
    fn server_errors_name_their_code() {
        let member =
            ErrorBody::new(ErrorCode::NotAMember, "x").with_reason(RefusalReason::NotAMember);
        assert!(server_error_text(&member).ends_with(" (not_a_member)"));
    }
}
