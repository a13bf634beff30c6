//! Everything a citizen, clerk or mayor reads, in German first and English
//! second: the two Fluent catalogs (`locales/de/stadtbote.ftl`,
//! `locales/en/stadtbote.ftl`), embedded at compile time, and the lookup
//! the CLI (and later the web app) formats its messages with.
//!
//! The crate reads no file and no environment variable: the caller decides
//! the language ([`negotiate`] turns `--lang` and the locale variables into
//! one) and sets it once with [`set_language`]; [`tr`] and the [`tr!`]
//! macro then format a message in that language. English is the default,
//! so scripts and tests that never set a language see the English texts.
//!
//! A message id that is missing from the catalog (a bug the crate's tests
//! and the CLI's catalog test catch) formats as the id itself rather than
//! panicking.

use std::fmt::Display;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// The German catalog (the reference: German first).
pub const CATALOG_DE: &str = include_str!("../locales/de/stadtbote.ftl");
/// The English catalog. Its texts are the CLI's historic English output,
/// byte for byte, which scripts and the end-to-end tests rely on.
pub const CATALOG_EN: &str = include_str!("../locales/en/stadtbote.ftl");

/// A language Stadtbote speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// Deutsch.
    De,
    /// English (the default).
    En,
}

impl Lang {
    /// Every supported language, German first.
    pub const ALL: [Lang; 2] = [Lang::De, Lang::En];

    /// The language's code as `--lang` takes it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::De => "de",
            Lang::En => "en",
        }
    }

    /// Parses a language code or a POSIX locale name (`de`, `de-AT`,
    /// `de_DE.UTF-8`, `en_GB@euro`); `None` for languages Stadtbote does not
    /// speak and for `C`/`POSIX`.
    pub fn parse(text: &str) -> Option<Lang> {
        // POSIX form: language[_territory][.codeset][@modifier].
        let base = text.split(['.', '@']).next().unwrap_or_default().replace('_', "-");
        let id: unic_langid::LanguageIdentifier = base.parse().ok()?;
        match id.language.as_str() {
            "de" => Some(Lang::De),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::De => CATALOG_DE,
            Lang::En => CATALOG_EN,
        }
    }
}

/// Chooses the language the way POSIX programs do: an explicit choice
/// (`--lang`) first, else the first of `LC_ALL`, `LC_MESSAGES`, `LANG` that
/// is set and not empty. That variable decides alone: English when it
/// names `C`, `POSIX` or a language Stadtbote does not speak, and English
/// when none is set.
pub fn negotiate(
    explicit: Option<Lang>,
    lc_all: Option<&str>,
    lc_messages: Option<&str>,
    lang: Option<&str>,
) -> Lang {
    if let Some(lang) = explicit {
        return lang;
    }
    [lc_all, lc_messages, lang]
        .into_iter()
        .flatten()
        .find(|value| !value.is_empty())
        .and_then(Lang::parse)
        .unwrap_or(Lang::En)
}

static LANGUAGE: AtomicU8 = AtomicU8::new(1);

/// Sets the language [`tr`] formats in, for the whole process.
pub fn set_language(lang: Lang) {
    LANGUAGE.store(
        match lang {
            Lang::De => 0,
            Lang::En => 1,
        },
        Ordering::Relaxed,
    );
}

/// The language [`tr`] formats in (English unless [`set_language`] chose
/// another).
pub fn language() -> Lang {
    match LANGUAGE.load(Ordering::Relaxed) {
        0 => Lang::De,
        _ => Lang::En,
    }
}

/// One parsed catalog.
pub struct Catalog {
    lang: Lang,
    bundle: FluentBundle<FluentResource>,
    ids: Vec<String>,
}

impl Catalog {
    fn load(lang: Lang) -> Catalog {
        // A syntax error yields a partial resource plus errors; the unit
        // tests require an error-free parse, so at run time the partial
        // resource is what there is.
        let resource = match FluentResource::try_new(lang.source().to_string()) {
            Ok(resource) => resource,
            Err((resource, _errors)) => resource,
        };
        let ids = resource
            .entries()
            .filter_map(|entry| match entry {
                fluent_syntax::ast::Entry::Message(message) => Some(message.id.name.to_string()),
                _ => None,
            })
            .collect();
        // "de" and "en" always parse; the default (und) only if not.
        let locale: unic_langid::LanguageIdentifier = lang.code().parse().unwrap_or_default();
        let mut bundle = FluentBundle::new_concurrent(vec![locale]);
        // No Unicode isolation marks around arguments: the output is a
        // terminal line (and the English one must stay byte-identical).
        bundle.set_use_isolating(false);
        // Duplicate ids are refused by the tests; the first one wins here.
        let _ = bundle.add_resource(resource);
        Catalog { lang, bundle, ids }
    }

