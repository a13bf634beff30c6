//! The text and `--json` forms of the town's legal pages and reply
//! templates ([`crate::org_legal`]), for `org info`, `org legal show` and
//! `org template list`. Every string of the town's passes through
//! [`safe`] / [`safe_body`] (and `safe_json` when printed).

use serde_json::{Value, json};
use stadtbote_i18n::tr;
use stadtbote_protocol::org::OrgProfile;
use stadtbote_protocol::org_legal::{LegalField, OrgLegal, ReplyTemplate};

use crate::output::{safe, safe_body};

/// The `legal` object of `org info --json` (field names stable, English;
/// `null` when the town published none).
pub fn legal_json(profile: Option<&OrgProfile>) -> Value {
    match profile.and_then(|p| p.legal.as_ref()) {
        None => Value::Null,
        Some(legal) => {
            let mut object = serde_json::Map::new();
            for field in LegalField::ALL {
                object.insert(field.name().into(), json!(legal.get(field)));
            }
            Value::Object(object)
        }
    }
}

/// The `reply_templates` array of `org info --json`.
pub fn templates_json(templates: &[ReplyTemplate]) -> Value {
    Value::Array(
        templates
            .iter()
            .map(|t| json!({"department": t.department, "name": t.name, "text": t.text}))
            .collect(),
    )
}

/// The catalog id of a legal field's heading.
fn heading_id(field: LegalField) -> &'static str {
    match field {
        LegalField::Impressum => "org-legal-impressum",
        LegalField::Controller => "org-legal-controller",
        LegalField::Dpo => "org-legal-dpo",
        LegalField::Purposes => "org-legal-purposes",
        LegalField::Retention => "org-legal-retention",
        LegalField::Recipients => "org-legal-recipients",
        LegalField::Rights => "org-legal-rights",
    }
}

/// The legal pages as text lines (every line of the town's through
/// [`safe_body`]): a heading per given field, its text indented.
pub fn legal_lines(legal: Option<&OrgLegal>) -> Vec<String> {
    let Some(legal) = legal.filter(|l| !l.is_empty()) else {
        return vec![tr!("org-legal-none")];
    };
    let mut out = Vec::new();
    for field in LegalField::ALL {
        let text = legal.get(field).trim();
        if text.is_empty() {
            continue;
        }
        out.push(stadtbote_i18n::tr(heading_id(field), &[]));
        for line in text.lines() {
            out.push(format!("  {}", safe_body(line)));
        }
    }
    out
}

/// The templates as text lines, `department/name: text`.
pub fn template_lines(templates: &[ReplyTemplate]) -> Vec<String> {
    if templates.is_empty() {
        return vec![tr!("org-templates-none")];
    }
    let mut out = vec![tr!("org-templates-heading")];
    for t in templates {
        let text = safe(&t.text.replace(['\n', '\r'], " ")).into_owned();
        out.push(format!("  {}/{}: {text}", safe(&t.department), safe(&t.name)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::OrgId;

    #[test]
    fn json_has_every_field_or_null() {
        let mut profile = OrgProfile::new(OrgId([1; 16]), "goslar".into(), "Goslar".into(), 0);
        assert_eq!(legal_json(Some(&profile)), Value::Null);
        assert_eq!(templates_json(&[]), json!([]));
        profile.legal = Some(OrgLegal { dpo: "dsb@goslar.de".into(), ..OrgLegal::default() });
        let value = legal_json(Some(&profile));
        assert_eq!(value["dpo"], "dsb@goslar.de");
        for field in LegalField::ALL {
            assert!(value[field.name()].is_string(), "{}", field.name());
        }
    }
}
