//! A tenant for unit tests: two Istanbul branches and one in Berlin.

use std::sync::Arc;

use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::appointment::{AppointmentStatus, Booking, Confirmation, PatientRef};
use crate::config::{Directory, TenantConfig};
use crate::contact::{PhoneNumber, Reach, Region};
use crate::ids::{BranchId, Language, PractitionerId, ServiceId};
use crate::tenant::Tenant;

pub const CONFIG: &str = r#"
[[tenants]]
id = "demo"
name = "Demo Dental"
default_language = "tr"
staff_tokens = ["fixture-staff-token-0001"]

[[tenants.managers]]
id = "selin"
name = "Selin Kaya"
email = "selin@clinic.example"

[[tenants.branches]]
id = "kadikoy"
name = "Kadıköy"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["mon-fri 09:00-19:00", "sat 10:00-14:00"]

[[tenants.branches]]
id = "berlin"
name = "Berlin Mitte"
time_zone = "Europe/Berlin"
phone_region = "DE"
opening_hours = ["mon-fri 08:00-18:00"]

[[tenants.consultants]]
id = "elif"
name = "Elif Demir"
branch = "kadikoy"
languages = ["tr", "en"]
shifts = ["mon-fri 09:00-17:00"]

[[tenants.consultants]]
id = "mert"
name = "Mert Aydın"
branch = "kadikoy"
languages = ["tr"]
shifts = ["mon-fri 12:00-20:00"]

[[tenants.consultants]]
id = "olga"
name = "Olga Petrova"
branch = "kadikoy"
languages = ["ru", "en"]
shifts = ["mon-fri 09:00-17:00"]
capacity = 2

[[tenants.consultants]]
id = "hans"
name = "Hans Weber"
branch = "berlin"
languages = ["de", "en"]
shifts = ["mon-fri 08:00-16:00"]

[[tenants.consultants]]
id = "emre"
name = "Emre Kaya"
branch = "kadikoy"
languages = ["tr"]
shifts = ["mon-fri 09:00-17:00"]
active = false

[[tenants.practitioners]]
id = "dr-aydin"
name = "Dr. Can Aydın"
branch = "kadikoy"
languages = ["tr", "en"]
calcom = "aydin@clinic.example"

[[tenants.practitioners]]
id = "dr-weber"
name = "Dr. Anna Weber"
branch = "berlin"
languages = ["de", "en"]

[[tenants.services]]
id = "implant"
name = "İmplant"
names = { en = "Implant", de = "Implantat" }
calcom = ["implant-consult"]
aftercare = { tr = "İlk 24 saat sıcak içecek içmeyin.", en = "No hot drinks for the first 24 hours." }

[[tenants.services]]
id = "cleaning"
name = "Diş temizliği"
codes = ["D1110"]

[[tenants.forms]]
id = "web"
honeypot = "website"
allowed_origins = ["https://clinic.example"]

[[tenants.forms]]
id = "berlin-page"
branch = "berlin"
language = "de"
require_privacy_consent = true
"#;

#[derive(Deserialize)]
struct Doc {
    tenants: Vec<TenantConfig>,
}

pub fn directory() -> Directory {
    directory_from(CONFIG)
}

fn directory_from(config: &str) -> Directory {
    let doc: Doc = toml::from_str(config).unwrap();
    Directory::from_config("tenants", &doc.tenants).unwrap()
}

/// The first tenant of another configuration document.
pub fn tenant_from(config: &str) -> Arc<Tenant> {
    directory_from(config).tenants().next().unwrap().clone()
}

pub fn tenant() -> Arc<Tenant> {
    directory().tenants().next().unwrap().clone()
}

/// A local time in Istanbul. 2026-11-23 is a Monday.
pub fn istanbul(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
    TimeZone::get("Europe/Istanbul")
        .unwrap()
        .to_timestamp(date(y, mo, d).at(h, mi, 0, 0))
        .unwrap()
}

/// A booked, unconfirmed 30-minute implant visit with Dr. Aydın for a
/// Turkish patient whose phone is `phone`.
pub fn booking(branch: &str, phone: &str, start: Timestamp) -> Booking {
    let reach = Reach {
        phone: Some(PhoneNumber::parse(phone, "TR".parse::<Region>().unwrap()).unwrap()),
        email: None,
        instagram: None,
    };
    Booking {
        patient: PatientRef {
            contact_key: reach.dedupe_key().unwrap(),
            name: Some("Ayşe Kaya".into()),
            reach,
            language: Language::parse("tr").unwrap(),
            time_zone: None,
        },
        lead: None,
        branch: BranchId::new(branch).unwrap(),
        practitioner: PractitionerId::new("dr-aydin").unwrap(),
        service: ServiceId::new("implant").unwrap(),
        start,
        end: start + SignedDuration::from_mins(30),
        status: AppointmentStatus::Booked,
        cancellation_reason: None,
        confirmation: Confirmation::NeedsAction,
    }
}
