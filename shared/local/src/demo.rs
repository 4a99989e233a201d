//! The demo clinic's appointments: with `[local] demo_appointments = true`,
//! the first start feeds a few appointments over the next days through the
//! same FHIR upsert a clinic's scheduler uses, so `make run` shows journeys
//! being planned. Each carries an old `meta.lastUpdated`, so a restart finds
//! them stored and changes nothing.

use clinicflow_app::App;
use clinicflow_app::usecases::{FeedOutcome, FhirRefusal, FhirWrite};
use clinicflow_core::tenant::Tenant;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use tracing::{info, warn};

/// The demo identifiers' namespace.
const SYSTEM: &str = "urn:clinicflow:demo";

/// (days from today, local hour, minute, patient, phone, language, service)
const SEEDS: &[(i64, i8, i8, &str, &str, &str, &str)] = &[
    (
        1,
        10,
        0,
        "Ayşe Yılmaz",
        "+905320001001",
        "tr",
        "consultation",
    ),
    (2, 14, 30, "Olga Ivanova", "+79160001002", "ru", "implant"),
    (3, 11, 0, "Hans Becker", "+4915100001003", "de", "cleaning"),
    (4, 16, 0, "Mehmet Demir", "+905320001004", "tr", "implant"),
];

/// Feeds the demo appointments of the first tenant that has practitioners
/// and services; those stored already are left as they are.
pub async fn seed(app: &App, now: Timestamp) {
    let Some(tenant) = app
        .directory
        .tenants()
        .find(|t| !t.practitioners.is_empty() && !t.services.is_empty())
        .cloned()
    else {
        return;
    };
    let mut fed = 0;
    for (n, seed) in SEEDS.iter().enumerate() {
        let body = resource(&tenant, n, *seed, now);
        let identifier = format!("{SYSTEM}|demo-{n}");
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        match app
            .upsert_fhir(
                &tenant,
                FhirWrite {
                    identifier: &identifier,
                    if_match: None,
                    body: &bytes,
                },
            )
            .await
        {
            Ok(FeedOutcome::Created(_)) => fed += 1,
            Ok(_) => {}
            Err(FhirRefusal::Invalid(issues)) => {
                warn!(issues = ?issues, "a demo appointment does not fit this configuration; skipped")
            }
            Err(FhirRefusal::App(e)) => warn!(error = %e, "a demo appointment could not be stored"),
        }
    }
    if fed > 0 {
        info!(tenant = %tenant.id, appointments = fed, "demo appointments fed");
    }
}

/// The demo appointment `n` as a FHIR resource, at its branch's local time.
fn resource(
    tenant: &Tenant,
    n: usize,
    (days, hour, minute, name, phone, language, service): (i64, i8, i8, &str, &str, &str, &str),
    now: Timestamp,
) -> serde_json::Value {
    let practitioner = &tenant.practitioners[n % tenant.practitioners.len()];
    let branch = tenant.branch_or_default(&practitioner.branch);
    let day = branch
        .time_zone
        .to_datetime(now + SignedDuration::from_hours(24 * days))
        .date();
    let start = branch
        .time_zone
        .to_timestamp(day.at(hour, minute, 0, 0))
        .unwrap_or(now);
    let service = tenant
        .service_by_code(service)
        .unwrap_or(&tenant.services[0]);
    let (given, family) = name.split_once(' ').unwrap_or((name, ""));
    json!({
        "resourceType": "Appointment",
        "identifier": [{ "system": SYSTEM, "value": format!("demo-{n}") }],
        "meta": { "lastUpdated": "2026-01-01T00:00:00Z" },
        "status": "booked",
        "serviceType": [{ "coding": [{ "code": service.id.as_str() }] }],
        "start": start.to_string(),
        "end": (start + SignedDuration::from_mins(30)).to_string(),
        "contained": [{
            "resourceType": "Patient", "id": "p",
            "name": [{ "given": [given], "family": family }],
            "telecom": [{ "system": "phone", "value": phone }],
            "communication": [{ "language": { "coding": [{ "code": language }] } }]
        }],
        "participant": [
            { "actor": { "reference": "#p" }, "status": "needs-action" },
            { "actor": { "reference": format!("Practitioner/{}", practitioner.id) } },
            { "actor": { "reference": format!("Location/{}", branch.id) } }
        ]
    })
}