    /// The catalog of `lang`, parsed once per process.
    pub fn get(lang: Lang) -> &'static Catalog {
        static DE: OnceLock<Catalog> = OnceLock::new();
        static EN: OnceLock<Catalog> = OnceLock::new();
        match lang {
            Lang::De => DE.get_or_init(|| Catalog::load(Lang::De)),
            Lang::En => EN.get_or_init(|| Catalog::load(Lang::En)),
        }
    }

    /// The catalog's language.
    pub fn lang(&self) -> Lang {
        self.lang
    }

    /// The ids of every message, in catalog order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Whether the catalog has a message `id` with a value.
    pub fn has(&self, id: &str) -> bool {
        self.bundle.get_message(id).and_then(|m| m.value()).is_some()
    }

    /// Message `id`'s value without arguments, if the catalog has one.
    pub fn value(&self, id: &str) -> Option<String> {
        let pattern = self.bundle.get_message(id)?.value()?;
        let mut errors = Vec::new();
        Some(self.bundle.format_pattern(pattern, None, &mut errors).into_owned())
    }

    /// Attribute `attribute` of message `id` (`id` / `.attribute = …`), if
    /// the catalog has it: the CLI keeps an argument's help there.
    pub fn attribute(&self, id: &str, attribute: &str) -> Option<String> {
        let pattern = self.bundle.get_message(id)?.get_attribute(attribute)?.value();
        let mut errors = Vec::new();
        Some(self.bundle.format_pattern(pattern, None, &mut errors).into_owned())
    }

    /// Formats message `id` with `args`; the id itself when it is missing.
    pub fn format(&self, id: &str, args: &[(&str, Arg)]) -> String {
        match self.format_checked(id, args) {
            Some((text, _complete)) => text,
            None => id.to_string(),
        }
    }

    /// Formats message `id` with `args` when that works completely: `None`
    /// when the catalog has no such message or the message uses an
    /// argument missing from `args`. For texts built from another party's
    /// data (a server's retention table), which may lack a value.
    pub fn format_complete(&self, id: &str, args: &[(&str, Arg)]) -> Option<String> {
        let (text, complete) = self.format_checked(id, args)?;
        complete.then_some(text)
    }

    /// Message `id` formatted with `args`, and whether Fluent reported no
    /// error (a missing argument is an error); `None` without the message.
    fn format_checked(&self, id: &str, args: &[(&str, Arg)]) -> Option<(String, bool)> {
        let pattern = self.bundle.get_message(id)?.value()?;
        let mut fluent_args = FluentArgs::with_capacity(args.len());
        for (name, value) in args {
            let value = match value {
                Arg::Text(text) => FluentValue::from(text.clone()),
                Arg::Number(n) => FluentValue::from(*n),
            };
            fluent_args.set(*name, value);
        }
        let mut errors = Vec::new();
        let text = self.bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
        Some((text.into_owned(), errors.is_empty()))
    }
}

/// A value for a placeable `{ $name }`: text as it is, or a number (which
/// plural selectors such as `[one]` can match).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// Inserted as it is.
    Text(String),
    /// An integer count.
    Number(i64),
}

/// Turns a value into an [`Arg`]: anything displayable becomes text;
/// wrap a count in [`Count`] to make it a number.
pub trait ToArg {
    /// The argument.
    fn to_arg(&self) -> Arg;
}

impl<T: Display + ?Sized> ToArg for T {
    fn to_arg(&self) -> Arg {
        Arg::Text(self.to_string())
    }
}

/// A count for a plural selector (`{ $n -> [one] … *[other] … }`).
#[derive(Debug, Clone, Copy)]
pub struct Count(pub u64);

impl ToArg for Count {
    fn to_arg(&self) -> Arg {
        Arg::Number(i64::try_from(self.0).unwrap_or(i64::MAX))
    }
}

/// Formats message `id` in the current [`language`].
pub fn tr(id: &str, args: &[(&str, Arg)]) -> String {
    Catalog::get(language()).format(id, args)
}

/// Formats message `id` in `lang`, whatever the current language.
pub fn tr_in(lang: Lang, id: &str, args: &[(&str, Arg)]) -> String {
    Catalog::get(lang).format(id, args)
}

/// `tr!("id")` or `tr!("id", name = value, count = Count(n))`: formats a
/// catalog message in the current language. Values are anything that
/// implements `Display` (or [`Count`]).
#[macro_export]
macro_rules! tr {
    ($id:literal) => {
        $crate::tr($id, &[])
    };
    ($id:literal, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::tr($id, &[$((stringify!($name), $crate::ToArg::to_arg(&$value))),+])
    };
}

#[cfg(test)]
mod tests;
