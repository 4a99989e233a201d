//! Calls: what a clinic's call centre or switchboard reports of each call
//! (caller and callee, direction, answered or missed, duration, the agent,
//! a recording link, a note), posted to our signed webhook. What a call
//! means for a lead is decided by [`meaning`]: an answered call is a
//! recorded contact, a missed call from a new number is a new lead, a
//! missed call from a patient with an open lead is a touch and a task.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::ConsultantId;
use crate::providers::SecretRef;
use crate::submission::FieldError;

const MAX_ID: usize = 100;
const MAX_NOTE: usize = 2000;
const MAX_URL: usize = 2048;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The patient called the clinic.
    Inbound,
    /// The clinic called the patient.
    Outbound,
}

/// One call, as the switchboard reported it and we read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    /// The switchboard's id of the call (a token of at most 100 characters):
    /// a call reported again is the same.
    pub id: String,
    pub direction: Direction,
    pub answered: bool,
    /// The patient's number as reported (the caller of an inbound call,
    /// the callee of an outbound one).
    pub patient: String,
    pub at: Timestamp,
    /// Seconds of conversation.
    pub duration: u32,
    /// The consultant who took or made it (mapped from the switchboard's agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<ConsultantId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Call {
    /// The note a recorded contact or a touch keeps of the call.
    pub fn summary(&self) -> String {
        let direction = match self.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        };
        let outcome = if self.answered {
            format!("answered, {} s", self.duration)
        } else {
            "missed".to_owned()
        };
        let mut text = format!("{direction} call, {outcome}");
        if let Some(note) = &self.note {
            text.push_str(": ");
            text.push_str(note);
        }
        if let Some(url) = &self.recording_url {
            text.push_str("\nrecording: ");
            text.push_str(url);
        }
        text
    }
}

/// What a call does to the patient's lead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meaning {
    /// Someone spoke to the patient: a contact recorded on their open lead
    /// (it stops the SLA like a call entered by hand).
    Contact,
    /// A patient we have no open lead for called: a new lead, source
    /// `call`, greeted by message; if the call was answered, the contact
    /// is recorded on it too.
    NewLead,
    /// A patient with an open lead called and nobody answered: a touch,
    /// and a task for the owner to call back.
    MissedCall,
    /// Our unanswered call, or our call to a number without an open lead:
    /// nothing to record.
    Nothing,
}

/// What `call` means, given whether its patient has an open lead.
pub fn meaning(call: &Call, has_open_lead: bool) -> Meaning {
    match (call.direction, call.answered, has_open_lead) {
        (_, true, true) => Meaning::Contact,
        (Direction::Inbound, false, true) => Meaning::MissedCall,
        (Direction::Inbound, _, false) => Meaning::NewLead,
        (Direction::Outbound, false, _) | (Direction::Outbound, true, false) => Meaning::Nothing,
    }
}

/// `[tenants.calls]`: the switchboard's webhook.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsConfig {
    /// The secret the switchboard signs each call record with (a
    /// credential reference).
    pub signing_secret: String,
    /// The switchboard's agent (extension, login) → our consultant's id;
    /// an agent named like a consultant needs no entry.
    #[serde(default)]
    pub agents: BTreeMap<String, String>,
}

/// The switchboard's webhook, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallsPolicy {
    pub secret: SecretRef,
    pub agents: BTreeMap<String, ConsultantId>,
}

impl CallsPolicy {
    /// Checks `c`; `consultants` are the tenant's. Problems are (path, problem).
    pub fn build(
        path: &str,
        c: &CallsConfig,
        consultants: &[ConsultantId],
    ) -> Result<CallsPolicy, Vec<(String, String)>> {
        let mut problems = Vec::new();
        let secret = SecretRef::parse(&c.signing_secret)
            .map_err(|e| problems.push((format!("{path}.signing_secret"), e)))
            .ok();
        let mut agents = BTreeMap::new();
        for (agent, consultant) in &c.agents {
            match consultants.iter().find(|k| k.as_str() == consultant.trim()) {
                Some(k) => {
                    agents.insert(agent.clone(), k.clone());
                }
                None => problems.push((
                    format!("{path}.agents.{agent}"),
                    format!("`{consultant}` is not a consultant of this clinic"),
                )),
            }
        }
        match secret {
            Some(secret) if problems.is_empty() => Ok(CallsPolicy { secret, agents }),
            _ => Err(problems),
        }
    }

    /// Our consultant for the switchboard's `agent`.
    pub fn consultant(&self, agent: &str, consultants: &[ConsultantId]) -> Option<ConsultantId> {
        self.agents
            .get(agent)
            .cloned()
            .or_else(|| consultants.iter().find(|k| k.as_str() == agent).cloned())
    }
}

/// A call record as the switchboard posts it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Posted {
    id: Option<String>,
    direction: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    started_at: Option<String>,
    #[serde(default)]
    duration: Option<u32>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    recording_url: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// Reads a posted call record; every bad field named. `agent` maps the
