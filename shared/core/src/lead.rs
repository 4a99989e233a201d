//! Leads: who asked, where they came from, where they stand in the
//! pipeline, who owns them and why, and what happened to them.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::assignment::Rule;
use crate::contact::{ContactKey, Reach};
use crate::ids::{BranchId, ConsultantId, FormId, Language, LeadId, ManagerId, TenantId};
use crate::language::LanguageChoice;
use crate::lead_ads::AdAttribution;

/// The pipeline: New → Contacted → Info given → Appointment booked →
/// Arrived / No-show → Follow-up, and Lost (with a reason) from anywhere open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    New,
    Contacted,
    InfoGiven,
    AppointmentBooked,
    Arrived,
    NoShow,
    FollowUp,
    Lost,
}

impl Stage {
    pub const ALL: [Stage; 8] = [
        Stage::New,
        Stage::Contacted,
        Stage::InfoGiven,
        Stage::AppointmentBooked,
        Stage::Arrived,
        Stage::NoShow,
        Stage::FollowUp,
        Stage::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Contacted => "contacted",
            Stage::InfoGiven => "info_given",
            Stage::AppointmentBooked => "appointment_booked",
            Stage::Arrived => "arrived",
            Stage::NoShow => "no_show",
            Stage::FollowUp => "follow_up",
            Stage::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Open leads are worked by a consultant and catch new submissions from
    /// the same patient; Arrived (won) and Lost leads are closed.
    pub fn is_open(self) -> bool {
        !matches!(self, Stage::Arrived | Stage::Lost)
    }

    /// The moves staff may make. Forward moves may skip steps (a first call
    /// can end with an appointment); Lost is reachable from every open stage;
    /// an arrived patient may go on to follow-up (treatment plans, aftercare).
    pub fn can_move_to(self, to: Stage) -> bool {
        use Stage::*;
        if self == to {
            return false;
        }
        match self {
            New => matches!(
                to,
                Contacted | InfoGiven | AppointmentBooked | FollowUp | Lost
            ),
            Contacted => matches!(to, InfoGiven | AppointmentBooked | FollowUp | Lost),
            InfoGiven => matches!(to, AppointmentBooked | FollowUp | Lost),
            AppointmentBooked => matches!(to, Arrived | NoShow | Lost),
            NoShow => matches!(to, AppointmentBooked | FollowUp | Lost),
            FollowUp => matches!(to, InfoGiven | AppointmentBooked | Lost),
            Arrived => matches!(to, FollowUp),
            Lost => false,
        }
    }
}

/// Campaign attribution of one submission.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribution {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_lang: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landing_page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// A lead ad's campaign, ad group and ad, by id and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad: Option<Box<AdAttribution>>,
}

/// Consent the patient gave with a submission.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consents {
    /// Agreed to promotional messages (campaigns, blasts).
    pub marketing: bool,
    /// Acknowledged the privacy notice (KVKK, GDPR).
    pub privacy: bool,
}

/// One contact of the patient with the clinic: a form submission or, later,
/// an inbound message. A repeat submission becomes a touch on the open lead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touch {
    pub id: String,
    pub at: Timestamp,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<FormId>,
    pub attribution: Attribution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub consents: Consents,
}

/// Who owns the lead, since when, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    pub consultant: ConsultantId,
    pub rule: Rule,
    pub reason: String,
    pub since: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    pub id: LeadId,
    pub tenant: TenantId,
    pub branch: BranchId,
    pub language: Language,
    /// Where the language came from and why (none on leads made before
    /// it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_choice: Option<LanguageChoice>,
    /// When the patient was asked which language they prefer (the
    /// assignment waits for the answer, or the clinic's wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_asked_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub reach: Reach,
    pub contact_key: ContactKey,
    pub stage: Stage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<FormId>,
    pub attribution: Attribution,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_contact_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Ownership>,
    /// Consultants who owned the lead before, oldest first.
    #[serde(default)]
    pub past_owners: Vec<ConsultantId>,
    /// Which owner's turn of the SLA runs: 0 for the first owner.
    #[serde(default)]
    pub sla_cycle: u32,
    /// When it entered its current stage (unset: when it was created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_since: Option<Timestamp>,
}

