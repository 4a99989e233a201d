//! Appointments: a patient's visit to a branch, with a practitioner, for a
//! service, at a time. Statuses are FHIR R4's; the patient's confirmation
//! is kept apart from the status, as FHIR keeps it on the patient's
//! participant (`needs-action` → `accepted` / `declined`).
//!
//! Every change makes a new version, recorded as a [`Revision`] with who or
//! what made it, and yields the domain events others are told of.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::contact::{ContactKey, Reach};
use crate::ids::{AppointmentId, BranchId, Language, LeadId, PractitionerId, ServiceId, TenantId};

/// FHIR R4's appointment status value set
/// (hl7.org/fhir/R4/valueset-appointmentstatus.html).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppointmentStatus {
    Proposed,
    Pending,
    Booked,
    Arrived,
    Fulfilled,
    Cancelled,
    Noshow,
    EnteredInError,
    CheckedIn,
    Waitlist,
}

impl AppointmentStatus {
    pub const ALL: [AppointmentStatus; 10] = [
        AppointmentStatus::Proposed,
        AppointmentStatus::Pending,
        AppointmentStatus::Booked,
        AppointmentStatus::Arrived,
        AppointmentStatus::Fulfilled,
        AppointmentStatus::Cancelled,
        AppointmentStatus::Noshow,
        AppointmentStatus::EnteredInError,
        AppointmentStatus::CheckedIn,
        AppointmentStatus::Waitlist,
    ];

    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
        use AppointmentStatus::*;
        match self {
            Proposed => "proposed",
            Pending => "pending",
            Booked => "booked",
            Arrived => "arrived",
            Fulfilled => "fulfilled",
            Cancelled => "cancelled",
            Noshow => "noshow",
            EnteredInError => "entered-in-error",
            CheckedIn => "checked-in",
            Waitlist => "waitlist",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        AppointmentStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
    }

    /// Whether the visit is over or off: nothing is planned around it any more.
    pub fn is_final(self) -> bool {
        use AppointmentStatus::*;
        matches!(self, Fulfilled | Cancelled | Noshow | EnteredInError)
    }

    /// FHIR lets only proposed, cancelled and waitlisted appointments
    /// (and errors) lack a start and end.
    pub fn may_lack_time(self) -> bool {
        use AppointmentStatus::*;
        matches!(self, Proposed | Cancelled | Waitlist | EnteredInError)
    }

    /// The moves staff may make through the API (a scheduler's feed is the
    /// source's truth and may set any status).
    pub fn staff_can_move_to(self, to: AppointmentStatus) -> bool {
        use AppointmentStatus::*;
        if self == to {
            return false;
        }
        match to {
            Booked => matches!(self, Proposed | Pending | Waitlist),
            Arrived | CheckedIn => matches!(self, Booked | Arrived),
            Fulfilled => matches!(self, Booked | Arrived | CheckedIn),
            Noshow => matches!(self, Booked),
            Cancelled => matches!(self, Proposed | Pending | Booked | Waitlist),
            EnteredInError => true,
            Proposed | Pending | Waitlist => false,
        }
    }
}

impl fmt::Display for AppointmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The patient's answer to the appointment, FHIR's participant status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confirmation {
    #[default]
    NeedsAction,
    Accepted,
    Declined,
    Tentative,
}

impl Confirmation {
    pub const ALL: [Confirmation; 4] = [
        Confirmation::NeedsAction,
        Confirmation::Accepted,
        Confirmation::Declined,
        Confirmation::Tentative,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Confirmation::NeedsAction => "needs-action",
            Confirmation::Accepted => "accepted",
            Confirmation::Declined => "declined",
            Confirmation::Tentative => "tentative",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Confirmation::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A business identifier of the appointment in the system it came from
/// (FHIR `Identifier`: a namespace and a value).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identifier {
    pub system: String,
    pub value: String,
}

/// Who the appointment is for, as far as messages need to know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientRef {
    /// The patient record's key (the dedupe key of their phone or e-mail).
    pub contact_key: ContactKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub reach: Reach,
    pub language: Language,
    /// The patient's own IANA time zone, when the source knows it; else
    /// their phone number's country decides, else the branch's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl PatientRef {
    pub fn first_name(&self) -> &str {
        self.name
            .as_deref()
            .map(crate::tenant::first_word)
            .unwrap_or_default()
    }
}

