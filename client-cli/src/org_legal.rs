//! The town's legal pages (Impressum, GDPR Art. 13 privacy notice) and its
//! reply templates ("Textbausteine") on the client's side (issue 16,
//! items 5 and 6): the org admin sets them in the org's signed profile
//! (`org legal set`, `org template add/remove`), `org info` shows them
//! (text and `--json`), and staff replies use a template of the thread's
//! department (`reply --template NAME`). What they are on the wire and why
//! they live in the signed profile: `stadtbote_protocol::org_legal`. How
//! the CLI prints them is [`crate::org_legal_output`]'s.
//!
//! Every text shown here comes from a profile verified with the org key;
//! the server can neither change nor invent one.

use stadtbote_protocol::GroupId;
use stadtbote_protocol::org::OrgProfile;
use stadtbote_protocol::org_legal::{LegalField, ReplyTemplate, check_templates, find_template};

use crate::device::Client;
use crate::error::ClientError;
use crate::invalid_input::InvalidReason as R;
use crate::output::safe;

impl Client {
    /// Sets the given legal fields (an empty text clears one) in the
    /// org's profile and publishes it. Needs a connection and the org key.
    pub async fn set_legal(
        &mut self,
        handle: &str,
        changes: Vec<(LegalField, String)>,
    ) -> Result<OrgProfile, ClientError> {
        self.update_profile(handle, |profile| {
            let mut legal = profile.legal.clone().unwrap_or_default();
            for (field, text) in changes {
                *legal.get_mut(field) = text.trim_end().to_string();
            }
            legal
                .check()
                .map_err(|e| ClientError::Invalid { what: "legal", reason: R::Format(e) })?;
            profile.legal = (!legal.is_empty()).then_some(legal);
            Ok(())
        })
        .await
    }

    /// Adds (or replaces) a reply template and publishes the profile;
    /// returns it and whether one of that department and name was replaced.
    pub async fn add_template(
        &mut self,
        handle: &str,
        template: ReplyTemplate,
    ) -> Result<(OrgProfile, bool), ClientError> {
        template
            .check()
            .map_err(|e| ClientError::Invalid { what: "template", reason: R::Format(e) })?;
        let mut replaced = false;
        let profile = self
            .update_profile(handle, |profile| {
                let list = &mut profile.reply_templates;
                match list
                    .iter_mut()
                    .find(|t| t.department == template.department && t.name == template.name)
                {
                    Some(existing) => {
                        replaced = true;
                        *existing = template;
                    }
                    None => list.push(template),
                }
                check_templates(list)
                    .map_err(|e| ClientError::Invalid { what: "template", reason: R::Format(e) })
            })
            .await?;
        Ok((profile, replaced))
    }

    /// Removes the template `name` of `department` and publishes the
    /// profile; refused (nothing published) when there is none.
    pub async fn remove_template(
        &mut self,
        handle: &str,
        department: &str,
        name: &str,
    ) -> Result<OrgProfile, ClientError> {
        self.update_profile(handle, |profile| {
            let before = profile.reply_templates.len();
            profile.reply_templates.retain(|t| !(t.department == department && t.name == name));
            if profile.reply_templates.len() == before {
                return Err(no_such_template(
                    "org-template-not-found",
                    department,
                    name,
                    &profile.reply_templates,
                ));
            }
            Ok(())
        })
        .await
    }

    /// The text of the template `name` of `thread`'s department, from the
    /// org's verified profile: fetched now when connected, else the one
    /// this device pinned last.
    pub async fn reply_template_text(
        &mut self,
        thread: &GroupId,
        name: &str,
    ) -> Result<String, ClientError> {
        let record = self.thread(thread)?;
        let (handle, department) = (record.handle.clone(), record.department().to_string());
        let fetched = self.fetch_org(&handle).await.ok().and_then(|o| o.profile);
        let profile = match fetched {
            Some(profile) => Some(profile),
            None => self.cached_org(&handle)?.and_then(|o| o.profile),
        };
        let templates = profile.map(|p| p.reply_templates).unwrap_or_default();
        find_template(&templates, &department, name)
            .map(|t| t.text.clone())
            .ok_or_else(|| no_such_template("org-template-unknown", &department, name, &templates))
    }
}

/// "No template NAME for DEPARTMENT", listing the ones it has.
fn no_such_template(
    id: &'static str,
    department: &str,
    name: &str,
    templates: &[ReplyTemplate],
) -> ClientError {
    let names: Vec<&str> =
        templates.iter().filter(|t| t.department == department).map(|t| t.name.as_str()).collect();
    let names = if names.is_empty() { "-".to_string() } else { names.join(", ") };
    ClientError::Invalid {
        what: "--template",
        reason: R::Text(stadtbote_i18n::tr(
            id,
            &[
                ("name", stadtbote_i18n::ToArg::to_arg(&safe(name))),
                ("department", stadtbote_i18n::ToArg::to_arg(&safe(department))),
                ("names", stadtbote_i18n::ToArg::to_arg(&safe(&names))),
            ],
        )),
    }
}

/// The reply text of a template plus what the staff member wrote (if
/// anything), separated by a blank line.
pub fn compose_reply(template: &str, text: Option<&str>) -> String {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(own) => format!("{template}\n\n{own}"),
        None => template.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_join_template_and_own_text() {
        assert_eq!(compose_reply("Erledigt.", None), "Erledigt.");
        assert_eq!(compose_reply("Erledigt.", Some("  ")), "Erledigt.");
        assert_eq!(compose_reply("Erledigt.", Some("Gruß, K.")), "Erledigt.\n\nGruß, K.");
    }
}
