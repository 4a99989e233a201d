//! Identifiers and language codes. Identifiers end up inside store keys,
//! which use `#` as a separator, so each kind says which characters it takes.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, String> {
                let s = s.into();
                $check(&s)?;
                Ok($name(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                $name::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A clinic chain.
    TenantId,
    check_slug
);
id_type!(
    /// A clinic of a chain.
    BranchId,
    check_slug
);
id_type!(
    /// A consultant (sales representative) who calls leads back.
    ConsultantId,
    check_slug
);
id_type!(
    /// A branch manager, who is warned when leads wait too long.
    ManagerId,
    check_slug
);
id_type!(
    /// A web form, public in its page's HTML.
    FormId,
    check_slug
);
id_type!(
    /// A lead: a generated, time-ordered identifier.
    LeadId,
    check_token
);
id_type!(
    /// A message of the ledger, derived from its intent so that retries find it.
    MessageId,
    check_token
);
id_type!(
    /// A manager's task.
    TaskId,
    check_token
);
id_type!(
    /// An appointment: a generated, time-ordered identifier.
    AppointmentId,
    check_token
);
id_type!(
    /// A practitioner (a doctor, hygienist, …: the seeds' "provider") who sees patients at a branch.
    PractitionerId,
    check_slug
);
id_type!(
    /// A service a clinic offers (a consultation, an implant, a cleaning).
    ServiceId,
    check_slug
);
id_type!(
    /// A blast: a generated, time-ordered identifier.
    BlastId,
    check_token
);
id_type!(
    /// A rule of the automation engine (`appointment_confirmation`).
    RuleId,
    check_slug
);
id_type!(
    /// A pipeline of deals (`patient_base`), or one of its stages.
    PipelineId,
    check_slug
);
id_type!(
    /// A deal: a patient's card in a pipeline other than the leads'.
    DealId,
    check_token
);
id_type!(
    /// A person of the clinic who can be given a task: a consultant or a manager.
    StaffId,
    check_slug
);

/// The record something belongs to: a lead, or an appointment. Messages,
/// timers and tasks live in (or point at) their record's partition. Stored
/// as `"lead": "…"` or `"appointment": "…"` inside the owning item.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordRef {
    Lead(LeadId),
    Appointment(AppointmentId),
    /// A blast: its timer, and its test messages.
    Blast(BlastId),
    /// A deal of a pipeline: its messages, timers and firings.
    Deal(DealId),
    /// An automation rule: its health check, and the alert it raises.
    /// (Stored as `"automation"`: timers and firings have a `rule` of their own.)
    #[serde(rename = "automation")]
    Rule(RuleId),
}

impl RecordRef {
    /// The record's id.
    pub fn id(&self) -> &str {
        match self {
            RecordRef::Lead(id) => id.as_str(),
            RecordRef::Appointment(id) => id.as_str(),
            RecordRef::Blast(id) => id.as_str(),
            RecordRef::Deal(id) => id.as_str(),
            RecordRef::Rule(id) => id.as_str(),
        }
    }

    pub fn lead(&self) -> Option<&LeadId> {
        match self {
            RecordRef::Lead(id) => Some(id),
            RecordRef::Appointment(_)
            | RecordRef::Blast(_)
            | RecordRef::Deal(_)
            | RecordRef::Rule(_) => None,
        }
    }

    pub fn appointment(&self) -> Option<&AppointmentId> {
        match self {
            RecordRef::Appointment(id) => Some(id),
            RecordRef::Lead(_) | RecordRef::Blast(_) | RecordRef::Deal(_) | RecordRef::Rule(_) => {
                None
            }
        }
    }
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordRef::Lead(id) => write!(f, "lead {id}"),
            RecordRef::Appointment(id) => write!(f, "appointment {id}"),
            RecordRef::Blast(id) => write!(f, "blast {id}"),
            RecordRef::Deal(id) => write!(f, "deal {id}"),
            RecordRef::Rule(id) => write!(f, "automation {id}"),
        }
    }
}

impl From<&ManagerId> for StaffId {
    fn from(id: &ManagerId) -> Self {
        StaffId(id.0.clone())
    }
}