/// What an appointment is: everything a source or staff may set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub patient: PatientRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<LeadId>,
    pub branch: BranchId,
    pub practitioner: PractitionerId,
    pub service: ServiceId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: AppointmentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_reason: Option<String>,
    #[serde(default)]
    pub confirmation: Confirmation,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appointment {
    pub id: AppointmentId,
    pub tenant: TenantId,
    /// 1 when created; every change adds one. Staff and feeds see it as the ETag.
    pub version: u64,
    /// The source's identifiers (a FHIR identifier; every Cal.com uid of a
    /// rescheduling chain).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    #[serde(flatten)]
    pub booking: Booking,
    /// The version that set the current time, place and status: an answer
    /// to an older version is about an appointment that changed since.
    pub slot_version: u64,
    /// When the current time was set: a step due before it was booked too late.
    pub slot_since: Timestamp,
    /// When the current status began: the anchor of what follows it.
    pub status_since: Timestamp,
    /// The source's `meta.lastUpdated` of the last write it fed: an older
    /// write changes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_updated: Option<Timestamp>,
    /// Names of the step timers armed for it, so a change can replace or
    /// remove them without reading them first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub armed: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Who or what changed an appointment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// Clinic staff through the API (`by`: who, as they said).
    Staff {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The clinic's scheduler: `fhir` or `calcom`.
    Feed { source: String },
    /// The patient, answering on a channel (`whatsapp`, `sms`, `instagram`, `link`).
    Patient { via: String },
}

impl Actor {
    pub fn is_patient(&self) -> bool {
        matches!(self, Actor::Patient { .. })
    }

    /// `staff`, `feed` or `patient`.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Staff { .. } => "staff",
            Actor::Feed { .. } => "feed",
            Actor::Patient { .. } => "patient",
        }
    }

    /// Who on staff, which feed (`fhir`, `calcom`), or the patient's channel.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Actor::Staff { by } => by.as_deref(),
            Actor::Feed { source } => Some(source),
            Actor::Patient { via } => Some(via),
        }
    }
}

/// One field's change, as shown in the history. Patient details are
/// named, not copied (the history is read by staff, events by others).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// One version of an appointment's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub version: u64,
    pub at: Timestamp,
    pub by: Actor,
    pub changes: Vec<FieldChange>,
}

/// What happened to an appointment, for rules and for others to hear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentEvent {
    Booked,
    Rescheduled,
    Cancelled,
    Confirmed,
    Declined,
    Arrived,
    NoShow,
    Completed,
    /// The patient asked for another time.
    RescheduleRequested,
    /// The patient scored the visit.
    SurveyAnswered,
}

impl AppointmentEvent {
    pub const ALL: [AppointmentEvent; 10] = [
        AppointmentEvent::Booked,
        AppointmentEvent::Rescheduled,
        AppointmentEvent::Cancelled,
        AppointmentEvent::Confirmed,
        AppointmentEvent::Declined,
        AppointmentEvent::Arrived,
        AppointmentEvent::NoShow,
        AppointmentEvent::Completed,
        AppointmentEvent::RescheduleRequested,
        AppointmentEvent::SurveyAnswered,
    ];

    pub fn as_str(self) -> &'static str {
        use AppointmentEvent::*;
        match self {
            Booked => "booked",
            Rescheduled => "rescheduled",
            Cancelled => "cancelled",
            Confirmed => "confirmed",
            Declined => "declined",
            Arrived => "arrived",
            NoShow => "no_show",
            Completed => "completed",
            RescheduleRequested => "reschedule_requested",
            SurveyAnswered => "survey_answered",
        }
    }

    /// The domain event's name on the bus, for those others are told of.
    pub fn published_as(self) -> Option<&'static str> {
        use AppointmentEvent::*;
        match self {
            Booked => Some("appointment.booked"),
            Rescheduled => Some("appointment.rescheduled"),
            Cancelled => Some("appointment.cancelled"),
            Confirmed => Some("appointment.confirmed"),
            NoShow => Some("appointment.no_show"),
            Completed => Some("appointment.completed"),
            RescheduleRequested => Some("appointment.reschedule_requested"),
            SurveyAnswered => Some("survey.answered"),
            Declined | Arrived => None,
        }
    }
}

