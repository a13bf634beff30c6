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
use stadtbote_i18n::{Arg as I18nArg, Catalog, Lang};

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
    localize_in(command, stadtbote_i18n::language())
}

/// The command tree with help texts and headings in `lang` (English: the
/// derive texts, unchanged).
pub fn localize_in(command: Command, lang: Lang) -> Command {
    if lang == Lang::En {
        return command;
    }
    let catalog = Catalog::get(lang);
    let command = command.disable_version_flag(true).arg(
        Arg::new("version").short('V').long("version").action(ArgAction::Version).help(text(
            catalog,
            "help-flag-version",
            &[],
        )),
    );
    let mut command = localize_tree(command, "help", catalog);
    // clap adds its `help` subcommands (with English texts) and works out
    // the usage lines only when it builds the tree: build it now and
    // translate what the build added. Parsing uses the built tree as it is.
    command.build();
    localize_built(command, catalog)
}

fn localize_tree(mut command: Command, id: &str, catalog: &Catalog) -> Command {
    // clap's own `--help` says "Print help": replaced by one that speaks
    // the language.
    command = command.disable_help_flag(true).arg(
        Arg::new("help").short('h').long("help").action(ArgAction::Help).help(text(
            catalog,
            "help-flag-help",
            &[],
        )),
    );
    let about = catalog.value(id).or_else(|| command.get_about().map(|a| a.to_string()));
    if let Some(about) = about {
        // clap would append `[aliases: …]` in English: the aliases are
        // hidden from clap and named in the about text instead.
        let aliases: Vec<String> = command.get_visible_aliases().map(str::to_string).collect();
        let about = match aliases.is_empty() {
            true => about,
            false => format!(
                "{about} {}",
                arg_text(catalog, "help-value-aliases", "aliases", aliases.join(", "))
            ),
        };
        let all: Vec<String> = command.get_all_aliases().map(str::to_string).collect();
        command = command.about(about).long_about(None).alias(None::<&'static str>).aliases(all);
    }
    // A long text after the options (e.g. the JSON fields of `org info`):
    // catalog message `after-PATH`.
    if let Some(after) = catalog.value(&format!("after{}", &id["help".len()..])) {
        command = command.after_long_help(after);
    }
    let arguments: Vec<(String, bool)> = command
        .get_arguments()
        .map(|arg| (arg.get_id().to_string(), arg.is_positional()))
        .collect();
    for (arg_id, positional) in arguments {
        let help = catalog.attribute(id, &arg_id);
        let heading = if positional {
            text(catalog, "help-heading-arguments", &[])
        } else {
            text(catalog, "help-heading-options", &[])
        };
        command = command.mut_arg(&arg_id, |arg| {
            let arg = arg.help_heading(heading);
            let arg = match help {
                Some(help) => arg.help(help).long_help(None),
                None => arg,
            };
            with_spec_values(arg, catalog)
        });
    }
    command = command
        .help_template(format!(
            "{{about-with-newline}}\n{} {{usage}}\n\n{{all-args}}{{after-help}}",
            text(catalog, "help-heading-usage", &[])
        ))
        .subcommand_help_heading(text(catalog, "help-heading-commands", &[]))
        .subcommand_value_name(text(catalog, "help-value-command", &[]));
    let subcommands: Vec<String> =
        command.get_subcommands().map(|sub| sub.get_name().to_string()).collect();
    for name in subcommands {
        let sub_id = format!("{id}-{name}");
        command = command.mut_subcommand(&name, |sub| localize_tree(sub, &sub_id, catalog));
    }
    command
}

/// clap appends `[env: …]`, `[default: …]`, `[aliases: …]` and
/// `[possible values: …]` to an argument's help in English, and has no
/// setting to translate them: they are hidden from clap and appended to
/// the help text in the current language instead.
fn with_spec_values(mut arg: Arg, catalog: &Catalog) -> Arg {
    let mut specs = Vec::new();
    if let Some(env) = arg.get_env().filter(|_| !arg.is_hide_env_set()) {
        let name = env.to_string_lossy().into_owned();
        let value = std::env::var_os(env)
            .filter(|_| !arg.is_hide_env_values_set())
            .map(|value| format!("={}", value.to_string_lossy()))
            .unwrap_or_default();
        specs.push(arg_text(catalog, "help-value-env", "name", format!("{name}{value}")));
        arg = arg.hide_env(true);
    }
    let takes_value = !matches!(
        arg.get_action(),
        ArgAction::SetTrue
            | ArgAction::SetFalse
            | ArgAction::Count
            | ArgAction::Help
            | ArgAction::HelpShort
            | ArgAction::HelpLong
            | ArgAction::Version
    );
    if takes_value && !arg.is_hide_default_value_set() && !arg.get_default_values().is_empty() {
        let values: Vec<String> =
            arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect();
        specs.push(arg_text(catalog, "help-value-default", "value", values.join(" ")));
        arg = arg.hide_default_value(true);
    }
    if let Some(aliases) = arg.get_visible_aliases().filter(|a| !a.is_empty()) {
        let mut names: Vec<String> = aliases.iter().map(|a| format!("--{a}")).collect();
        if let Some(shorts) = arg.get_visible_short_aliases() {
            names.extend(shorts.iter().map(|s| format!("-{s}")));
        }
        specs.push(arg_text(catalog, "help-value-aliases", "aliases", names.join(", ")));
    } else if let Some(shorts) = arg.get_visible_short_aliases().filter(|a| !a.is_empty()) {
        let names: Vec<String> = shorts.iter().map(|s| format!("-{s}")).collect();
        specs.push(arg_text(catalog, "help-value-aliases", "aliases", names.join(", ")));
    }
    let all_long: Vec<String> =
        arg.get_all_aliases().unwrap_or_default().into_iter().map(str::to_string).collect();
    let all_short = arg.get_all_short_aliases().unwrap_or_default();
    arg = arg
        .alias(None::<&'static str>)
        .aliases(all_long)
        .short_alias(None::<char>)
        .short_aliases(all_short);
    if takes_value && !arg.is_hide_possible_values_set() {
        let values: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|value| !value.is_hide_set())
            .map(|value| value.get_name().to_string())
            .collect();
        if !values.is_empty() {
            specs.push(arg_text(catalog, "help-value-possible", "values", values.join(", ")));
            arg = arg.hide_possible_values(true);
        }
    }
    if specs.is_empty() {
        return arg;
    }
    let specs = specs.join(" ");
    let help = match arg.get_help() {
        Some(help) => format!("{help} {specs}"),
        None => specs,
    };
    arg.help(help)
}

/// What building the tree added, in the current language: the `help`
/// subcommands clap creates and the usage lines (whose `[OPTIONS]` clap
/// writes in English).
fn localize_built(mut command: Command, catalog: &Catalog) -> Command {
    // Again, for the copies of the tree under each `help` subcommand.
    command = command
        .help_template(format!(
            "{{about-with-newline}}\n{} {{usage}}\n\n{{all-args}}{{after-help}}",
            text(catalog, "help-heading-usage", &[])
        ))
        .subcommand_help_heading(text(catalog, "help-heading-commands", &[]))
        .subcommand_value_name(text(catalog, "help-value-command", &[]));
    let usage = command.render_usage().to_string();
    // "Usage: stadtbote report [OPTIONS] …", continuation lines indented.
    let usage = usage.split_once(' ').map(|(_, rest)| rest).unwrap_or_default();
    let usage = usage.replace("[OPTIONS]", &text(catalog, "help-value-options", &[]));
    if !usage.trim().is_empty() {
        command = command.override_usage(usage.trim_start().to_string());
    }
    let subcommands: Vec<String> =
        command.get_subcommands().map(|sub| sub.get_name().to_string()).collect();
    for name in subcommands {
        command = command.mut_subcommand(&name, |sub| {
            let sub = if name == "help" { localize_help_subcommand(sub, catalog) } else { sub };
            localize_built(sub, catalog)
        });
    }
    command
}

/// clap's `help` subcommand: "Print this message or the help of the
/// given subcommand(s)".
fn localize_help_subcommand(mut help: Command, catalog: &Catalog) -> Command {
    help = help.about(text(catalog, "help-flag-help-command", &[])).long_about(None);
    if help.get_arguments().any(|arg| arg.get_id() == "subcommand") {
        help = help.mut_arg("subcommand", |arg| {
            arg.help(text(catalog, "help-flag-help-command-argument", &[]))
                .value_name(text(catalog, "help-value-command", &[]))
                .help_heading(text(catalog, "help-heading-arguments", &[]))
        });
    }
    help
}

/// Message `id` of `catalog` with one text argument.
fn arg_text(catalog: &Catalog, id: &str, name: &str, value: String) -> String {
    catalog.format(id, &[(name, I18nArg::Text(value))])
}

/// Message `id` of `catalog` with `args`.
fn text(catalog: &Catalog, id: &str, args: &[(&str, I18nArg)]) -> String {
    catalog.format(id, args)
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

    /// English fragments clap writes into help output on its own.
    const CLAP_ENGLISH: [&str; 16] = [
        "[default:",
        "[possible values:",
        "Possible values:",
        "[aliases:",
        "[alias:",
        "[env:",
        "Usage:",
        "Options:",
        "Commands:",
        "Arguments:",
        "Print help",
        "Print version",
        "Print this message",
        "[OPTIONS]",
        // A catalog id instead of its text (a missing message).
        "help-value-",
        "help-flag-",
    ];

    fn walk_help(command: &mut Command, path: &str, out: &mut Vec<String>) {
        for (kind, help) in [
            ("-h", command.render_help().to_string()),
            ("--help", command.render_long_help().to_string()),
        ] {
            for fragment in CLAP_ENGLISH {
                if help.contains(fragment) {
                    out.push(format!("`{path} {kind}` contains {fragment:?}:\n{help}"));
                }
            }
        }
        for sub in command.get_subcommands_mut() {
            let path = format!("{path} {}", sub.get_name());
            walk_help(sub, &path, out);
        }
    }

    /// `--help` in German has none of clap's English fragments, for every
    /// command and subcommand (clap's own `help` subcommands included).
    #[test]
    fn german_help_has_none_of_claps_english_fragments() {
        let mut command = localize_in(crate::Cli::command(), Lang::De);
        let mut found = Vec::new();
        walk_help(&mut command, "stadtbote", &mut found);
        assert!(found.is_empty(), "{} help pages with English:\n{}", found.len(), found.join("\n"));
        // What clap would have appended is there, in German.
        let top = command.render_help().to_string();
        assert!(top.contains("[Vorgabe: ws://"), "{top}");
        assert!(top.contains("[Umgebungsvariable: STADTBOTE_HOME"), "{top}");
        assert!(top.contains("[mögliche Werte: de, en]"), "{top}");
        assert!(top.contains("[OPTIONEN]") && top.contains("Diese Hilfe oder"), "{top}");
        let info = command
            .find_subcommand_mut("org")
            .and_then(|org| org.find_subcommand_mut("info"))
            .map(|info| info.render_long_help().to_string())
            .unwrap_or_default();
        assert!(info.contains("JSON-Felder (stabil"), "{info}");
    }

    /// English help keeps clap's own texts, and the English catalog's copy
    /// of the `org info --json` field list is the derive text.
    #[test]
    fn english_help_is_claps_own() {
        let mut command = localize_in(crate::Cli::command(), Lang::En);
        let top = command.render_help().to_string();
        assert!(top.contains("[default: ws://") && top.contains("Usage:"), "{top}");
        assert_eq!(
            Catalog::get(Lang::En).value("after-org-info").as_deref(),
            Some(crate::commands::org::ORG_INFO_JSON_HELP)
        );
    }

    #[test]
    fn lang_flag_wins_and_is_found_in_both_spellings() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(language_from(args(&["stadtbote", "--lang", "de", "whoami"])), Lang::De);
        assert_eq!(language_from(args(&["stadtbote", "whoami", "--lang=de"])), Lang::De);
        assert_eq!(language_from(args(&["stadtbote", "--lang=en"])), Lang::En);
    }
}
