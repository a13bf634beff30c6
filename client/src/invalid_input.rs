//! Why a user's input was refused ([`crate::ClientError::Invalid`]): the
//! reasons the client itself finds, as kinds, so that
//! [`crate::error_text`] can word them in the user's language instead of
//! putting an English fragment into a German sentence. `Display` is the
//! English text (what `ClientError`'s `Display` has always printed).
//!
//! Only texts that come from elsewhere (a refusal another component words,
//! a text already formatted in the user's language) are carried as
//! [`InvalidReason::Text`].

use std::fmt;

use stadtbote_protocol::org::OrgError;

/// What is wrong with an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidReason {
    /// "it is empty".
    Empty,
    /// "must not be empty".
    MustNotBeEmpty,
    /// "must be at least 1" (a count of days or hours).
    AtLeastOne,
    /// "it must be at least 1 day".
    AtLeastOneDay,
    /// A `LAT,LON` location that cannot be read.
    Location(LocationProblem),
    /// `--reason` without `--status`.
    GoesWithStatus,
    /// `--as-me` from a device that is not staff.
    OnlyStaffOnBehalf,
    /// A re-assignment to the department the thread is with.
    AlreadyWith {
        /// The department.
        department: String,
    },
    /// A handle, department or office-hours slot out of its format (the
    /// protocol's validation).
    Format(OrgError),
    /// One office-hours slot out of its format.
    Slot {
        /// The slot as given.
        text: String,
        /// The protocol's validation error.
        error: OrgError,
    },
    /// `org hours set` without a slot.
    NoSlot,
    /// An imported org key for an org this device holds another key for.
    OtherKeyHeld {
        /// The org.
        handle: String,
    },
    /// An imported org key that is not the key this device pinned.
    NotPinnedKey {
        /// The org.
        handle: String,
    },
    /// The server's key for the org is not this device's org key.
    ServerKeyNotOurs {
        /// The org.
        handle: String,
    },
    /// A category name out of its format.
    CategoryFormat,
    /// A category that is not in the profile.
    NoSuchCategory {
        /// The category as given.
        name: String,
    },
    /// A post number a channel does not have.
    NoSuchPost {
        /// The channel's name.
        channel: String,
        /// The post number.
        seq: u64,
    },
    /// A name longer or shorter than allowed.
    NameLength {
        /// The most characters allowed.
        max: usize,
    },
    /// A moderator removing their own account from a group.
    OwnAccount,
    /// A text that is not a device id.
    NotADeviceId {
        /// The text as given.
        text: String,
    },
    /// `org approve` of a device that is already approved.
    AlreadyApproved,
    /// `org approve` of a device without a pending enrolment.
    NoPendingEnrolment,
    /// The value as given, nothing more (e.g. an unknown role).
    Given(String),
    /// A text worded elsewhere (already in the user's language, or a
    /// refusal with its own wording).
    Text(String),
}

/// Why a `LAT,LON` location cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationProblem {
    /// No comma between the two numbers.
    MissingComma,
    /// The latitude is not a number.
    LatitudeNotANumber,
    /// The longitude is not a number.
    LongitudeNotANumber,
    /// The latitude is outside -90..90.
    LatitudeRange,
    /// The longitude is outside -180..180.
    LongitudeRange,
}

impl LocationProblem {
    /// The catalog selector of the problem (`invalid-location-problem`).
    pub fn key(self) -> &'static str {
        match self {
            LocationProblem::MissingComma => "missing-comma",
            LocationProblem::LatitudeNotANumber => "latitude-not-a-number",
            LocationProblem::LongitudeNotANumber => "longitude-not-a-number",
            LocationProblem::LatitudeRange => "latitude-range",
            LocationProblem::LongitudeRange => "longitude-range",
        }
    }

    fn en(self) -> &'static str {
        match self {
            LocationProblem::MissingComma => "missing comma",
            LocationProblem::LatitudeNotANumber => "latitude is not a number",
            LocationProblem::LongitudeNotANumber => "longitude is not a number",
            LocationProblem::LatitudeRange => "latitude must be between -90 and 90",
            LocationProblem::LongitudeRange => "longitude must be between -180 and 180",
        }
    }
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use InvalidReason as R;
        match self {
            R::Empty => f.write_str("it is empty"),
            R::MustNotBeEmpty => f.write_str("must not be empty"),
            R::AtLeastOne => f.write_str("must be at least 1"),
            R::AtLeastOneDay => f.write_str("it must be at least 1 day"),
            R::Location(problem) => {
                write!(f, "{} (expected LAT,LON in degrees, e.g. 51.9061,10.4291)", problem.en())
            }
            R::GoesWithStatus => f.write_str("it goes with --status"),
            R::OnlyStaffOnBehalf => f.write_str("only staff reply on behalf of the org"),
            R::AlreadyWith { department } => write!(f, "the thread is already with {department}"),
            R::Format(error) => write!(f, "{error}"),
            R::Slot { text, error } => write!(f, "{text:?}: {error}"),
            R::NoSlot => f.write_str("give at least one slot, e.g. \"Tue 17:00-18:00\""),
            R::OtherKeyHeld { handle } => {
                write!(f, "this device already holds another key for {handle}")
            }
            R::NotPinnedKey { handle } => {
                write!(f, "its key is not the key this device pinned for {handle}")
            }
            R::ServerKeyNotOurs { handle } => write!(
                f,
                "the server's key for {handle} is not this device's org key; \
                 fetch the org again or import the current key"
            ),
            R::CategoryFormat => {
                f.write_str("1-64 characters without control characters or surrounding spaces")
            }
            R::NoSuchCategory { name } => write!(f, "{name:?} does not exist"),
            R::NoSuchPost { channel, seq } => write!(f, "{channel} has no post #{seq}"),
            R::NameLength { max } => write!(f, "must be 1 to {max} characters"),
            R::OwnAccount => f.write_str("a moderator cannot remove their own account"),
            R::NotADeviceId { text } => write!(f, "{text:?} is not a device id"),
            R::AlreadyApproved => f.write_str("the device is already approved"),
            R::NoPendingEnrolment => {
                f.write_str("no pending enrolment of this device is in the org directory")
            }
            R::Given(text) | R::Text(text) => f.write_str(text),
        }
    }
}

/// The catalog selector (`invalid-what`) of what was given, or `None` for
/// an option or placeholder (`--status`, `DAYS`), which is the same in
/// every language and shown as it is.
pub fn what_key(what: &str) -> Option<&'static str> {
    Some(match what {
        "text" => "text",
        "department" => "department",
        "staff enrolment of this device" => "own-enrolment",
        "office hours" => "office-hours",
        "handle" => "handle",
        "org key file" => "org-key-file",
        "org key" => "org-key",
        "category" => "category",
        "channel name" => "channel-name",
        "retention" => "retention",
        "post" => "post",
        "post number" => "post-number",
        "group name" => "group-name",
        "member" => "member",
        "device id" => "device-id",
        "device" => "device",
        _ => return None,
    })
}

/// The catalog selector (`invalid-format`) of a protocol format error, or
/// `None` for one without a translation.
pub fn format_key(error: &OrgError) -> Option<&'static str> {
    match error {
        OrgError::Invalid(spec) if spec.starts_with("handle") => Some("handle"),
        OrgError::Invalid(spec) if spec.starts_with("department") => Some("department"),
        OrgError::Invalid(spec) if spec.starts_with("office hours") => Some("office-hours"),
        _ => None,
    }
}
