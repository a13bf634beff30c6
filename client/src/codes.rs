//! The one-time codes the CLI hands out for setting up an org, and why they
//! carry the org id.
//!
//! Redeeming either code means signing something that names the org: the
//! org admin's device proves it holds the new org key by signing
//! `org_claim_message(org, device)`, and a staff device signs a
//! [`DeviceBinding`](stadtbote_protocol::org::DeviceBinding) whose `org`
//! must equal the invitation's. The server's code alone does not tell the
//! redeeming device which org that is, and there is no request to look it
//! up. So the codes people pass on are the server's (or the invitation's)
//! code prefixed with the org id — public information, the org id is in
//! every directory answer:
//!
//! * **org-admin code** (`stadtbote admin org create`): the org id in base32
//!   (26 characters) followed by the server's code, grouped in fours;
//! * **staff invitation code** (`stadtbote org invite-staff`): base32 of
//!   org id (16 bytes) ‖ invitation id (8) ‖ secret (16), grouped in fours.
//!   The part after the org id is exactly an [`InviteCode`].
//!
//! Case, spaces and dashes do not matter when typing either.

use data_encoding::BASE32_NOPAD;
use stadtbote_protocol::OrgId;
use stadtbote_protocol::org::InviteCode;

use crate::error::ClientError;

/// Characters of an org id in base32.
const ORG_ID_CHARS: usize = 26;

fn clean(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn grouped(text: &str) -> String {
    stadtbote_protocol::ids::grouped(text, 4, "-")
}

/// An org-admin code: which org, and the server's one-time code.
#[derive(Clone, PartialEq, Eq)]
pub struct OrgAdminCode {
    /// The org being claimed.
    pub org: OrgId,
    /// The server's code (sent in `org_claim`).
    pub server_code: String,
}

impl std::fmt::Debug for OrgAdminCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OrgAdminCode(org: {}, code: ..)", self.org)
    }
}

impl OrgAdminCode {
    /// The text to hand to the org admin.
    pub fn to_text(&self) -> String {
        grouped(&format!("{}{}", self.org, clean(&self.server_code)))
    }

    /// Parses what the org admin typed.
    pub fn parse(text: &str) -> Result<Self, ClientError> {
        let cleaned = clean(text);
        let invalid = || ClientError::InvalidCodeText { what: "org-admin code" };
        if cleaned.len() <= ORG_ID_CHARS || !cleaned.is_ascii() {
            return Err(invalid());
        }
        let (org, code) = cleaned.split_at(ORG_ID_CHARS);
        let org = OrgId::parse(org).map_err(|_| invalid())?;
        Ok(OrgAdminCode { org, server_code: code.to_string() })
    }
}

/// A staff invitation code: which org, and the invitation itself.
#[derive(Clone, PartialEq, Eq)]
pub struct StaffInvitation {
    /// The inviting org.
    pub org: OrgId,
    /// The invitation (public id and secret).
    pub code: InviteCode,
}

impl std::fmt::Debug for StaffInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaffInvitation(org: {}, {:?})", self.org, self.code)
    }
}

impl StaffInvitation {
    /// The text to hand to the staff member.
    pub fn to_text(&self) -> String {
        grouped(
            &BASE32_NOPAD.encode(&[self.org.as_bytes().as_slice(), &self.code.to_bytes()].concat()),
        )
    }

    /// Parses what the staff member typed.
    pub fn parse(text: &str) -> Result<Self, ClientError> {
        let invalid = || ClientError::InvalidCodeText { what: "invitation code" };
        let bytes = stadtbote_protocol::ids::decode_base32_lenient(text).ok_or_else(invalid)?;
        if bytes.len() != OrgId::LEN + 24 {
            return Err(invalid());
        }
        let (org, invite) = bytes.split_at(OrgId::LEN);
        let org = OrgId::from_slice(org).map_err(|_| invalid())?;
        let code = InviteCode::from_bytes(invite).map_err(|_| invalid())?;
        Ok(StaffInvitation { org, code })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_admin_codes_round_trip_leniently() {
        let code = OrgAdminCode { org: OrgId([7; 16]), server_code: "abcd-efgh-ijkl-mnop".into() };
        let text = code.to_text();
        assert!(text.split('-').all(|g| g.len() <= 4));
        let back = OrgAdminCode::parse(&format!(" {} ", text.to_lowercase())).unwrap();
        assert_eq!(back.org, code.org);
        assert_eq!(back.server_code, "ABCDEFGHIJKLMNOP");
        assert!(OrgAdminCode::parse("ABCD").is_err());
        assert!(OrgAdminCode::parse(&"Ü".repeat(30)).is_err());
        assert!(!format!("{back:?}").contains("ABCDEFGH"), "the code stays out of Debug");
    }

    #[test]
    fn invitations_round_trip_and_keep_the_invite_key() {
        let code = InviteCode::generate();
        let invitation = StaffInvitation { org: OrgId([9; 16]), code: code.clone() };
        let text = invitation.to_text();
        assert_eq!(text.replace('-', "").len(), 64);
        let back = StaffInvitation::parse(&text.to_lowercase()).unwrap();
        assert_eq!(back.org, OrgId([9; 16]));
        assert_eq!(back.code.id, code.id);
        assert_eq!(back.code.invite_key().identity_key(), code.invite_key().identity_key());
        for bad in ["", "AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH-IIII-J", &code.to_text()] {
            let err = StaffInvitation::parse(bad).unwrap_err();
            assert!(err.to_string().contains("code"), "{err}");
        }
    }
}
