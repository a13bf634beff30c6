//! What a town publishes for citizens besides its categories and hours,
//! carried in its signed [`crate::org::OrgProfile`] (issue 16, items 5
//! and 6):
//!
//! * [`OrgLegal`]: the Impressum and the privacy notice GDPR Art. 13
//!   requires (controller, data-protection officer, purposes and legal
//!   basis, retention, recipients, the data subject's rights), set by the
//!   org admin and shown by every client from the verified profile;
//! * [`ReplyTemplate`]s ("Textbausteine"): per-department texts staff send
//!   as replies. They are texts sent to citizens anyway, so the public
//!   signed profile is their honest place; the server can neither change
//!   nor invent one.
//!
//! Both are new, optional profile fields (`legal`, `reply_templates`),
//! left out of the encoding when unset: a profile without them encodes
//! byte for byte as before, and clients from before them decode a profile
//! with them and verify its signature (which covers the bytes as sent)
//! while ignoring the fields they do not know.
//!
//! Sizes: [`OrgLegal::check`] and [`check_templates`] bound every text. The
//! org admin's client checks before signing and the server refuses a
//! profile that breaks them ([`crate::org::OrgProfile::check_published`]);
//! readers need no own bound: the whole signed profile is at most the
//! server's `max_profile_bytes` and every frame at most its frame limit.

use serde::{Deserialize, Serialize};

use crate::org::{OrgError, validate_department};

/// Longest Impressum, in bytes (UTF-8).
pub const MAX_IMPRESSUM_BYTES: usize = 4096;
/// Longest controller entry (name, postal address, contact), in bytes.
pub const MAX_CONTROLLER_BYTES: usize = 1024;
/// Longest data-protection officer entry (contact), in bytes.
pub const MAX_DPO_BYTES: usize = 1024;
/// Longest purposes-and-legal-basis text, in bytes.
pub const MAX_PURPOSES_BYTES: usize = 4096;
/// Longest retention text, in bytes.
pub const MAX_RETENTION_BYTES: usize = 2048;
/// Longest recipients text, in bytes.
pub const MAX_RECIPIENTS_BYTES: usize = 1024;
/// Longest rights text (access, erasure, complaint to the supervisory
/// authority …), in bytes.
pub const MAX_RIGHTS_BYTES: usize = 2048;
/// Most reply templates a profile carries (all departments together).
pub const MAX_REPLY_TEMPLATES: usize = 40;
/// Longest reply template text, in bytes.
pub const MAX_TEMPLATE_TEXT_BYTES: usize = 1000;
/// Longest reply template name, in bytes (`a-z`, `0-9`, `-`, `_`).
pub const MAX_TEMPLATE_NAME_BYTES: usize = 32;

/// The town's Impressum and GDPR Art. 13 privacy notice. Every field is
/// plain text (line breaks allowed); an empty field is not given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgLegal {
    /// The Impressum (§ 5 DDG): who runs the service, address, contact,
    /// representative.
    #[serde(default)]
    pub impressum: String,
    /// Art. 13(1)(a): the controller's name, address and contact.
    #[serde(default)]
    pub controller: String,
    /// Art. 13(1)(b): the data-protection officer's contact.
    #[serde(default)]
    pub dpo: String,
    /// Art. 13(1)(c): the purposes of the processing and its legal basis.
    #[serde(default)]
    pub purposes: String,
    /// Art. 13(2)(a): how long data is kept, or the criteria for it.
    #[serde(default)]
    pub retention: String,
    /// Art. 13(1)(e): recipients or categories of recipients.
    #[serde(default)]
    pub recipients: String,
    /// Art. 13(2)(b)–(d): the rights of the data subject, including the
    /// complaint to the supervisory authority.
    #[serde(default)]
    pub rights: String,
}