impl From<&ConsultantId> for StaffId {
    fn from(id: &ConsultantId) -> Self {
        StaffId(id.0.clone())
    }
}

impl From<LeadId> for RecordRef {
    fn from(id: LeadId) -> Self {
        RecordRef::Lead(id)
    }
}

impl From<AppointmentId> for RecordRef {
    fn from(id: AppointmentId) -> Self {
        RecordRef::Appointment(id)
    }
}

impl MessageId {
    /// The id of a message derived from its intent: `{what}.{lead}` or
    /// `{what}.{lead}.{n}`, so that every retry names the same message.
    pub fn derived(what: &'static str, lead: &LeadId, n: Option<u32>) -> Self {
        MessageId(derive(what, lead, n))
    }

    /// The id of what a rule of the automation engine sends for `record`
    /// at one occurrence: `{rule}.{record}.{occurrence}`, the same however
    /// often the rule fires for it.
    pub fn fired(rule: &RuleId, record: &RecordRef, occurrence: &str) -> Result<Self, String> {
        MessageId::new(format!("{rule}.{}.{occurrence}", record.id()))
    }
}

impl TaskId {
    /// The id of a task derived from its cause, like [`MessageId::derived`].
    pub fn derived(what: &'static str, lead: &LeadId, n: Option<u32>) -> Self {
        TaskId(derive(what, lead, n))
    }

    /// The id of a task a rule opens, like [`MessageId::fired`].
    pub fn fired(rule: &RuleId, record: &RecordRef, occurrence: &str) -> Result<Self, String> {
        TaskId::new(format!("{rule}.{}.{occurrence}", record.id()))
    }
}

/// Lead ids are tokens of at most 128 characters and `what` a short word,
/// so the composition is a token too.
fn derive(what: &str, lead: &LeadId, n: Option<u32>) -> String {
    match n {
        Some(n) => format!("{what}.{lead}.{n}"),
        None => format!("{what}.{lead}"),
    }
}

/// Configured identifiers: lower-case letters, digits, `-` and `_`, up to 64.
fn check_slug(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not an identifier: use 1 to 64 lower-case letters, digits, `-` or `_`, starting with a letter or digit"
        ))
    }
}

/// Generated identifiers: ASCII letters, digits, `-`, `_` and `.`, up to 160.
fn check_token(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 160
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!("`{s}` is not a valid identifier"))
    }
}

/// A language as its primary subtag, lower case: `tr`, `en`, `ru`, `ar`.
/// `tr-TR` and `EN_us` are read as `tr` and `en`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

impl Language {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let primary = raw.split(['-', '_']).next().unwrap_or_default();
        let subtags_ok = raw
            .split(['-', '_'])
            .all(|t| !t.is_empty() && t.len() <= 8 && t.chars().all(|c| c.is_ascii_alphanumeric()));
        if (2..=3).contains(&primary.len())
            && primary.chars().all(|c| c.is_ascii_alphabetic())
            && subtags_ok
        {
            Ok(Language(primary.to_ascii_lowercase()))
        } else {
            Err(format!(
                "`{raw}` is not a language code such as tr, en or ru"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Language {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Language::parse(&s)
    }
}

impl From<Language> for String {
    fn from(l: Language) -> String {
        l.0
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_keep_keys_parseable() {
        assert!(BranchId::new("kadikoy-2").is_ok());
        for bad in ["", "Kadikoy", "a#b", "-x", "a b", &"x".repeat(65)] {
            assert!(BranchId::new(bad).is_err(), "{bad}");
        }
        assert!(LeadId::new("01JD3XQ7ZK8M2N4P6R8T0V2X4Z").is_ok());
        assert!(LeadId::new("a#b").is_err());
    }

    #[test]
    fn languages_are_primary_subtags() {
        assert_eq!(Language::parse("tr-TR").unwrap().as_str(), "tr");
        assert_eq!(Language::parse("EN_us").unwrap().as_str(), "en");
        assert_eq!(Language::parse(" ru ").unwrap().as_str(), "ru");
        for bad in ["", "t", "turkish", "1r", "tr--x", "tr-TR-"] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }
}
