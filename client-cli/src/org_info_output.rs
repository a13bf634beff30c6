//! The text and `--json` forms of `stadtbote org info` (an
//! [`OrgInfoView`] of [`crate::org_info`]): a contract for scripts (see
//! `stadtbote org info --help`). Every string from the server passes
//! through [`safe`] / [`safe_json`].

use serde_json::{Value, json};
use stadtbote_i18n::tr;
use stadtbote_protocol::org::OrgProfile;

use crate::org_info::{KeyTrust, OrgInfoView, consult_department};
use crate::output::{format_utc, safe, safe_body, safe_json};

/// Every department the profile names (categories and consultations),
/// sorted, once each.
fn departments(profile: &OrgProfile) -> Vec<&str> {
    let mut out: Vec<&str> = profile.categories.iter().map(|c| c.department.as_str()).collect();
    out.push(consult_department(profile));
    out.sort_unstable();
    out.dedup();
    out
}

/// The `--json` object (field names stable, in English; times in Unix
/// ms UTC; every string from the server through [`safe_json`] when
/// printed).
pub fn to_json(view: &OrgInfoView) -> Value {
    let org = &view.org;
    let profile = org.profile.as_ref();
    let previous = match &view.trust {
        KeyTrust::Rotated { previous, .. } => Some(previous.clone()),
        _ => None,
    };
    let verified = match &view.trust {
        KeyTrust::Verified => true,
        KeyTrust::Rotated { verified, .. } => *verified,
        _ => false,
    };
    json!({
        "handle": org.handle,
        "org": org.org.to_string(),
        "name": org.name(),
        "fingerprint": org.fingerprint(),
        "verification": view.trust.as_str(),
        "pinned": view.trust.is_pinned(),
        "fingerprint_verified": verified,
        "previous_fingerprint": previous,
        "key_rotations": view.key_rotations,
        "offline": view.offline,
        "profile_version": profile.map(|p| p.version),
        "updated_at": profile.map(|p| p.updated_at),
        "categories": profile.map_or_else(Vec::new, |p| p
            .categories
            .iter()
            .map(|c| json!({"name": c.name, "department": c.department}))
            .collect()),
        "departments": profile.map_or_else(Vec::new, departments),
        "consult_department": profile.map(consult_department),
        "timezone": profile.map(|p| p.timezone.as_str()),
        "office_hours": profile.map_or_else(Vec::new, |p| if p.office_hours.is_empty() {
            Vec::new()
        } else {
            vec![json!({
                "department": consult_department(p),
                "slots": p.office_hours.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })]
        }),
        "auto_reply": profile.and_then(|p| p.auto_reply.clone()),
        "live": profile.is_some_and(|p| p.live_since.is_some()),
        "live_since": profile.and_then(|p| p.live_since),
        "channels": profile.map_or_else(Vec::new, |p| p
            .channels
            .iter()
            .map(|c| data_encoding::HEXLOWER.encode(&c.id))
            .collect()),
        "legal": crate::org_legal_output::legal_json(profile),
        "reply_templates": crate::org_legal_output::templates_json(
            profile.map(|p| p.reply_templates.as_slice()).unwrap_or_default()
        ),
    })
}

/// The `--json` line as printed.
pub fn json_line(view: &OrgInfoView) -> String {
    safe_json(&to_json(view).to_string()).into_owned()
}

/// The text form, one line per entry; strings from the server pass
/// through [`safe`].
pub fn text_lines(view: &OrgInfoView) -> Vec<String> {
    let org = &view.org;
    let handle = safe(&org.handle).into_owned();
    let mut out = vec![format!("{} ({handle})", safe(org.name()))];
    out.push(tr!("org-info-fingerprint", fingerprint = org.fingerprint()));
    out.push(tr!("org-info-verification", trust = trust_text(view, &handle)));
    if view.key_rotations > 0 {
        out.push(tr!("org-info-key-rotations", count = view.key_rotations));
    }
    if view.offline {
        out.push(tr!("org-info-offline"));
    }
    let Some(profile) = org.profile.as_ref() else {
        out.push(tr!("org-info-no-profile"));
        return out;
    };
    if profile.categories.is_empty() {
        out.push(tr!("org-info-no-categories"));
    } else {
        out.push(tr!("org-info-categories"));
        for category in &profile.categories {
            let (name, department) = (safe(&category.name), safe(&category.department));
            out.push(format!(
                "  {}",
                tr!("org-info-category", name = name, department = department)
            ));
        }
    }
    let consult = safe(consult_department(profile)).into_owned();
    out.push(tr!("org-info-consultations", department = consult.as_str()));
    if profile.office_hours.is_empty() {
        out.push(tr!("org-info-no-hours"));
    } else {
        let slots: Vec<String> = profile.office_hours.iter().map(ToString::to_string).collect();
        out.push(tr!("org-info-hours", timezone = safe(&profile.timezone)));
        out.push(format!("  {consult}: {}", safe(&slots.join(", "))));
    }
    if let Some(reply) = &profile.auto_reply {
        out.push(tr!("org-info-auto-reply", reply = safe_body(reply)));
    }
    out.push(match profile.live_since {
        Some(since) => {
            tr!("org-info-live", since = format_utc(since), handle = handle.as_str())
        }
        None => tr!("org-info-not-live"),
    });
    if profile.channels.is_empty() {
        out.push(tr!("org-info-no-channels"));
    } else {
        out.push(tr!("org-info-channels"));
        for channel in &profile.channels {
            out.push(format!("  {}", data_encoding::HEXLOWER.encode(&channel.id)));
        }
    }
    out.extend(crate::org_legal_output::legal_lines(profile.legal.as_ref()));
    if !profile.reply_templates.is_empty() {
        out.extend(crate::org_legal_output::template_lines(&profile.reply_templates));
    }
    out.push(tr!(
        "org-info-profile-version",
        version = profile.version,
        time = format_utc(profile.updated_at)
    ));
    out
}