/// One field of [`OrgLegal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegalField {
    /// [`OrgLegal::impressum`].
    Impressum,
    /// [`OrgLegal::controller`].
    Controller,
    /// [`OrgLegal::dpo`].
    Dpo,
    /// [`OrgLegal::purposes`].
    Purposes,
    /// [`OrgLegal::retention`].
    Retention,
    /// [`OrgLegal::recipients`].
    Recipients,
    /// [`OrgLegal::rights`].
    Rights,
}

impl LegalField {
    /// Every field, in the order the pages show them.
    pub const ALL: [LegalField; 7] = [
        LegalField::Impressum,
        LegalField::Controller,
        LegalField::Dpo,
        LegalField::Purposes,
        LegalField::Retention,
        LegalField::Recipients,
        LegalField::Rights,
    ];

    /// The stable name (CBOR key, `--json` field, command-line flag).
    pub fn name(self) -> &'static str {
        match self {
            LegalField::Impressum => "impressum",
            LegalField::Controller => "controller",
            LegalField::Dpo => "dpo",
            LegalField::Purposes => "purposes",
            LegalField::Retention => "retention",
            LegalField::Recipients => "recipients",
            LegalField::Rights => "rights",
        }
    }

    /// The field's size limit in bytes.
    pub fn max_bytes(self) -> usize {
        match self {
            LegalField::Impressum => MAX_IMPRESSUM_BYTES,
            LegalField::Controller => MAX_CONTROLLER_BYTES,
            LegalField::Dpo => MAX_DPO_BYTES,
            LegalField::Purposes => MAX_PURPOSES_BYTES,
            LegalField::Retention => MAX_RETENTION_BYTES,
            LegalField::Recipients => MAX_RECIPIENTS_BYTES,
            LegalField::Rights => MAX_RIGHTS_BYTES,
        }
    }

    fn invalid(self) -> OrgError {
        OrgError::Invalid(match self {
            LegalField::Impressum => "impressum (at most 4096 bytes of text)",
            LegalField::Controller => "controller (at most 1024 bytes of text)",
            LegalField::Dpo => "dpo (at most 1024 bytes of text)",
            LegalField::Purposes => "purposes (at most 4096 bytes of text)",
            LegalField::Retention => "retention (at most 2048 bytes of text)",
            LegalField::Recipients => "recipients (at most 1024 bytes of text)",
            LegalField::Rights => "rights (at most 2048 bytes of text)",
        })
    }
}

impl OrgLegal {
    /// The text of `field`.
    pub fn get(&self, field: LegalField) -> &str {
        match field {
            LegalField::Impressum => &self.impressum,
            LegalField::Controller => &self.controller,
            LegalField::Dpo => &self.dpo,
            LegalField::Purposes => &self.purposes,
            LegalField::Retention => &self.retention,
            LegalField::Recipients => &self.recipients,
            LegalField::Rights => &self.rights,
        }
    }

    /// The text of `field`, to change.
    pub fn get_mut(&mut self, field: LegalField) -> &mut String {
        match field {
            LegalField::Impressum => &mut self.impressum,
            LegalField::Controller => &mut self.controller,
            LegalField::Dpo => &mut self.dpo,
            LegalField::Purposes => &mut self.purposes,
            LegalField::Retention => &mut self.retention,
            LegalField::Recipients => &mut self.recipients,
            LegalField::Rights => &mut self.rights,
        }
    }

    /// Whether no field is given.
    pub fn is_empty(&self) -> bool {
        LegalField::ALL.iter().all(|f| self.get(*f).trim().is_empty())
    }

    /// Whether the Art. 13 core is given: controller, purposes, retention
    /// (a town without a data-protection officer is rare but possible).
    pub fn has_privacy_notice(&self) -> bool {
        [LegalField::Controller, LegalField::Purposes, LegalField::Retention]
            .iter()
            .all(|f| !self.get(*f).trim().is_empty())
    }

