//! The catalogs' consistency: both parse cleanly, hold the same message
//! ids with the same arguments, and every id the CLI's code uses exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use fluent_bundle::FluentResource;
use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement};

use super::*;

fn parse(source: &str) -> FluentResource {
    match FluentResource::try_new(source.to_string()) {
        Ok(resource) => resource,
        Err((_, errors)) => panic!("catalog does not parse: {errors:?}"),
    }
}

fn variables_of_pattern(pattern: &Pattern<&str>, out: &mut BTreeSet<String>) {
    for element in &pattern.elements {
        if let PatternElement::Placeable { expression } = element {
            variables_of_expression(expression, out);
        }
    }
}

fn variables_of_expression(expression: &Expression<&str>, out: &mut BTreeSet<String>) {
    match expression {
        Expression::Select { selector, variants } => {
            variables_of_inline(selector, out);
            for variant in variants {
                variables_of_pattern(&variant.value, out);
            }
        }
        Expression::Inline(inline) => variables_of_inline(inline, out),
    }
}

fn variables_of_inline(inline: &InlineExpression<&str>, out: &mut BTreeSet<String>) {
    match inline {
        InlineExpression::VariableReference { id } => {
            out.insert(id.name.to_string());
        }
        InlineExpression::Placeable { expression } => variables_of_expression(expression, out),
        _ => {}
    }
}

/// Message id → the variables it uses; panics on duplicates.
fn messages(source: &str) -> BTreeMap<String, BTreeSet<String>> {
    let resource = parse(source);
    let mut out = BTreeMap::new();
    for entry in resource.entries() {
        if let Entry::Message(message) = entry {
            let mut vars = BTreeSet::new();
            if let Some(value) = &message.value {
                variables_of_pattern(value, &mut vars);
            }
            // Attributes (the CLI's argument help) count as ids of their own.
            for attribute in &message.attributes {
                let mut attribute_vars = BTreeSet::new();
                variables_of_pattern(&attribute.value, &mut attribute_vars);
                let id = format!("{}.{}", message.id.name, attribute.id.name);
                assert!(out.insert(id.clone(), attribute_vars).is_none(), "duplicate {id}");
            }
            assert!(
                out.insert(message.id.name.to_string(), vars).is_none(),
                "duplicate message id {}",
                message.id.name
            );
        }
    }
    out
}

#[test]
fn both_catalogs_have_the_same_ids_and_arguments() {
    let de = messages(CATALOG_DE);
    let en = messages(CATALOG_EN);
    let de_ids: BTreeSet<&String> = de.keys().collect();
    let en_ids: BTreeSet<&String> = en.keys().collect();
    let only_de: Vec<_> = de_ids.difference(&en_ids).collect();
    let only_en: Vec<_> = en_ids.difference(&de_ids).collect();
    assert!(
        only_de.is_empty() && only_en.is_empty(),
        "only in de: {only_de:?}; only in en: {only_en:?}"
    );
    for (id, vars) in &de {
        assert_eq!(Some(vars), en.get(id), "message {id} uses other arguments in de and en");
    }
    assert!(!de.is_empty());
}

#[test]
fn every_message_has_a_value_in_both_languages() {
    for lang in Lang::ALL {
        let catalog = Catalog::get(lang);
        for id in catalog.ids() {
            // Help messages may carry only attributes (argument help).
            if !id.starts_with("help") {
                assert!(catalog.has(id), "{id} has no value in {}", lang.code());
            }
        }
    }
}

/// Every `tr!("id"…)` in the CLI's sources names a message of the catalog
/// (ids computed at run time, such as help texts, are checked by the CLI's
/// own tests).
#[test]
fn every_id_used_in_code_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut used = BTreeSet::new();
    collect_ids(&root.join("client-cli/src"), &mut used);
    assert!(used.len() > 10, "found only {} tr! ids; is the scan broken?", used.len());
    let catalog = Catalog::get(Lang::De);
    let missing: Vec<_> = used.iter().filter(|id| !catalog.has(id)).collect();
    assert!(missing.is_empty(), "ids used in code but missing in the catalogs: {missing:?}");
}

fn collect_ids(dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_ids(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !path.ends_with("i18n/src/tests.rs")
        {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (pos, _) in text.match_indices("tr!(") {
                // `tr!(`, not `include_str!(` and the like.
                let before = text[..pos].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let rest = text[pos + 4..].trim_start();
                if let Some(rest) = rest.strip_prefix('"')
                    && let Some(end) = rest.find('"')
                {
                    out.insert(rest[..end].to_string());
                }
            }
        }
    }
}

#[test]
fn formats_arguments_without_isolation_marks() {
    let en = tr_in(Lang::En, "status-in-progress", &[]);
    assert_eq!(en, "in-progress");
    assert_eq!(tr_in(Lang::De, "status-in-progress", &[]), "in Bearbeitung");
    let text = Catalog::get(Lang::De).format("error-line", &[("message", Arg::Text("x".into()))]);
    assert_eq!(text, "Fehler: x");
    assert!(!text.contains('\u{2068}'));
}

#[test]
fn a_missing_id_formats_as_itself() {
    assert_eq!(tr_in(Lang::De, "no-such-message", &[]), "no-such-message");
}

#[test]
fn negotiation_follows_posix_order_and_defaults_to_english() {
    assert_eq!(negotiate(None, None, None, None), Lang::En);
    assert_eq!(negotiate(None, None, None, Some("de_DE.UTF-8")), Lang::De);
    assert_eq!(negotiate(None, None, Some("de_AT"), Some("en_US.UTF-8")), Lang::De);
    assert_eq!(negotiate(None, Some("C"), None, Some("de_DE.UTF-8")), Lang::En);
    assert_eq!(negotiate(None, Some("POSIX"), Some("de"), None), Lang::En);
    assert_eq!(negotiate(None, Some(""), None, Some("de_CH@euro")), Lang::De);
    assert_eq!(negotiate(None, None, None, Some("fr_FR.UTF-8")), Lang::En);
    assert_eq!(negotiate(Some(Lang::En), Some("de_DE"), None, None), Lang::En);
    assert_eq!(negotiate(Some(Lang::De), None, None, None), Lang::De);
    assert_eq!(Lang::parse("C.UTF-8"), None);
    assert_eq!(Lang::parse("de"), Some(Lang::De));
}

#[test]
fn the_macro_formats_text_and_counts() {
    set_language(Lang::En);
    assert_eq!(crate::tr!("error-line", message = "boom"), "error: boom");
    assert_eq!(tr_in(Lang::De, "thread-days", &[("days", Count(1).to_arg())]), "1 Tag");
    assert_eq!(tr_in(Lang::De, "thread-days", &[("days", Count(3).to_arg())]), "3 Tage");
}

#[test]
fn complete_formatting_refuses_missing_arguments() {
    let en = Catalog::get(Lang::En);
    let args = [("secs", Arg::Text("60 seconds".into()))];
    assert_eq!(
        en.format_complete("privacy-retention-link-codes", &args).as_deref(),
        Some("until used, at most 60 seconds")
    );
    assert_eq!(en.format_complete("privacy-retention-attachments", &args), None);
    assert_eq!(en.format_complete("no-such-message", &args), None);
}
