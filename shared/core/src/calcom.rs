//! Cal.com's booking webhooks, in our terms. A clinic that books through
//! Cal.com points a webhook at `/webhooks/calcom/{tenant}`; its payloads
//! (`{"triggerEvent", "createdAt", "payload"}`, signed with
//! `X-Cal-Signature-256`) become writes to our appointments:
//!
//! - `BOOKING_CREATED` / `BOOKING_REQUESTED`: the booking as it stands;
//! - `BOOKING_RESCHEDULED`: the new booking, continuing the journey of
//!   the one it replaces (`rescheduleUid`);
//! - `BOOKING_CANCELLED` / `BOOKING_REJECTED`: a status change — unless it
//!   is the old half of a reschedule (`rescheduledToUid` set);
//! - `BOOKING_NO_SHOW_UPDATED`: a no-show (or its withdrawal).
//!
//! The organizer is matched to a practitioner by e-mail, the event type's
//! slug to a service; the branch is the practitioner's.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::appointment::{AppointmentStatus, Booking, Confirmation, Identifier, PatientRef};
use crate::contact::{Email, PhoneNumber, Reach};
use crate::ids::Language;
use crate::tenant::Tenant;

/// The identifier system of Cal.com booking uids.
pub const SYSTEM: &str = "https://cal.com/booking";