/// switchboard's agent to our consultant (an unknown agent is dropped:
/// the call still counts).
pub fn parse(
    body: &[u8],
    agent: &dyn Fn(&str) -> Option<ConsultantId>,
) -> Result<Call, Vec<FieldError>> {
    let posted: Posted = serde_json::from_slice(body).map_err(|e| {
        vec![FieldError::new(
            "body",
            format!("is not a call record: {e}"),
        )]
    })?;
    let mut errors = Vec::new();
    let mut required = |field: &str, value: Option<String>| {
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if value.is_none() {
            errors.push(FieldError::new(field, "is required"));
        }
        value
    };
    let id = required("id", posted.id);
    let direction = required("direction", posted.direction);
    let status = required("status", posted.status);
    let started_at = required("started_at", posted.started_at);
    let direction = direction.and_then(|d| match d.as_str() {
        "inbound" => Some(Direction::Inbound),
        "outbound" => Some(Direction::Outbound),
        _ => {
            errors.push(FieldError::new(
                "direction",
                "must be `inbound` or `outbound`",
            ));
            None
        }
    });
    let answered = status.and_then(|s| match s.as_str() {
        "answered" => Some(true),
        "missed" => Some(false),
        _ => {
            errors.push(FieldError::new("status", "must be `answered` or `missed`"));
            None
        }
    });
    let patient_field = match direction {
        Some(Direction::Outbound) => "to",
        _ => "from",
    };
    let patient = match direction {
        Some(Direction::Outbound) => posted.to,
        _ => posted.from,
    }
    .map(|p| p.trim().to_owned())
    .filter(|p| !p.is_empty());
    if direction.is_some() && patient.is_none() {
        errors.push(FieldError::new(
            patient_field,
            "is required: the patient's number",
        ));
    }
    let at = started_at.and_then(|t| {
        t.parse::<Timestamp>()
            .map_err(|_| {
                errors.push(FieldError::new(
                    "started_at",
                    "must be an RFC 3339 time such as 2026-12-01T09:30:00Z",
                ))
            })
            .ok()
    });
    let token = |i: &String| {
        i.len() <= MAX_ID
            && i.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if id.as_ref().is_some_and(|i| !token(i)) {
        errors.push(FieldError::new(
            "id",
            format!("must be at most {MAX_ID} letters, digits, `-`, `_` or `.`"),
        ));
    }
    let note = posted
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        errors.push(FieldError::new(
            "note",
            format!("is longer than {MAX_NOTE} characters"),
        ));
    }
    let recording_url = posted
        .recording_url
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty());
    if recording_url.as_ref().is_some_and(|u| {
        u.len() > MAX_URL || !(u.starts_with("https://") || u.starts_with("http://"))
    }) {
        errors.push(FieldError::new("recording_url", "must be an http(s) link"));
    }
    match (id, direction, answered, patient, at) {
        (Some(id), Some(direction), Some(answered), Some(patient), Some(at))
            if errors.is_empty() =>
        {
            Ok(Call {
                id,
                direction,
                answered,
                patient,
                at,
                duration: posted.duration.unwrap_or(0),
                agent: posted.agent.as_deref().map(str::trim).and_then(agent),
                recording_url,
                note,
            })
        }
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elif(agent: &str) -> Option<ConsultantId> {
        (agent == "101").then(|| ConsultantId::new("elif").unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn a_call_record_reads() {
        let call = parse(
            br#"{"id":"c-1","direction":"outbound","status":"answered","from":"+902160000000",
                 "to":"+905321234567","started_at":"2026-12-01T09:30:00Z","duration":95,
                 "agent":"101","recording_url":"https://pbx.example/r/c-1.mp3","note":"booked"}"#,
            &elif,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(call.patient, "+905321234567");
        assert_eq!(call.agent.as_ref().map(|a| a.as_str()), Some("elif"));
        assert!(call.answered);
        assert_eq!(
            call.summary(),
            "outbound call, answered, 95 s: booked\nrecording: https://pbx.example/r/c-1.mp3"
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        let errors = parse(
            br#"{"id":"","direction":"sideways","status":"busy","started_at":"yesterday",
                 "recording_url":"ftp://x"}"#,
            &elif,
        )
        .err()
        .unwrap_or_default();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["id", "direction", "status", "started_at", "recording_url"]
        );
        let errors = parse(b"not json", &elif).err().unwrap_or_default();
        assert_eq!(errors[0].field, "body");
        let errors = parse(
            br#"{"id":"c","direction":"inbound","status":"missed","started_at":"2026-12-01T09:30:00Z"}"#,
            &elif,
        )
        .err()
        .unwrap_or_default();
        assert_eq!(errors[0].field, "from");
    }

    #[test]
    fn what_a_call_means() {
        let call = |direction, answered| Call {
            id: "c".into(),
            direction,
            answered,
            patient: "+905321234567".into(),
            at: Timestamp::UNIX_EPOCH,
            duration: 0,
            agent: None,
            recording_url: None,
            note: None,
        };
        use Direction::*;
        assert_eq!(meaning(&call(Outbound, true), true), Meaning::Contact);
        assert_eq!(meaning(&call(Inbound, true), true), Meaning::Contact);
        assert_eq!(meaning(&call(Inbound, false), true), Meaning::MissedCall);
        assert_eq!(meaning(&call(Inbound, false), false), Meaning::NewLead);
        assert_eq!(meaning(&call(Inbound, true), false), Meaning::NewLead);
        assert_eq!(meaning(&call(Outbound, false), true), Meaning::Nothing);
        assert_eq!(meaning(&call(Outbound, true), false), Meaning::Nothing);
    }
}
