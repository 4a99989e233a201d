//! FHIR R4 `Appointment` in, our appointment out: the minimal profile a
//! clinic's scheduler feeds us (`PUT /fhir/Appointment?identifier=…`).
//!
//! - `identifier`: the scheduler's business id (the query names it too);
//! - `status` from R4's value set, `cancelationReason` (one "l", as R4);
//! - `start` and `end` (or `minutesDuration`), instants with an offset;
//! - `serviceType`: a coding whose code is one of the clinic's services;
//! - `participant`: the patient — a contained `Patient` (`"reference":
//!   "#p1"`) with name, phone and/or e-mail (`telecom`), language
//!   (`communication`) and optionally the `tz-code` extension — whose
//!   `status` is their confirmation; a `Practitioner/{id}` and a
//!   `Location/{id}` naming the clinic's practitioners and branches;
//! - `meta.lastUpdated`: the source's time of this version, which orders
//!   writes (an older one changes nothing).
//!
//! Every problem is reported at once, each with the FHIRPath of the
//! element at fault, as an `OperationOutcome` issue.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::appointment::{AppointmentStatus, Booking, Confirmation, Identifier, PatientRef};
use crate::contact::{Email, PhoneNumber, Reach};
use crate::ids::{BranchId, Language, PractitionerId, ServiceId};
use crate::tenant::Tenant;

/// The extensions that carry a patient's IANA time zone.
const TZ_EXTENSIONS: &[&str] = &[
    "http://hl7.org/fhir/StructureDefinition/tz-code",
    "http://hl7.org/fhir/StructureDefinition/timezone",
];

/// One `OperationOutcome.issue`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub severity: &'static str,
    /// An `IssueType` code: `structure`, `required`, `value`, `invalid`,
    /// `not-found`, `conflict`.
    pub code: &'static str,
    pub diagnostics: String,
    pub expression: Vec<String>,
}

impl Issue {
    pub fn error(
        code: &'static str,
        path: impl Into<String>,
        diagnostics: impl Into<String>,
    ) -> Issue {
        Issue {
            severity: "error",
            code,
            diagnostics: diagnostics.into(),
            expression: vec![path.into()],
        }
    }
}

/// An `OperationOutcome` resource holding `issues`.
pub fn outcome(issues: &[Issue]) -> Value {
    serde_json::json!({
        "resourceType": "OperationOutcome",
        "issue": issues,
    })
}

/// An `OperationOutcome` saying something went well (`severity` information).
pub fn information(diagnostics: &str) -> Value {
    serde_json::json!({
        "resourceType": "OperationOutcome",
        "issue": [{ "severity": "information", "code": "informational", "diagnostics": diagnostics }],
    })
}

/// `{system}|{value}`, as the `identifier` search parameter writes a token.
pub fn parse_identifier(token: &str) -> Result<Identifier, Issue> {
    let bad = || {
        Issue::error(
            "invalid",
            "identifier",
            "the search parameter must be `identifier={system}|{value}`",
        )
    };
    let (system, value) = token.split_once('|').ok_or_else(bad)?;
    if system.trim().is_empty() || value.trim().is_empty() {
        return Err(bad());
    }
    Ok(Identifier {
        system: system.trim().to_owned(),
        value: value.trim().to_owned(),
    })
}

/// What the scheduler says of one appointment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    pub booking: Booking,
    /// `meta.lastUpdated`, when given.
    pub last_updated: Option<Timestamp>,
}