/// What one Cal.com webhook changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalcomWrite {
    /// The booking's uid, as an identifier of the appointment.
    pub identifier: Identifier,
    /// For a reschedule: the booking it replaces, whose appointment it continues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues: Option<Identifier>,
    /// The webhook's `createdAt`: an older write changes nothing.
    pub at: Timestamp,
    pub change: CalcomChange,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CalcomChange {
    /// The booking as it stands.
    Booking(Box<Booking>),
    /// Only the status changed (and why).
    Status {
        status: AppointmentStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The attendee's no-show mark was taken back: the visit stands booked.
    NoShowWithdrawn,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    trigger_event: String,
    created_at: String,
    #[serde(default)]
    payload: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    booking_uid: Option<String>,
    #[serde(rename = "type", default)]
    event_type: Option<String>,
    #[serde(default)]
    event_type_id: Option<serde_json::Value>,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    end_time: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    organizer: Option<Person>,
    #[serde(default)]
    attendees: Vec<Person>,
    #[serde(default)]
    reschedule_uid: Option<String>,
    #[serde(default)]
    rescheduled_to_uid: Option<String>,
    #[serde(default)]
    cancellation_reason: Option<String>,
    #[serde(default)]
    rejection_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Person {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
    #[serde(default)]
    language: Option<Locale>,
    #[serde(default)]
    no_show: Option<bool>,
}

#[derive(Deserialize)]
struct Locale {
    #[serde(default)]
    locale: Option<String>,
}

/// Why a webhook cannot be taken: its field and the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub problem: String,
}

fn problem(field: &str, problem: impl Into<String>) -> Problem {
    Problem {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

fn identifier(uid: &str) -> Identifier {
    Identifier {
        system: SYSTEM.to_owned(),
        value: uid.to_owned(),
    }
}

/// Reads a webhook for `tenant`: `Ok(None)` for triggers that change no
/// appointment (`PING`, `MEETING_STARTED`, …), `Err` for a payload that
/// is not Cal.com's or that names what the clinic does not have.
pub fn parse(body: &[u8], tenant: &Tenant) -> Result<Option<CalcomWrite>, Vec<Problem>> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| vec![problem("body", format!("not a Cal.com webhook: {e}"))])?;
    let at: Timestamp = envelope
        .created_at
        .parse()
        .map_err(|_| vec![problem("createdAt", "is not an ISO 8601 instant")])?;
    let payload: Payload = serde_json::from_value(envelope.payload)
        .map_err(|e| vec![problem("payload", format!("cannot be read: {e}"))])?;
    let uid = payload.uid.clone().or_else(|| payload.booking_uid.clone());
    let uid = || {
        uid.clone()
            .ok_or_else(|| vec![problem("payload.uid", "is missing")])
    };
    let write = |change| -> Result<Option<CalcomWrite>, Vec<Problem>> {
        Ok(Some(CalcomWrite {
            identifier: identifier(&uid()?),
            continues: None,
            at,
            change,
        }))
    };
    match envelope.trigger_event.as_str() {
        "BOOKING_CREATED" | "BOOKING_REQUESTED" => {
            write(CalcomChange::Booking(Box::new(booking(&payload, tenant)?)))
        }
        "BOOKING_RESCHEDULED" => Ok(Some(CalcomWrite {
            identifier: identifier(&uid()?),
            continues: payload.reschedule_uid.as_deref().map(identifier),
            at,
            change: CalcomChange::Booking(Box::new(booking(&payload, tenant)?)),
        })),
        "BOOKING_CANCELLED" | "BOOKING_REJECTED" => {
            if payload.rescheduled_to_uid.is_some() {
                // The old half of a reschedule: the new booking carries on.
                return Ok(None);
            }
            let reason = payload
                .cancellation_reason
                .clone()
                .or(payload.rejection_reason.clone())
                .filter(|r| !r.trim().is_empty())
                .map(|r| r.trim().chars().take(500).collect());
            write(CalcomChange::Status {
                status: AppointmentStatus::Cancelled,
                reason,
            })
        }
        "BOOKING_NO_SHOW_UPDATED" => {
            let no_show = payload.attendees.iter().any(|a| a.no_show == Some(true));
            write(if no_show {
                CalcomChange::Status {
                    status: AppointmentStatus::Noshow,
                    reason: None,
                }
            } else {
                CalcomChange::NoShowWithdrawn
            })
        }
        _ => Ok(None),
    }
}

fn booking(p: &Payload, tenant: &Tenant) -> Result<Booking, Vec<Problem>> {
    let mut problems = Vec::new();
    let time = |field: &str, value: &Option<String>, problems: &mut Vec<Problem>| match value
        .as_deref()
        .map(str::parse::<Timestamp>)
    {
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            problems.push(problem(field, "is not an ISO 8601 instant"));
            None
        }
        None => {
            problems.push(problem(field, "is missing"));
            None
        }
    };
    let start = time("payload.startTime", &p.start_time, &mut problems);
    let end = time("payload.endTime", &p.end_time, &mut problems);
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        problems.push(problem("payload.endTime", "must be after startTime"));
    }
    let status = match p.status.as_deref() {
        Some("ACCEPTED") | None => AppointmentStatus::Booked,
        Some("PENDING") | Some("AWAITING_HOST") => AppointmentStatus::Pending,
        Some("CANCELLED") | Some("REJECTED") => AppointmentStatus::Cancelled,
        Some(other) => {
            problems.push(problem(
                "payload.status",
                format!("`{other}` is not a booking status"),
            ));
            AppointmentStatus::Booked
        }
    };
    let practitioner = p.organizer.as_ref().and_then(|o| {
        [o.email.as_deref(), o.username.as_deref()]
            .into_iter()
            .flatten()
            .find_map(|who| tenant.practitioner_by_calcom(who))
    });
    if practitioner.is_none() {
        problems.push(problem(
            "payload.organizer.email",
            "is not the Cal.com account of any practitioner of this clinic (set `calcom` on the practitioner)",
        ));
    }
    let event_type = p.event_type.clone().or_else(|| {
        p.event_type_id
            .as_ref()
            .map(|v| v.to_string().trim_matches('"').to_owned())
    });
    let service = event_type
        .as_deref()
        .and_then(|t| tenant.service_by_calcom(t));
    if service.is_none() {
        problems.push(problem(
            "payload.type",
            format!(
                "event type `{}` is not mapped to a service of this clinic (set `calcom` on the service)",
                event_type.unwrap_or_default()
            ),
        ));
    }
    let patient = match p.attendees.first() {
        None => {
            problems.push(problem("payload.attendees", "names nobody"));
            None
        }
        Some(a) => {
            let branch = practitioner
                .and_then(|pr| tenant.branch(&pr.branch))
                .unwrap_or_else(|| tenant.default_branch());
            let phone = match a.phone_number.as_deref().filter(|s| !s.trim().is_empty()) {
                Some(raw) => match PhoneNumber::parse(raw, branch.phone_region) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        problems.push(problem(
                            "payload.attendees[0].phoneNumber",
                            format!("the phone number {e}"),
                        ));
                        None
                    }
                },
                None => None,
            };
            let email = a.email.as_deref().and_then(|e| Email::parse(e).ok());
            let reach = Reach {
                phone,
                email,
                ..Reach::default()
            };
            let language = a
                .language
                .as_ref()
                .and_then(|l| l.locale.as_deref())
                .and_then(|l| Language::parse(l).ok())
                .unwrap_or_else(|| tenant.default_language.clone());
            let time_zone = a
                .time_zone
                .clone()
                .filter(|tz| jiff::tz::TimeZone::get(tz).is_ok());
            match reach.dedupe_key() {
                Some(contact_key) => Some(PatientRef {
                    contact_key,
                    name: a.name.clone().map(|n| n.trim().chars().take(200).collect()),
                    reach,
                    language,
                    time_zone,
                }),
                None => {
                    problems.push(problem(
                        "payload.attendees[0]",
                        "has neither a phone number nor an e-mail address",
                    ));
                    None
                }
            }
        }
    };
    match (patient, practitioner, service, start, end) {
        (Some(patient), Some(practitioner), Some(service), Some(start), Some(end))
            if problems.is_empty() =>
        {
            Ok(Booking {
                patient,
                lead: None,
                branch: practitioner.branch.clone(),
                practitioner: practitioner.id.clone(),
                service: service.id.clone(),
                start,
                end,
                status,
                cancellation_reason: None,
                confirmation: Confirmation::NeedsAction,
            })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use serde_json::json;

    pub(crate) fn created() -> serde_json::Value {
        json!({
            "triggerEvent": "BOOKING_CREATED",
            "createdAt": "2026-11-30T09:30:00.538Z",
            "payload": {
                "type": "implant-consult", "title": "Implant consultation", "uid": "bk-1", "bookingId": 7,
                "startTime": "2026-12-03T07:00:00Z", "endTime": "2026-12-03T07:30:00Z", "status": "ACCEPTED",
                "organizer": { "id": 1, "name": "Dr Aydın", "email": "aydin@clinic.example", "timeZone": "Europe/Istanbul", "language": { "locale": "tr" } },
                "attendees": [{ "name": "Ayşe Kaya", "email": "ayse@example.com", "timeZone": "Europe/Istanbul", "phoneNumber": "+905321234567", "language": { "locale": "tr" } }]
            }
        })
    }

    fn read(v: &serde_json::Value) -> Result<Option<CalcomWrite>, Vec<Problem>> {
        parse(&serde_json::to_vec(v).unwrap(), &fixture::tenant())
    }

    #[test]
    fn created_rescheduled_cancelled_and_no_show() {
        let w = read(&created()).unwrap().unwrap();
        assert_eq!(w.identifier.value, "bk-1");
        let CalcomChange::Booking(b) = w.change else {
            panic!()
        };
        assert_eq!(b.practitioner.as_str(), "dr-aydin");
        assert_eq!(b.service.as_str(), "implant");
        assert_eq!(b.patient.time_zone.as_deref(), Some("Europe/Istanbul"));

        let mut r = created();
        r["triggerEvent"] = json!("BOOKING_RESCHEDULED");
        r["payload"]["uid"] = json!("bk-2");
        r["payload"]["rescheduleUid"] = json!("bk-1");
        let w = read(&r).unwrap().unwrap();
        assert_eq!(w.continues.unwrap().value, "bk-1");

        let mut c = created();
        c["triggerEvent"] = json!("BOOKING_CANCELLED");
        c["payload"]["cancellationReason"] = json!("Hastayım");
        let w = read(&c).unwrap().unwrap();
        assert_eq!(
            w.change,
            CalcomChange::Status {
                status: AppointmentStatus::Cancelled,
                reason: Some("Hastayım".into())
            }
        );
        c["payload"]["rescheduledToUid"] = json!("bk-2");
        assert_eq!(read(&c).unwrap(), None);

        let n = json!({ "triggerEvent": "BOOKING_NO_SHOW_UPDATED", "createdAt": "2026-12-03T08:00:00Z",
            "payload": { "message": "x_marked_as_no_show", "bookingUid": "bk-2", "bookingId": 8,
                         "attendees": [{ "email": "ayse@example.com", "noShow": true }] } });
        let w = read(&n).unwrap().unwrap();
        assert_eq!(w.identifier.value, "bk-2");
        assert!(matches!(
            w.change,
            CalcomChange::Status {
                status: AppointmentStatus::Noshow,
                ..
            }
        ));

        assert_eq!(read(&json!({ "triggerEvent": "PING", "createdAt": "2026-12-03T08:00:00Z", "payload": {} })).unwrap(), None);
    }

    #[test]
    fn unknown_organizers_and_event_types_are_named() {
        let mut v = created();
        v["payload"]["organizer"]["email"] = json!("someone@else.example");
        v["payload"]["type"] = json!("haircut");
        let fields: Vec<String> = read(&v).unwrap_err().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["payload.organizer.email", "payload.type"]);
        assert!(parse(b"[]", &fixture::tenant()).is_err());
    }
}