/// An appointment after a change, with its history entry and events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revised {
    pub appointment: Appointment,
    pub revision: Revision,
    pub events: Vec<AppointmentEvent>,
}

impl Appointment {
    /// A new appointment from `booking`: version 1.
    pub fn create(
        id: AppointmentId,
        tenant: TenantId,
        identifiers: Vec<Identifier>,
        booking: Booking,
        by: Actor,
        now: Timestamp,
    ) -> Revised {
        let mut changes = vec![change("status", None, Some(booking.status.as_str()))];
        changes.push(change("start", None, Some(&booking.start.to_string())));
        let events = if booking.status == AppointmentStatus::Booked {
            vec![AppointmentEvent::Booked]
        } else {
            Vec::new()
        };
        let appointment = Appointment {
            id,
            tenant,
            version: 1,
            identifiers,
            booking,
            slot_version: 1,
            slot_since: now,
            status_since: now,
            source_updated: None,
            armed: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        Revised {
            revision: Revision {
                version: 1,
                at: now,
                by,
                changes,
            },
            appointment,
            events,
        }
    }

    /// The appointment as `next` describes it, as the next version; `None`
    /// when nothing would change.
    pub fn revise(&self, next: Booking, by: Actor, now: Timestamp) -> Option<Revised> {
        let before = &self.booking;
        let moved = before.start != next.start
            || before.end != next.end
            || before.branch != next.branch
            || before.practitioner != next.practitioner;
        // A new time asks the patient again.
        let mut next = next;
        if moved && next.confirmation == before.confirmation {
            next.confirmation = Confirmation::NeedsAction;
        }
        let mut changes = Vec::new();
        let mut diff = |field: &str, from: String, to: String| {
            if from != to {
                changes.push(change(field, Some(&from), Some(&to)));
            }
        };
        diff(
            "status",
            before.status.as_str().into(),
            next.status.as_str().into(),
        );
        diff("start", before.start.to_string(), next.start.to_string());
        diff("end", before.end.to_string(), next.end.to_string());
        diff("branch", before.branch.to_string(), next.branch.to_string());
        diff(
            "practitioner",
            before.practitioner.to_string(),
            next.practitioner.to_string(),
        );
        diff(
            "service",
            before.service.to_string(),
            next.service.to_string(),
        );
        diff(
            "confirmation",
            before.confirmation.as_str().into(),
            next.confirmation.as_str().into(),
        );
        diff(
            "cancellation_reason",
            before.cancellation_reason.clone().unwrap_or_default(),
            next.cancellation_reason.clone().unwrap_or_default(),
        );
        diff(
            "lead",
            before
                .lead
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            next.lead
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        );
        if before.patient != next.patient {
            // Named, not copied: the history is no place for contact data.
            changes.push(change("patient", None, None));
        }
        if changes.is_empty() {
            return None;
        }
        let status_changed = before.status != next.status;
        let mut events = Vec::new();
        if status_changed {
            use AppointmentStatus::*;
            events.extend(match next.status {
                Booked => Some(AppointmentEvent::Booked),
                Cancelled => Some(AppointmentEvent::Cancelled),
                Noshow => Some(AppointmentEvent::NoShow),
                Fulfilled => Some(AppointmentEvent::Completed),
                Arrived | CheckedIn if !matches!(before.status, Arrived | CheckedIn) => {
                    Some(AppointmentEvent::Arrived)
                }
                _ => None,
            });
        } else if moved && next.status == AppointmentStatus::Booked {
            events.push(AppointmentEvent::Rescheduled);
        }
        if before.confirmation != next.confirmation {
            match next.confirmation {
                Confirmation::Accepted => events.push(AppointmentEvent::Confirmed),
                Confirmation::Declined if next.status != AppointmentStatus::Cancelled => {
                    events.push(AppointmentEvent::Declined)
                }
                _ => {}
            }
        }

        let version = self.version + 1;
        let mut appointment = self.clone();
        appointment.version = version;
        appointment.updated_at = now;
        if moved || status_changed {
            appointment.slot_version = version;
        }
        if before.start != next.start || status_changed && next.status == AppointmentStatus::Booked
        {
            appointment.slot_since = now;
        }
        if status_changed {
            appointment.status_since = now;
        }
        appointment.booking = next;
        Some(Revised {
            revision: Revision {
                version,
                at: now,
                by,
                changes,
            },
            appointment,
            events,
        })
    }

    /// Whether an answer given to version `version` still concerns the
    /// appointment as it is: nothing about its time, place or status
    /// changed since.
    pub fn answers_current(&self, version: u64) -> bool {
        version >= self.slot_version && version <= self.version
    }

    pub fn status(&self) -> AppointmentStatus {
        self.booking.status
    }
}

fn change(field: &str, from: Option<&str>, to: Option<&str>) -> FieldChange {
    FieldChange {
        field: field.to_owned(),
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn booking() -> Booking {
        crate::fixture::booking("kadikoy", "0532 123 45 67", at("2026-12-03T07:00:00Z"))
    }

    fn created() -> Appointment {
        Appointment::create(
            AppointmentId::new("a1").unwrap(),
            TenantId::new("t").unwrap(),
            vec![],
            booking(),
            Actor::Staff { by: None },
            at("2026-11-30T10:00:00Z"),
        )
        .appointment
    }

    #[test]
    fn statuses_are_fhirs() {
        for s in AppointmentStatus::ALL {
            assert_eq!(AppointmentStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(AppointmentStatus::parse("no-show"), None);
        assert!(AppointmentStatus::Booked.staff_can_move_to(AppointmentStatus::Noshow));
        assert!(!AppointmentStatus::Cancelled.staff_can_move_to(AppointmentStatus::Fulfilled));
        assert!(!AppointmentStatus::Fulfilled.staff_can_move_to(AppointmentStatus::Noshow));
    }

    #[test]
    fn a_move_is_a_new_version_that_makes_old_answers_stale_and_asks_again() {
        let a = created();
        let mut accepted = a.booking.clone();
        accepted.confirmation = Confirmation::Accepted;
        let r = a
            .revise(
                accepted,
                Actor::Patient { via: "sms".into() },
                at("2026-11-30T11:00:00Z"),
            )
            .unwrap();
        assert_eq!(r.events, [AppointmentEvent::Confirmed]);
        let confirmed = r.appointment;
        assert_eq!((confirmed.version, confirmed.slot_version), (2, 1));
        assert!(confirmed.answers_current(1));

        let mut moved = confirmed.booking.clone();
        moved.start = at("2026-12-04T07:00:00Z");
        moved.end = at("2026-12-04T07:30:00Z");
        let r = confirmed
            .revise(moved, Actor::Staff { by: None }, at("2026-11-30T12:00:00Z"))
            .unwrap();
        assert_eq!(r.events, [AppointmentEvent::Rescheduled]);
        let m = r.appointment;
        assert_eq!((m.version, m.slot_version), (3, 3));
        assert_eq!(m.booking.confirmation, Confirmation::NeedsAction);
        assert!(!m.answers_current(2));
        assert!(m.answers_current(3));
        assert_eq!(m.slot_since, at("2026-11-30T12:00:00Z"));
        let fields: Vec<&str> = r
            .revision
            .changes
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        assert_eq!(fields, ["start", "end", "confirmation"]);

        assert!(
            m.revise(
                m.booking.clone(),
                Actor::Staff { by: None },
                at("2026-11-30T13:00:00Z")
            )
            .is_none()
        );
    }

    #[test]
    fn status_changes_are_events() {
        let a = created();
        let mut b = a.booking.clone();
        b.status = AppointmentStatus::Cancelled;
        b.cancellation_reason = Some("patient".into());
        let r = a
            .revise(
                b,
                Actor::Feed {
                    source: "fhir".into(),
                },
                at("2026-11-30T12:00:00Z"),
            )
            .unwrap();
        assert_eq!(r.events, [AppointmentEvent::Cancelled]);
        let mut rebooked = r.appointment.booking.clone();
        rebooked.status = AppointmentStatus::Booked;
        let r2 = r
            .appointment
            .revise(
                rebooked,
                Actor::Feed {
                    source: "fhir".into(),
                },
                at("2026-11-30T13:00:00Z"),
            )
            .unwrap();
        assert_eq!(r2.events, [AppointmentEvent::Booked]);
        assert_eq!(r2.appointment.slot_since, at("2026-11-30T13:00:00Z"));
    }
}