fn trust_text(view: &OrgInfoView, handle: &str) -> String {
    let compare = tr!("org-info-compare", handle = handle, fingerprint = view.org.fingerprint());
    match &view.trust {
        KeyTrust::Verified => tr!("org-info-trust-verified"),
        KeyTrust::Pinned => tr!("org-info-trust-pinned", compare = compare),
        KeyTrust::FirstSeen { pinned: true } => {
            tr!("org-info-trust-first-seen-pinned", compare = compare)
        }
        KeyTrust::FirstSeen { pinned: false } => {
            tr!("org-info-trust-first-seen-unpinned", handle = handle)
        }
        KeyTrust::Rotated { previous, verified: false } => {
            tr!("org-info-trust-rotated", previous = previous.as_str())
        }
        KeyTrust::Rotated { previous, verified: true } => {
            tr!("org-info-trust-rotated-verified", previous = previous.as_str())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pinning::VerifiedOrg;
    use stadtbote_protocol::OrgId;
    use stadtbote_protocol::auth::IdentityKey;
    use stadtbote_protocol::auth::fingerprint_of;
    use stadtbote_protocol::org::{Category, HoursSlot};

    fn view(profile: Option<OrgProfile>, trust: KeyTrust) -> OrgInfoView {
        let org = VerifiedOrg {
            org: OrgId([1; 16]),
            handle: "goslar".into(),
            key: IdentityKey([7; 32]),
            verified: false,
            profile,
            revocations: None,
            staff: Vec::new(),
            pending: Vec::new(),
            staff_list: None,
        };
        OrgInfoView { org, trust, key_rotations: 0, offline: false }
    }

    fn profile() -> OrgProfile {
        let mut p =
            OrgProfile::new(OrgId([1; 16]), "goslar".into(), "Stadt \u{1b}[2JGoslar".into(), 0);
        p.categories.push(Category { name: "Straßenschaden".into(), department: "bauhof".into() });
        p.office_hours.push(HoursSlot::parse("Tue 17:00-18:00").unwrap());
        p.consult_department = Some("buergermeister".into());
        p
    }

    #[test]
    fn json_has_the_documented_fields() {
        let v = to_json(&view(Some(profile()), KeyTrust::FirstSeen { pinned: false }));
        assert_eq!(v["verification"], "first_seen");
        assert_eq!(v["pinned"], false);
        assert_eq!(v["categories"][0]["department"], "bauhof");
        assert_eq!(v["departments"], json!(["bauhof", "buergermeister"]));
        assert_eq!(v["office_hours"][0]["department"], "buergermeister");
        assert_eq!(v["office_hours"][0]["slots"][0], "Tue 17:00-18:00");
        assert_eq!(v["live"], false);
        assert_eq!(v["channels"], json!([]));
        assert_eq!(v["fingerprint"], fingerprint_of(&[7; 32]));
    }

    #[test]
    fn text_is_terminal_safe_and_says_what_to_run() {
        let trust = KeyTrust::FirstSeen { pinned: true };
        let lines = text_lines(&view(Some(profile()), trust));
        let text = lines.join("\n");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(text.contains("stadtbote verify goslar"), "{text}");
        assert!(text.contains("  Straßenschaden -> department bauhof"), "{text}");
        assert!(text.contains("  buergermeister: Tue 17:00-18:00"), "{text}");
        assert!(text.contains("channels: none published"), "{text}");
        let rotated = KeyTrust::Rotated { previous: fingerprint_of(&[1; 32]), verified: true };
        assert_eq!(to_json(&view(None, rotated.clone()))["verification"], "rotated");
        assert!(text_lines(&view(None, rotated)).join("\n").contains("profile: none published"));
    }
}