/// Reads an `Appointment` for `tenant`; `identifier` is the one the
/// request's query named. `known` is the appointment as stored, whose
/// time stands in for a missing one (a cancellation may omit it).
pub fn parse(
    body: &[u8],
    tenant: &Tenant,
    identifier: &Identifier,
    known: Option<&Booking>,
) -> Result<Incoming, Vec<Issue>> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        vec![Issue::error(
            "structure",
            "Appointment",
            format!("the body is not JSON: {e}"),
        )]
    })?;
    let mut r = Reader { issues: Vec::new() };
    let Some(a) = value.as_object() else {
        return Err(vec![Issue::error(
            "structure",
            "Appointment",
            "the body must be a JSON object: an Appointment resource",
        )]);
    };
    match a.get("resourceType").and_then(Value::as_str) {
        Some("Appointment") => {}
        Some(other) => {
            return Err(vec![Issue::error(
                "invalid",
                "Appointment.resourceType",
                format!("expected an Appointment, got a {other}"),
            )]);
        }
        None => {
            return Err(vec![Issue::error(
                "required",
                "Appointment.resourceType",
                "the resource must say `\"resourceType\": \"Appointment\"`",
            )]);
        }
    }

    r.identifiers(a, identifier);
    let last_updated = a
        .get("meta")
        .and_then(|m| m.get("lastUpdated"))
        .and_then(|v| r.instant(v, "Appointment.meta.lastUpdated"));
    let status = match a.get("status") {
        None => {
            r.issue("required", "Appointment.status", "is required");
            None
        }
        Some(v) => match v.as_str().and_then(AppointmentStatus::parse) {
            Some(s) => Some(s),
            None => {
                let codes: Vec<&str> = AppointmentStatus::ALL.iter().map(|s| s.as_str()).collect();
                r.issue(
                    "value",
                    "Appointment.status",
                    format!("{v} is not in the value set: {}", codes.join(", ")),
                );
                None
            }
        },
    };
    let cancellation_reason = a
        .get("cancelationReason")
        .and_then(|c| r.concept_text(c, "Appointment.cancelationReason"));
    let service = r.service(a, tenant);
    let (patient, confirmation, practitioner, branch) = r.participants(a, tenant);

    // Times: required unless the stored appointment has them.
    let start = match a.get("start") {
        Some(v) => r.instant(v, "Appointment.start"),
        None => None,
    };
    let end = match (a.get("end"), a.get("minutesDuration"), start) {
        (Some(v), _, _) => r.instant(v, "Appointment.end"),
        (None, Some(m), Some(start)) => match m.as_i64().filter(|m| *m > 0) {
            Some(m) => start.checked_add(SignedDuration::from_mins(m)).ok(),
            None => {
                r.issue(
                    "value",
                    "Appointment.minutesDuration",
                    "must be a positive whole number of minutes",
                );
                None
            }
        },
        _ => None,
    };
    let (start, end) = match (start, end, known) {
        (Some(s), Some(e), _) => (Some(s), Some(e)),
        (None, None, Some(k)) if a.get("start").is_none() => (Some(k.start), Some(k.end)),
        (s, e, _) => {
            if a.get("start").is_none() {
                r.issue(
                    "required",
                    "Appointment.start",
                    "is required: reminders are planned from it",
                );
            }
            if a.get("end").is_none() && a.get("minutesDuration").is_none() {
                r.issue(
                    "required",
                    "Appointment.end",
                    "is required (or minutesDuration)",
                );
            }
            (s, e)
        }
    };
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        r.issue("invalid", "Appointment.end", "must be after start");
    }

    let booking = match (patient, practitioner, branch, service, start, end, status) {
        (
            Some(patient),
            Some(practitioner),
            Some(branch),
            Some(service),
            Some(start),
            Some(end),
            Some(status),
        ) if r.issues.is_empty() => Booking {
            patient,
            lead: known.and_then(|k| k.lead.clone()),
            branch,
            practitioner,
            service,
            start,
            end,
            status,
            cancellation_reason,
            confirmation: confirmation.unwrap_or_default(),
        },
        _ => return Err(r.issues),
    };
    Ok(Incoming {
        booking,
        last_updated,
    })
}

struct Reader {
    issues: Vec<Issue>,
}

impl Reader {
    fn issue(&mut self, code: &'static str, path: &str, diagnostics: impl Into<String>) {
        self.issues.push(Issue::error(code, path, diagnostics));
    }