impl Lead {
    pub fn first_name(&self) -> &str {
        self.name
            .as_deref()
            .map(crate::tenant::first_word)
            .unwrap_or_default()
    }

    /// When it entered its current stage.
    pub fn stage_entered_at(&self) -> Timestamp {
        self.stage_since.unwrap_or(self.created_at)
    }

    /// Moves it to `stage` at `at`.
    pub fn enter(&mut self, stage: Stage, at: Timestamp) {
        self.stage = stage;
        self.stage_since = Some(at);
        self.updated_at = at;
    }

    /// Whether someone already reached the patient (which stops the SLA).
    pub fn contacted(&self) -> bool {
        self.first_contact_at.is_some()
    }
}

/// How staff reached the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKind {
    Call,
    Message,
    /// The patient came to the clinic.
    Visit,
    /// Any other contact, described in its note (a visit at the desk, say).
    Note,
}

/// What happened to a lead, in order: the stage history and the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LeadEvent {
    Created {
        source: String,
    },
    Touched {
        touch: String,
        source: String,
    },
    Assigned {
        consultant: ConsultantId,
        rule: Rule,
        reason: String,
    },
    Reassigned {
        from: ConsultantId,
        to: ConsultantId,
        rule: Rule,
        reason: String,
    },
    StageChanged {
        from: Stage,
        to: Stage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    ContactRecorded {
        contact: ContactKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<ConsultantId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    SlaBreached {
        cycle: u32,
        manager: ManagerId,
    },
    Unassignable {
        reason: String,
    },
    /// Staff corrected the patient's phone number (the number itself is on
    /// the lead, not in its history).
    PhoneCorrected {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<ConsultantId>,
    },
}

impl LeadEvent {
    /// The name a clinic's own systems know the event by, for the events
    /// that are published to them (on AWS, to the EventBridge bus as the
    /// `detail-type`); `None` for those that stay in the lead's history.
    pub fn published_as(&self) -> Option<&'static str> {
        match self {
            LeadEvent::Created { .. } => Some("lead.created"),
            LeadEvent::Assigned { .. } => Some("lead.assigned"),
            LeadEvent::Reassigned { .. } => Some("lead.reassigned"),
            LeadEvent::StageChanged { .. } => Some("lead.stage_changed"),
            LeadEvent::SlaBreached { .. } => Some("lead.sla_breached"),
            LeadEvent::Touched { .. }
            | LeadEvent::ContactRecorded { .. }
            | LeadEvent::Unassignable { .. }
            | LeadEvent::PhoneCorrected { .. } => None,
        }
    }
}

/// A [`LeadEvent`] with its time and a per-lead unique id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub id: String,
    pub at: Timestamp,
    #[serde(flatten)]
    pub event: LeadEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_moves_forward_and_lost_is_final() {
        use Stage::*;
        assert!(New.can_move_to(Contacted));
        assert!(New.can_move_to(AppointmentBooked));
        assert!(AppointmentBooked.can_move_to(Arrived));
        assert!(AppointmentBooked.can_move_to(NoShow));
        assert!(NoShow.can_move_to(FollowUp));
        assert!(Arrived.can_move_to(FollowUp));
        assert!(!Contacted.can_move_to(New));
        assert!(!New.can_move_to(Arrived));
        for s in Stage::ALL {
            assert!(!Lost.can_move_to(s));
            assert!(!s.can_move_to(s));
            assert_eq!(Stage::parse(s.as_str()), Some(s));
            if s.is_open() {
                assert!(s.can_move_to(Lost), "{s:?}");
            }
        }
        assert!(!Arrived.is_open() && !Lost.is_open() && FollowUp.is_open());
    }
}
