//! Consultation hours: when a citizen's question goes to the mayor's office
//! and what the citizen is told otherwise.
//!
//! The org's signed profile lists weekly office hours, an auto-reply and
//! the department that answers, and carries `live_since` while staff hold a
//! session (`stadtbote org hours live on`). The decision is made on the
//! citizen's device from the verified profile ([`decide`]):
//!
//! * **live**: a consultation thread is opened (the same machinery as a
//!   report, see [`crate::thread_send`]); staff see the queue in arrival
//!   order, by the server's time of arrival.
//! * **not live**: nothing is sent to anyone. The client shows the office
//!   hours and the auto-reply. Queuing the question for a later session
//!   would leave it unanswered in a queue nobody looks at outside the
//!   session, and would hand staff a backlog that is no longer "in order of
//!   arrival" of the session; the citizen asks again when the session runs.

use stadtbote_protocol::org::{HoursSlot, OrgProfile};

use crate::org::DEFAULT_CONSULT_DEPARTMENT;

/// What a consultation request leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsultDecision {
    /// Staff are live: open a thread to `department`.
    Live {
        /// The answering department.
        department: String,
        /// Since when (Unix ms).
        since: u64,
    },
    /// No session: show the hours and the auto-reply.
    Closed {
        /// The weekly slots, as text (e.g. "Tue 17:00-18:00").
        hours: Vec<String>,
        /// Their time zone.
        timezone: String,
        /// The org's auto-reply, if it set one.
        auto_reply: Option<String>,
    },
}

/// Decides from a verified profile.
pub fn decide(profile: &OrgProfile) -> ConsultDecision {
    match profile.live_since {
        Some(since) => ConsultDecision::Live {
            department: profile
                .consult_department
                .clone()
                .unwrap_or_else(|| DEFAULT_CONSULT_DEPARTMENT.to_string()),
            since,
        },
        None => ConsultDecision::Closed {
            hours: profile.office_hours.iter().map(HoursSlot::to_string).collect(),
            timezone: profile.timezone.clone(),
            auto_reply: profile.auto_reply.clone(),
        },
    }
}

/// Parses the slots of `org hours set`; at least one is required.
pub fn parse_slots(texts: &[String]) -> Result<Vec<HoursSlot>, crate::ClientError> {
    if texts.is_empty() {
        return Err(crate::ClientError::Invalid {
            what: "office hours",
            reason: crate::invalid_input::InvalidReason::NoSlot,
        });
    }
    texts
        .iter()
        .map(|t| {
            HoursSlot::parse(t).map_err(|e| crate::ClientError::Invalid {
                what: "office hours",
                reason: crate::invalid_input::InvalidReason::Slot { text: t.clone(), error: e },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stadtbote_protocol::OrgId;

    fn profile() -> OrgProfile {
        let mut p = OrgProfile::new(OrgId([1; 16]), "goslar".into(), "Stadt Goslar".into(), 0);
        p.office_hours = parse_slots(&["Tue 17:00-18:00".into(), "Do 09:00-11:00".into()]).unwrap();
        p.auto_reply = Some("Wir melden uns.".into());
        p
    }

    #[test]
    fn closed_shows_hours_and_auto_reply() {
        match decide(&profile()) {
            ConsultDecision::Closed { hours, timezone, auto_reply } => {
                assert_eq!(hours, ["Tue 17:00-18:00", "Thu 09:00-11:00"]);
                assert_eq!(timezone, "Europe/Berlin");
                assert_eq!(auto_reply.as_deref(), Some("Wir melden uns."));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn live_goes_to_the_consult_department() {
        let mut p = profile();
        p.live_since = Some(42);
        assert_eq!(
            decide(&p),
            ConsultDecision::Live { department: "buergermeister".into(), since: 42 }
        );
        p.consult_department = Some("rathaus".into());
        assert!(
            matches!(decide(&p), ConsultDecision::Live { department, .. } if department == "rathaus")
        );
    }

    #[test]
    fn slots_are_validated() {
        assert!(parse_slots(&[]).is_err());
        let err = parse_slots(&["Tue 18:00-17:00".into()]).unwrap_err();
        assert!(err.to_string().contains("Tue 18:00-17:00"), "{err}");
    }
}