    fn instant(&mut self, v: &Value, path: &str) -> Option<Timestamp> {
        let Some(s) = v.as_str() else {
            self.issue(
                "value",
                path,
                "must be an instant such as 2026-12-01T10:00:00+03:00",
            );
            return None;
        };
        match s.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.issue(
                    "value",
                    path,
                    format!(
                        "`{s}` is not an instant with an offset, such as 2026-12-01T10:00:00+03:00"
                    ),
                );
                None
            }
        }
    }

    fn identifiers(&mut self, a: &Map<String, Value>, query: &Identifier) {
        let Some(list) = a.get("identifier") else {
            return;
        };
        let Some(list) = list.as_array() else {
            self.issue(
                "structure",
                "Appointment.identifier",
                "must be a list of identifiers",
            );
            return;
        };
        let matches = list.iter().any(|i| {
            i.get("system").and_then(Value::as_str) == Some(query.system.as_str())
                && i.get("value").and_then(Value::as_str) == Some(query.value.as_str())
        });
        if !list.is_empty() && !matches {
            self.issue(
                "invalid",
                "Appointment.identifier",
                format!(
                    "does not hold the identifier the request names ({}|{})",
                    query.system, query.value
                ),
            );
        }
    }

    /// The text of a CodeableConcept: its text, else its first coding's display or code.
    fn concept_text(&mut self, c: &Value, path: &str) -> Option<String> {
        let text = c
            .get("text")
            .and_then(Value::as_str)
            .or_else(|| {
                let coding = c.get("coding")?.as_array()?.first()?;
                coding
                    .get("display")
                    .and_then(Value::as_str)
                    .or_else(|| coding.get("code").and_then(Value::as_str))
            })
            .map(|s| s.trim().chars().take(500).collect::<String>());
        if text.is_none() {
            self.issue("value", path, "must have a text or a coding");
        }
        text.filter(|t| !t.is_empty())
    }

    fn service(&mut self, a: &Map<String, Value>, tenant: &Tenant) -> Option<ServiceId> {
        let path = "Appointment.serviceType";
        let Some(types) = a.get("serviceType").and_then(Value::as_array) else {
            self.issue(
                "required",
                path,
                "is required: a coding naming one of the clinic's services",
            );
            return None;
        };
        let codes: Vec<(usize, usize, &str)> = types
            .iter()
            .enumerate()
            .flat_map(|(i, t)| {
                t.get("coding")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .filter_map(move |(j, c)| Some((i, j, c.get("code")?.as_str()?)))
            })
            .collect();
        if let Some(service) = codes
            .iter()
            .find_map(|(_, _, code)| tenant.service_by_code(code))
        {
            return Some(service.id.clone());
        }
        let (at, shown) = match codes.first() {
            Some((i, j, code)) => (format!("{path}[{i}].coding[{j}].code"), format!("`{code}`")),
            None => (path.to_owned(), "no code".to_owned()),
        };
        let known: Vec<&str> = tenant.services.iter().map(|s| s.id.as_str()).collect();
        self.issue(
            "not-found",
            &at,
            format!(
                "{shown} is not a service of this clinic; its services are: {}",
                known.join(", ")
            ),
        );
        None
    }

    #[allow(clippy::type_complexity)]
    fn participants(
        &mut self,
        a: &Map<String, Value>,
        tenant: &Tenant,
    ) -> (
        Option<PatientRef>,
        Option<Confirmation>,
        Option<PractitionerId>,
        Option<BranchId>,
    ) {
        let path = "Appointment.participant";
        let Some(list) = a.get("participant").and_then(Value::as_array) else {
            self.issue(
                "required",
                path,
                "is required: the patient, a Practitioner and a Location",
            );
            return (None, None, None, None);
        };
        let mut patient_at = None;
        let mut confirmation = None;
        let mut practitioner = None;
        let mut branch = None;
        for (i, p) in list.iter().enumerate() {
            let at = format!("{path}[{i}]");
            let reference = p
                .get("actor")
                .and_then(|actor| actor.get("reference"))
                .and_then(Value::as_str);
            let Some(reference) = reference else {
                self.issue(
                    "required",
                    &format!("{at}.actor.reference"),
                    "names the participant",
                );
                continue;
            };
            if let Some(local) = reference.strip_prefix('#') {
                patient_at = Some((i, local.to_owned()));
                confirmation = match p.get("status").and_then(Value::as_str) {
                    None => None,
                    Some(s) => match Confirmation::parse(s) {
                        Some(c) => Some(c),
                        None => {
                            self.issue(
                                "value",
                                &format!("{at}.status"),
                                format!(
                                    "`{s}` is not accepted, declined, tentative or needs-action"
                                ),
                            );
                            None
                        }
                    },
                };
            } else if let Some(id) = reference.strip_prefix("Practitioner/") {
                match tenant.practitioner(id) {
                    Some(p) => practitioner = Some((p.id.clone(), p.branch.clone())),
                    None => self.issue(
                        "not-found",
                        &format!("{at}.actor.reference"),
                        format!("`{reference}` is not a practitioner of this clinic"),
                    ),
                }
            } else if let Some(id) = reference.strip_prefix("Location/") {
                match BranchId::new(id).ok().and_then(|b| tenant.branch(&b)) {
                    Some(b) => branch = Some(b.id.clone()),
                    None => self.issue(
                        "not-found",
                        &format!("{at}.actor.reference"),
                        format!("`{reference}` is not a branch of this clinic"),
                    ),
                }
            } else if reference.starts_with("Patient/") {
                self.issue(
                    "not-supported",
                    &format!("{at}.actor.reference"),
                    "send the patient as a contained Patient (`\"reference\": \"#p1\"`) with name and telecom, so they can be reached",
                );
            }
        }
        let branch = branch.or_else(|| practitioner.as_ref().map(|(_, b)| b.clone()));
        if practitioner.is_none() && !self.issues.iter().any(|i| i.code == "not-found") {
            self.issue(
                "required",
                path,
                "needs a Practitioner participant (`Practitioner/{id}`)",
            );
        }
        let region = branch
            .as_ref()
            .and_then(|b| tenant.branch(b))
            .unwrap_or_else(|| tenant.default_branch())
            .phone_region;
        let patient = match patient_at {
            None => {
                self.issue(
                    "required",
                    path,
                    "needs the patient: a participant whose actor references a contained Patient",
                );
                None
            }
            Some((i, local)) => self.patient(a, &local, &format!("{path}[{i}]"), tenant, region),
        };
        (
            patient,
            confirmation,
            practitioner.map(|(id, _)| id),
            branch,
        )
    }

    fn patient(
        &mut self,
        a: &Map<String, Value>,
        local: &str,
        participant: &str,
        tenant: &Tenant,
        region: crate::contact::Region,
    ) -> Option<PatientRef> {
        let contained = a.get("contained").and_then(Value::as_array);
        let found = contained.into_iter().flatten().enumerate().find(|(_, r)| {
            r.get("resourceType").and_then(Value::as_str) == Some("Patient")
                && r.get("id").and_then(Value::as_str) == Some(local)
        });
        let Some((c, patient)) = found else {
            self.issue(
                "not-found",
                &format!("{participant}.actor.reference"),
                format!("no contained Patient with id `{local}`"),
            );
            return None;
        };
        let at = format!("Appointment.contained[{c}]");
        let name = patient
            .get("name")
            .and_then(Value::as_array)
            .and_then(|names| names.first())
            .and_then(|n| {
                n.get("text")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| {
                        let given: Vec<&str> = n
                            .get("given")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .collect();
                        let family = n.get("family").and_then(Value::as_str);
                        let full = given
                            .into_iter()
                            .chain(family)
                            .collect::<Vec<_>>()
                            .join(" ");
                        (!full.is_empty()).then_some(full)
                    })
            })
            .map(|n| n.trim().chars().take(200).collect::<String>());
        let mut reach = Reach::default();
        for (t, telecom) in patient
            .get("telecom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let value = telecom
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let vpath = format!("{at}.telecom[{t}].value");
            match telecom.get("system").and_then(Value::as_str) {
                Some("phone" | "sms") if reach.phone.is_none() => {
                    match PhoneNumber::parse(value, region) {
                        Ok(p) => reach.phone = Some(p),
                        Err(e) => self.issue("value", &vpath, format!("the phone number {e}")),
                    }
                }
                Some("email") if reach.email.is_none() => match Email::parse(value) {
                    Ok(e) => reach.email = Some(e),
                    Err(e) => self.issue("value", &vpath, format!("the e-mail address {e}")),
                },
                _ => {}
            }
        }
        if reach.phone.is_none()
            && reach.email.is_none()
            && !self.issues.iter().any(|i| i.expression[0].starts_with(&at))
        {
            self.issue(
                "required",
                &format!("{at}.telecom"),
                "needs a phone number or an e-mail address to reach the patient on",
            );
        }
        let language = patient
            .get("communication")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| {
                let coding = c.get("language")?.get("coding")?.as_array()?.first()?;
                Language::parse(coding.get("code")?.as_str()?).ok()
            })
            .next()
            .unwrap_or_else(|| tenant.default_language.clone());
        let time_zone = patient
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|e| {
                e.get("url")
                    .and_then(Value::as_str)
                    .is_some_and(|u| TZ_EXTENSIONS.contains(&u))
            })
            .and_then(|e| e.get("valueCode").and_then(Value::as_str))
            .map(str::to_owned);
        if let Some(tz) = &time_zone
            && jiff::tz::TimeZone::get(tz).is_err()
        {
            self.issue(
                "value",
                &format!("{at}.extension"),
                format!("`{tz}` is not an IANA time zone such as Europe/Istanbul"),
            );
        }
        Some(PatientRef {
            contact_key: reach.dedupe_key()?,
            name,
            reach,
            language,
            time_zone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixture;
    use serde_json::json;

    fn id() -> Identifier {
        parse_identifier("https://mis.example/appointments|A-1").unwrap()
    }

    pub(crate) fn resource() -> Value {
        json!({
            "resourceType": "Appointment",
            "identifier": [{ "system": "https://mis.example/appointments", "value": "A-1" }],
            "meta": { "lastUpdated": "2026-11-30T09:00:00Z" },
            "status": "booked",
            "serviceType": [{ "coding": [{ "system": "https://mis.example/services", "code": "implant" }] }],
            "start": "2026-12-03T10:00:00+03:00",
            "end": "2026-12-03T10:30:00+03:00",
            "contained": [{
                "resourceType": "Patient", "id": "p1",
                "name": [{ "given": ["Ayşe"], "family": "Kaya" }],
                "telecom": [{ "system": "phone", "value": "0532 123 45 67" }],
                "communication": [{ "language": { "coding": [{ "code": "tr" }] } }]
            }],
            "participant": [
                { "actor": { "reference": "#p1" }, "status": "needs-action" },
                { "actor": { "reference": "Practitioner/dr-aydin" }, "status": "accepted" },
                { "actor": { "reference": "Location/kadikoy" }, "status": "accepted" }
            ]
        })
    }

    fn read(v: &Value) -> Result<Incoming, Vec<Issue>> {
        let tenant = fixture::tenant();
        parse(&serde_json::to_vec(v).unwrap(), &tenant, &id(), None)
    }

    #[test]
    fn a_minimal_appointment_is_read() {
        let incoming = read(&resource()).unwrap();
        let b = incoming.booking;
        assert_eq!(b.status, AppointmentStatus::Booked);
        assert_eq!(
            b.start,
            "2026-12-03T07:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(b.practitioner.as_str(), "dr-aydin");
        assert_eq!(b.branch.as_str(), "kadikoy");
        assert_eq!(b.service.as_str(), "implant");
        assert_eq!(b.patient.name.as_deref(), Some("Ayşe Kaya"));
        assert_eq!(b.patient.reach.phone.unwrap().as_str(), "+905321234567");
        assert_eq!(b.confirmation, Confirmation::NeedsAction);
        assert_eq!(
            incoming.last_updated,
            Some("2026-11-30T09:00:00Z".parse().unwrap())
        );
    }

    fn paths(v: &Value) -> Vec<String> {
        read(v)
            .unwrap_err()
            .into_iter()
            .map(|i| i.expression[0].clone())
            .collect()
    }

    #[test]
    fn bad_elements_are_named() {
        let mut v = resource();
        v["resourceType"] = json!("Patient");
        assert_eq!(paths(&v), ["Appointment.resourceType"]);

        let mut v = resource();
        v["start"] = json!("2026-12-03T10:00:00");
        v["status"] = json!("no-show");
        assert_eq!(paths(&v), ["Appointment.status", "Appointment.start"]);

        let mut v = resource();
        v["end"] = json!("2026-12-03T09:00:00+03:00");
        assert_eq!(paths(&v), ["Appointment.end"]);

        let mut v = resource();
        v["participant"][1]["actor"]["reference"] = json!("Practitioner/dr-nobody");
        v["participant"][2]["actor"]["reference"] = json!("Location/moon");
        v["serviceType"][0]["coding"][0]["code"] = json!("haircut");
        assert_eq!(
            paths(&v),
            [
                "Appointment.serviceType[0].coding[0].code",
                "Appointment.participant[1].actor.reference",
                "Appointment.participant[2].actor.reference"
            ]
        );

        let mut v = resource();
        v["contained"][0]["telecom"] = json!([]);
        assert_eq!(paths(&v), ["Appointment.contained[0].telecom"]);
    }

    #[test]
    fn a_cancellation_may_leave_out_the_time_it_already_gave() {
        let known = read(&resource()).unwrap().booking;
        let mut v = resource();
        v["status"] = json!("cancelled");
        v["cancelationReason"] = json!({ "text": "patient" });
        v.as_object_mut().unwrap().remove("start");
        v.as_object_mut().unwrap().remove("end");
        let tenant = fixture::tenant();
        let incoming = parse(
            &serde_json::to_vec(&v).unwrap(),
            &tenant,
            &id(),
            Some(&known),
        )
        .unwrap();
        assert_eq!(incoming.booking.start, known.start);
        assert_eq!(
            incoming.booking.cancellation_reason.as_deref(),
            Some("patient")
        );
        assert!(read(&v).is_err());
    }
}
