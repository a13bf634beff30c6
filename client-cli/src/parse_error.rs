//! Command-line parse errors in the chosen language.
//!
//! clap renders its own errors in English only. In English they stay
//! exactly as clap prints them (scripts and tests read them); in another
//! language this module says the same from the shared catalogs, using the
//! context clap attaches to the error (the offending argument, the value,
//! the allowed values, clap's suggestion).

use clap::error::{ContextKind, ContextValue, ErrorKind};
use stadtbote_i18n::{Lang, tr};

/// The error's text in the current language, or `None` where clap's own
/// output is right: English, `--help` and `--version` (not errors), and
/// kinds this module does not know.
pub fn localized(error: &clap::Error) -> Option<String> {
    if stadtbote_i18n::language() == Lang::En {
        return None;
    }
    let context = |kind: ContextKind| error.get(kind).map(value_text);
    let arg = context(ContextKind::InvalidArg).unwrap_or_default();
    let message = match error.kind() {
        ErrorKind::UnknownArgument => tr!("parse-unknown-argument", arg = arg),
        ErrorKind::InvalidSubcommand => tr!(
            "parse-unknown-command",
            command = context(ContextKind::InvalidSubcommand).unwrap_or_default()
        ),
        ErrorKind::MissingRequiredArgument => tr!("parse-missing-argument", arg = arg),
        ErrorKind::MissingSubcommand => tr!("parse-missing-command"),
        ErrorKind::InvalidValue => tr!(
            "parse-invalid-value",
            arg = arg,
            value = context(ContextKind::InvalidValue).unwrap_or_default()
        ),
        ErrorKind::ValueValidation => tr!(
            "parse-value-validation",
            arg = arg,
            value = context(ContextKind::InvalidValue).unwrap_or_default()
        ),
        ErrorKind::ArgumentConflict => tr!(
            "parse-argument-conflict",
            arg = arg,
            prior = context(ContextKind::PriorArg).unwrap_or_default()
        ),
        ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
            tr!("parse-wrong-number-of-values", arg = arg)
        }
        ErrorKind::NoEquals => tr!("parse-no-equals", arg = arg),
        ErrorKind::InvalidUtf8 => tr!("parse-invalid-utf8"),
        _ => return None,
    };
    let mut text = tr!("parse-error", message = message);
    if let Some(valid) = context(ContextKind::ValidValue) {
        text.push('\n');
        text.push_str(&tr!("parse-valid-values", values = valid));
    }
    if let Some(suggested) = context(ContextKind::SuggestedSubcommand)
        .or_else(|| context(ContextKind::SuggestedArg))
        .or_else(|| context(ContextKind::SuggestedValue))
    {
        text.push('\n');
        text.push_str(&tr!("parse-suggestion", suggestion = suggested));
    }
    text.push('\n');
    text.push_str(&tr!("parse-help-hint"));
    Some(text)
}

fn value_text(value: &ContextValue) -> String {
    match value {
        ContextValue::String(s) => s.clone(),
        ContextValue::Strings(list) => list.join(", "),
        ContextValue::StyledStr(s) => s.to_string(),
        ContextValue::StyledStrs(list) => {
            list.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        }
        ContextValue::Number(n) => n.to_string(),
        ContextValue::Bool(b) => b.to_string(),
        ContextValue::None => String::new(),
        _ => value.to_string(),
    }
}