    /// Checks every field's size and that it is text (no control
    /// characters but line breaks and tabs).
    pub fn check(&self) -> Result<(), OrgError> {
        for field in LegalField::ALL {
            let text = self.get(field);
            if text.len() > field.max_bytes() || !is_text(text) {
                return Err(field.invalid());
            }
        }
        Ok(())
    }
}

/// A reply template of one department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTemplate {
    /// The department whose staff use it (see [`validate_department`]).
    pub department: String,
    /// Its short name, e.g. `erledigt` (1–32 of `a-z`, `0-9`, `-`, `_`).
    pub name: String,
    /// The reply text.
    pub text: String,
}

/// Checks a template name: 1–32 of `a-z`, `0-9`, `-` and `_`.
pub fn validate_template_name(name: &str) -> Result<(), OrgError> {
    let ok = (1..=MAX_TEMPLATE_NAME_BYTES).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(OrgError::Invalid("template name (1-32 of a-z, 0-9, -, _)")) }
}

impl ReplyTemplate {
    /// Checks department, name and text.
    pub fn check(&self) -> Result<(), OrgError> {
        validate_department(&self.department)?;
        validate_template_name(&self.name)?;
        if self.text.trim().is_empty()
            || self.text.len() > MAX_TEMPLATE_TEXT_BYTES
            || !is_text(&self.text)
        {
            return Err(OrgError::Invalid("template text (1-1000 bytes of text)"));
        }
        Ok(())
    }
}

/// Checks a profile's templates: at most [`MAX_REPLY_TEMPLATES`], each
/// valid, one per department and name.
pub fn check_templates(templates: &[ReplyTemplate]) -> Result<(), OrgError> {
    if templates.len() > MAX_REPLY_TEMPLATES {
        return Err(OrgError::Invalid("reply templates (at most 40)"));
    }
    for (i, template) in templates.iter().enumerate() {
        template.check()?;
        if templates[..i]
            .iter()
            .any(|t| t.department == template.department && t.name == template.name)
        {
            return Err(OrgError::Invalid("reply templates (one per department and name)"));
        }
    }
    Ok(())
}

/// The template `name` of `department`, if the list has it.
pub fn find_template<'a>(
    templates: &'a [ReplyTemplate],
    department: &str,
    name: &str,
) -> Option<&'a ReplyTemplate> {
    templates.iter().find(|t| t.department == department && t.name == name)
}

