//! The CLI's language: which one (`--lang`, else `LC_ALL`, `LC_MESSAGES`,
//! `LANG`), and clap's help texts in it.
//!
//! Derive doc comments are fixed English at compile time, so the built
//! `clap::Command` tree is localized at run time: the about text of the
//! command at path `report` is catalog message `help-report`, its argument
//! `category`'s help is that message's attribute `.category` (the top-level
//! command is `help`, `org claim` is `help-org-claim`). A command or
//! argument without a catalog entry keeps its English text. English output
//! is the derive output unchanged; the English catalog holds the same
//! texts, which the tests below compare with the derive output.

use clap::{Arg, ArgAction, Command};
use stadtbote_i18n::{Catalog, Lang, tr};

/// The language for this run: `--lang de|en` (or `--lang=…`) among the
/// arguments, else the POSIX locale variables.
pub fn language_from(args: impl IntoIterator<Item = String>) -> Lang {
    let mut explicit = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let value = match arg.strip_prefix("--lang") {
            Some("") => args.next(),
            Some(rest) => rest.strip_prefix('=').map(str::to_string),
            None => None,
        };
        if let Some(value) = value {
            // An unknown value is left to clap, which refuses it.
            explicit = Lang::parse(&value).or(explicit);
        }
    }
    let var = |name: &str| std::env::var(name).ok();
    stadtbote_i18n::negotiate(
        explicit,
        var("LC_ALL").as_deref(),
        var("LC_MESSAGES").as_deref(),
        var("LANG").as_deref(),
    )
}

/// The command tree with help texts and headings in the current language.
pub fn localize(command: Command) -> Command {
    let lang = stadtbote_i18n::language();
    if lang == Lang::En {
        return command;
    }
    let command = command.disable_version_flag(true).arg(
        Arg::new("version")
            .short('V')
            .long("version")
            .action(ArgAction::Version)
            .help(tr!("help-flag-version")),
    );
    localize_tree(command, "help", Catalog::get(lang))
}

fn localize_tree(mut command: Command, id: &str, catalog: &Catalog) -> Command {
    // clap's own `--help` says "Print help": replaced by one that speaks
    // the language (the `help` subcommand keeps clap's English text).
    command = command.disable_help_flag(true).arg(
        Arg::new("help")
            .short('h')
            .long("help")
            .action(ArgAction::Help)
            .help(tr!("help-flag-help")),
    );
    if let Some(about) = catalog.value(id) {
        command = command.about(about).long_about(None);
    }
    let arguments: Vec<(String, bool)> = command
        .get_arguments()
        .map(|arg| (arg.get_id().to_string(), arg.is_positional()))
        .collect();
    for (arg_id, positional) in arguments {
        let help = catalog.attribute(id, &arg_id);
        let heading =
            if positional { tr!("help-heading-arguments") } else { tr!("help-heading-options") };
        command = command.mut_arg(&arg_id, |arg| {
            let arg = arg.help_heading(heading);
            match help {
                Some(help) => arg.help(help).long_help(None),
                None => arg,
            }
        });
    }
    command = command
        .help_template(format!(
            "{{about-with-newline}}\n{} {{usage}}\n\n{{all-args}}{{after-help}}",
            tr!("help-heading-usage")
        ))
        .subcommand_help_heading(tr!("help-heading-commands"))
        .subcommand_value_name(tr!("help-value-command"));
    let subcommands: Vec<String> =
        command.get_subcommands().map(|sub| sub.get_name().to_string()).collect();
    for name in subcommands {
        let sub_id = format!("{id}-{name}");
        command = command.mut_subcommand(&name, |sub| localize_tree(sub, &sub_id, catalog));
    }
    command
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every help entry of the English catalog equals the English derive
    /// text of the command or argument it names, and names one that exists.
    #[test]
    fn english_help_catalog_equals_the_derive_texts() {
        let catalog = Catalog::get(Lang::En);
        let mut command = crate::Cli::command();
        command.build();
        let mut checked = std::collections::BTreeSet::new();
        check(&command, "help", catalog, &mut checked);
        let mismatches: Vec<_> = checked.iter().filter(|c| c.starts_with("MISMATCH")).collect();
        assert!(
            mismatches.is_empty(),
            "English catalog differs from the derive texts: {mismatches:#?}"
        );
        let german = Catalog::get(Lang::De);
        for id in catalog.ids().iter().filter(|id| id.starts_with("help")) {
            if id.starts_with("help-heading")
                || id.starts_with("help-flag")
                || id.starts_with("help-value")
            {
                continue;
            }
            assert!(checked.contains(id), "catalog entry {id} names no command");
            assert!(german.value(id).is_some() || german.ids().contains(id));
        }
    }

    fn check(
        command: &Command,
        id: &str,
        catalog: &Catalog,
        checked: &mut std::collections::BTreeSet<String>,
    ) {
        if catalog.ids().iter().any(|known| known == id) {
            checked.insert(id.to_string());
            if let Some(about) = catalog.value(id) {
                let derived = command.get_about().map(|a| a.to_string()).unwrap_or_default();
                if about != derived {
                    checked.insert(format!("MISMATCH {id} = {derived}"));
                }
            }
            for arg in command.get_arguments() {
                if let Some(help) = catalog.attribute(id, arg.get_id().as_str()) {
                    let derived = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                    if help != derived {
                        checked.insert(format!("MISMATCH {id}.{} = {derived}", arg.get_id()));
                    }
                }
            }
        }
        for sub in command.get_subcommands() {
            check(sub, &format!("{id}-{}", sub.get_name()), catalog, checked);
        }
    }

    /// Every command and argument with an English help text has a
    /// catalog entry (so `--lang de --help` is German throughout): a new
    /// subcommand or flag needs its `help-…` entry in both catalogs.
    #[test]
    fn every_command_and_argument_has_a_catalog_entry() {
        // Not built: global arguments appear only where they are defined,
        // and clap's own `help` subcommand and flags are not there yet.
        let command = crate::Cli::command();
        let mut missing = Vec::new();
        missing_entries(&command, "help", Catalog::get(Lang::De), &mut missing);
        assert!(missing.is_empty(), "help texts without a catalog entry: {missing:#?}");
    }

    fn missing_entries(command: &Command, id: &str, catalog: &Catalog, out: &mut Vec<String>) {
        if command.get_about().is_some() && catalog.value(id).is_none() {
            out.push(id.to_string());
        }
        for arg in command.get_arguments() {
            let arg_id = arg.get_id().as_str();
            if arg.get_help().is_some() && catalog.attribute(id, arg_id).is_none() {
                out.push(format!("{id}.{arg_id}"));
            }
        }
        for sub in command.get_subcommands() {
            missing_entries(sub, &format!("{id}-{}", sub.get_name()), catalog, out);
        }
    }

    #[test]
    fn lang_flag_wins_and_is_found_in_both_spellings() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(language_from(args(&["stadtbote", "--lang", "de", "whoami"])), Lang::De);
        assert_eq!(language_from(args(&["stadtbote", "whoami", "--lang=de"])), Lang::De);
        assert_eq!(language_from(args(&["stadtbote", "--lang=en"])), Lang::En);
    }
}