/// Text: no control characters but line breaks and tabs.
fn is_text(text: &str) -> bool {
    text.chars().all(|c| !c.is_control() || c == '\n' || c == '\t' || c == '\r')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::DeviceSecret;
    use crate::ids::OrgId;
    use crate::org::{Category, ChannelRef, HoursSlot, OrgProfile, Signed, SignedKind};

    /// The profile exactly as clients from before the legal pages and
    /// templates declare it.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct ProfileBefore {
        v: u16,
        org: OrgId,
        handle: String,
        name: String,
        version: u64,
        updated_at: u64,
        categories: Vec<Category>,
        office_hours: Vec<HoursSlot>,
        timezone: String,
        auto_reply: Option<String>,
        live_since: Option<u64>,
        consult_department: Option<String>,
        channels: Vec<ChannelRef>,
    }

    #[test]
    fn old_clients_verify_profiles_with_legal_pages_and_new_ones_read_old_profiles() {
        let key = DeviceSecret::from_bytes(&[0x11; 32]).unwrap();
        let mut profile =
            OrgProfile::new(OrgId([1; 16]), "goslar".into(), "Stadt Goslar".into(), 5);
        profile
            .categories
            .push(Category { name: "Straßenschaden".into(), department: "bauhof".into() });
        let before = ProfileBefore {
            v: 1,
            org: OrgId([1; 16]),
            handle: "goslar".into(),
            name: "Stadt Goslar".into(),
            version: 1,
            updated_at: 5,
            categories: profile.categories.clone(),
            office_hours: Vec::new(),
            timezone: "Europe/Berlin".into(),
            auto_reply: None,
            live_since: None,
            consult_department: None,
            channels: Vec::new(),
        };
        // Unset, the new fields are not encoded: the same bytes as before.
        assert_eq!(crate::frame::encode(&profile), crate::frame::encode(&before));
        let old = Signed::sign(SignedKind::Profile, &before, &key);
        let read: OrgProfile = old.verify(SignedKind::Profile, &key.identity_key()).unwrap();
        assert_eq!((read.legal, read.reply_templates.len()), (None, 0));

        profile.legal = Some(OrgLegal {
            impressum: "Stadt Goslar, Markt 1".into(),
            controller: "Stadt Goslar".into(),
            ..OrgLegal::default()
        });
        profile.reply_templates.push(ReplyTemplate {
            department: "bauhof".into(),
            name: "erledigt".into(),
            text: "Erledigt, danke!".into(),
        });
        let signed = Signed::sign(SignedKind::Profile, &profile, &key);
        // A client from before verifies the signature (over the bytes as
        // sent) and reads what it knows.
        let seen: ProfileBefore = signed.verify(SignedKind::Profile, &key.identity_key()).unwrap();
        assert_eq!(seen, before);
        let back: OrgProfile = signed.verify(SignedKind::Profile, &key.identity_key()).unwrap();
        assert_eq!(back, profile);
        // The legal text is signed: one changed byte and nothing verifies.
        let mut bytes = signed.bytes.to_vec();
        let at = bytes.windows(6).position(|w| w == b"Markt ").unwrap();
        bytes[at] = b'W';
        let tampered =
            Signed { bytes: serde_bytes::ByteBuf::from(bytes), signature: signed.signature };
        assert_eq!(
            tampered.verify::<OrgProfile>(SignedKind::Profile, &key.identity_key()),
            Err(OrgError::BadSignature)
        );
    }

    #[test]
    fn legal_fields_are_bounded_text() {
        let mut legal =
            OrgLegal { impressum: "Stadt Goslar\nMarkt 1".into(), ..OrgLegal::default() };
        assert!(legal.check().is_ok() && !legal.is_empty() && !legal.has_privacy_notice());
        for field in LegalField::ALL {
            let mut long = legal.clone();
            *long.get_mut(field) = "x".repeat(field.max_bytes() + 1);
            assert!(long.check().is_err(), "{}", field.name());
            *long.get_mut(field) = "x".repeat(field.max_bytes());
            assert!(long.check().is_ok(), "{}", field.name());
        }
        legal.dpo = "a\u{1b}[2J".into();
        assert!(legal.check().is_err());
        assert!(OrgLegal::default().is_empty());
    }

    #[test]
    fn templates_are_checked_and_found() {
        let t = |d: &str, n: &str, x: &str| ReplyTemplate {
            department: d.into(),
            name: n.into(),
            text: x.into(),
        };
        let list = vec![t("bauhof", "erledigt", "Erledigt."), t("presse", "erledigt", "Ok.")];
        assert!(check_templates(&list).is_ok());
        assert_eq!(
            find_template(&list, "presse", "erledigt").map(|t| t.text.as_str()),
            Some("Ok.")
        );
        assert!(find_template(&list, "ordnungsamt", "erledigt").is_none());
        let mut twice = list.clone();
        twice.push(t("bauhof", "erledigt", "Noch mal."));
        assert!(check_templates(&twice).is_err());
        assert!(check_templates(&[t("Bauhof", "x", "y")]).is_err());
        assert!(check_templates(&[t("bauhof", "X Y", "y")]).is_err());
        assert!(check_templates(&[t("bauhof", "x", " ")]).is_err());
        assert!(check_templates(&[t("bauhof", "x", &"y".repeat(1001))]).is_err());
        let many: Vec<_> = (0..41).map(|i| t("bauhof", &format!("t{i}"), "y")).collect();
        assert!(check_templates(&many).is_err());
        assert!(check_templates(&many[..40]).is_ok());
    }
}
