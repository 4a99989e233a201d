//! Appointments and their journeys on the real embedded store with a
//! manual clock: the whole journey from booking to survey, reschedules and
//! cancellations, a shuffled and repeated FHIR feed, stale taps, Cal.com,
//! no-show recovery, every queue message delivered three times, and
//! overlapping sweeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use clinicflow_app::usecases::{FeedOutcome, FhirWrite, MoveInput};
use clinicflow_core::appointment::{AppointmentStatus, Confirmation};
use clinicflow_core::calcom;
use clinicflow_core::ids::TenantId;
use clinicflow_core::inbound::{Inbound, InboundMessage};
use clinicflow_core::message::{Channel, Message, MessageStatus};
use clinicflow_core::task::TaskKind;
use common::World;
use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[tenants]]
id = "clinic"
name = "Test Clinic"
default_language = "tr"
staff_tokens = ["appointments-staff-token-01"]

[tenants.appointments]
booking_link = "https://clinic.example/book"
link_base = "https://api.clinic.example"
callback_url = "https://mis.clinic.example/hooks/clinicflow"
callback_secret = "env:TEST_CALLBACK_SECRET"

[[tenants.managers]]
id = "selin"
name = "Selin Kaya"
phone = "+90 532 000 00 01"

[[tenants.branches]]
id = "kadikoy"
name = "Kadıköy"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["mon-fri 09:00-19:00", "sat 10:00-16:00"]
address = "Caferağa Mah. Moda Cad. 1, Kadıköy"
map_link = "https://maps.example/kadikoy"

[[tenants.consultants]]
id = "elif"
name = "Elif Demir"
branch = "kadikoy"
languages = ["tr"]
shifts = ["mon-fri 09:00-19:00"]

[[tenants.practitioners]]
id = "dr-aydin"
name = "Dr. Can Aydın"
branch = "kadikoy"
languages = ["tr"]
calcom = "aydin@clinic.example"

[[tenants.services]]
id = "implant"
name = "İmplant"
calcom = ["implant-consult"]
aftercare = { tr = "İlk 24 saat sıcak içecek içmeyin." }

[[tenants.forms]]
id = "web"
"#;

const PHONE: &str = "+905321234567";

fn ist(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
    TimeZone::get("Europe/Istanbul")
        .unwrap()
        .to_timestamp(date(y, mo, d).at(h, mi, 0, 0))
        .unwrap()
}

/// Monday 30 November 2026, 10:00 in Istanbul.
fn monday() -> Timestamp {
    ist(2026, 11, 30, 10, 0)
}

fn resource(status: &str, start: Timestamp, minutes: i64, updated: Timestamp) -> Value {
    json!({
        "resourceType": "Appointment",
        "identifier": [{ "system": "https://mis.example/appointments", "value": "A-1" }],
        "meta": { "lastUpdated": updated.to_string() },
        "status": status,
        "serviceType": [{ "coding": [{ "code": "implant" }] }],
        "start": start.to_string(),
        "end": (start + SignedDuration::from_mins(minutes)).to_string(),
        "contained": [{
            "resourceType": "Patient", "id": "p",
            "name": [{ "given": ["Ayşe"], "family": "Kaya" }],
            "telecom": [{ "system": "phone", "value": PHONE }],
            "communication": [{ "language": { "coding": [{ "code": "tr" }] } }]
        }],
        "participant": [
            { "actor": { "reference": "#p" }, "status": "needs-action" },
            { "actor": { "reference": "Practitioner/dr-aydin" } },
            { "actor": { "reference": "Location/kadikoy" } }
        ]
    })
}

async fn put(w: &World, identifier: &str, body: &Value) -> FeedOutcome {
    let t = w.tenant();
    let bytes = serde_json::to_vec(body).unwrap();
    w.app
        .upsert_fhir(
            &t,
            FhirWrite {
                identifier,
                if_match: None,
                body: &bytes,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e:?}"))
}

const ID: &str = "https://mis.example/appointments|A-1";

/// Moves the clock to `until` in steps, sweeping and draining at each.
async fn run_until(w: &World, until: Timestamp) {
    let step = SignedDuration::from_mins(10);
    let mut now = w.clock_now();
    while now < until {
        now = (now + step).min(until);
        w.clock.set(now);
        w.app.sweep_due_timers().await.unwrap();
        w.drain(1).await;
    }
}

/// A patient's SMS reply.
async fn sms(w: &World, text: &str) {
    inbound(w, Channel::Sms, text, None, None).await;
}

async fn inbound(
    w: &World,
    channel: Channel,
    text: &str,
    payload: Option<String>,
    context: Option<String>,
) {
    let event = Inbound::Message(InboundMessage {
        provider: if channel == Channel::Sms {
            "twilio"
        } else {
            "whatsapp"
        }
        .into(),
        provider_id: format!("in-{}", w.app.ids.new_id()),
        channel,
        from: PHONE.into(),
        name: None,
        text: text.into(),
        at: w.clock_now(),
        referral: None,
        payload,
        context,
    });
    w.app
        .handle_inbound(&TenantId::new("clinic").unwrap(), &event)
        .await
        .unwrap();
    w.drain(1).await;
}

fn sent<'a>(messages: &'a [Message], kind: &str) -> Vec<&'a Message> {
    messages
        .iter()
        .filter(|m| m.kind.as_str() == kind && m.status == MessageStatus::Sent)
        .collect()
}

fn plan_of(
    d: &clinicflow_app::usecases::AppointmentDetail,
) -> BTreeMap<String, (String, Option<String>)> {
    d.plan
        .iter()
        .filter(|p| p.current)
        .map(|p| {
            (
                p.rule.to_string(),
                (p.state.to_owned(), p.reason.map(|r| r.as_str().to_owned())),
            )
        })
        .collect()
}

trait Now {
    fn clock_now(&self) -> Timestamp;
}

impl Now for World {
    fn clock_now(&self) -> Timestamp {
        use clinicflow_ports::Clock;
        self.clock.now()
    }
}

#[tokio::test]
async fn the_whole_journey_from_booking_to_survey() {
    let w = World::new(CONFIG, monday());
    let t = w.tenant();
    // Thursday 3 December, 14:00, fed by the clinic's scheduler.
    let start = ist(2026, 12, 3, 14, 0);
    let created = put(&w, ID, &resource("booked", start, 30, monday())).await;
    let FeedOutcome::Created(a) = created else {
        panic!("{created:?}")
    };
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    let plan = plan_of(&d);
    assert_eq!(plan["appointment_confirmation"].0, "planned");
    assert_eq!(plan["appointment_nudge"].0, "planned");
    assert_eq!(plan["appointment_reminder"].0, "planned");
    let confirmation = d
        .plan
        .iter()
        .find(|p| p.rule.as_str() == "appointment_confirmation")
        .unwrap();
    assert_eq!(confirmation.at, Some(ist(2026, 12, 1, 14, 0)));
    assert_eq!(confirmation.channel, Some(Channel::Sms));

    // Tuesday 14:00: the confirmation asks, with the reply words and the link.
    run_until(&w, ist(2026, 12, 1, 14, 5)).await;
    let messages = w.messages().await;
    let asked = sent(&messages, "appointment_confirmation");
    assert_eq!(asked.len(), 1, "{messages:#?}");
    assert!(
        asked[0].body.contains("1 = Onaylıyorum"),
        "{}",
        asked[0].body
    );
    assert!(
        asked[0].body.contains("3 Aralık Perşembe saat 14:00"),
        "{}",
        asked[0].body
    );
    assert!(
        asked[0]
            .body
            .contains("https://api.clinic.example/a/clinic/"),
        "{}",
        asked[0].body
    );
    assert_eq!(asked[0].buttons.len(), 3);

    // The patient answers "evet" by SMS: confirmed, thanked, the scheduler told.
    sms(&w, "Evet").await;
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    assert_eq!(d.appointment.booking.confirmation, Confirmation::Accepted);
    let messages = w.messages().await;
    assert_eq!(sent(&messages, "answer_confirmed").len(), 1);
    let callback = sent(&messages, "scheduler_callback");
    assert_eq!(callback.len(), 1);
    let told: Value = serde_json::from_str(&callback[0].body).unwrap();
    assert_eq!(told["event"], "appointment.confirmed");
    assert_eq!(told["participant_status"], "accepted");
    assert_eq!(told["identifiers"][0]["value"], "A-1");
    assert!(
        !callback[0].body.contains("5321234567"),
        "no patient data to the scheduler"
    );

    // Wednesday: no nudge for a confirmed appointment; Thursday 12:00 the reminder.
    run_until(&w, ist(2026, 12, 3, 12, 5)).await;
    let messages = w.messages().await;
    assert!(sent(&messages, "appointment_nudge").is_empty());
    let reminder = sent(&messages, "appointment_reminder");
    assert_eq!(reminder.len(), 1);
    assert!(
        reminder[0].body.contains("Moda Cad."),
        "{}",
        reminder[0].body
    );
    let plan = plan_of(&w.app.appointment_detail(&t, a.id.as_str()).await.unwrap());
    assert_eq!(
        plan["appointment_nudge"],
        ("skipped".into(), Some("already_confirmed".into()))
    );

    // The visit: arrived at 13:55, completed at 14:40: aftercare at once,
    // the survey an hour later.
    w.clock.set(ist(2026, 12, 3, 13, 55));
    w.app
        .mark_appointment(&t, a.id.as_str(), "arrived", Some("reception".into()), None)
        .await
        .unwrap();
    w.clock.set(ist(2026, 12, 3, 14, 40));
    w.app
        .mark_appointment(&t, a.id.as_str(), "fulfilled", None, None)
        .await
        .unwrap();
    run_until(&w, ist(2026, 12, 3, 14, 50)).await;
    let aftercare = sent(&w.messages().await, "aftercare")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(aftercare.len(), 1);
    assert!(
        aftercare[0].body.contains("sıcak içecek"),
        "{}",
        aftercare[0].body
    );
    run_until(&w, ist(2026, 12, 3, 15, 45)).await;
    assert_eq!(sent(&w.messages().await, "survey").len(), 1);

    // A low score: stored with the visit, thanked, the branch manager tasked.
    sms(&w, "2").await;
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    let survey = d.survey.clone().unwrap();
    assert_eq!(
        (
            survey.score,
            survey.practitioner.as_str(),
            survey.service.as_str()
        ),
        (2, "dr-aydin", "implant")
    );
    assert_eq!(sent(&w.messages().await, "survey_thanks").len(), 1);
    assert!(
        d.tasks
            .iter()
            .any(|t| t.kind == TaskKind::LowScore && t.assignee.as_str() == "selin")
    );
    // A second score changes nothing.
    sms(&w, "5").await;
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    assert_eq!(d.survey.unwrap().score, 2);
    // The history names who made each change.
    let by: Vec<String> = d.history.iter().map(|r| format!("{:?}", r.by)).collect();
    assert!(
        by[0].contains("fhir") && by[1].contains("sms") && by[2].contains("reception"),
        "{by:?}"
    );
    // Every message went to the channel once.
    let records = w.sandbox_records().await;
    assert!(records.iter().all(|d| d.requests == 1), "{records:?}");
}

#[tokio::test]
async fn only_the_final_times_steps_are_sent_after_moves_a_cancel_and_a_rebooking() {
    let w = World::new(CONFIG, monday());
    let t = w.tenant();
    let hour = |h: i64| monday() + SignedDuration::from_hours(h);
    put(
        &w,
        ID,
        &resource("booked", ist(2026, 12, 3, 14, 0), 30, hour(0)),
    )
    .await;
    // Three reschedules, each after the clock ran a little (nothing due yet).
    for (i, start) in [
        ist(2026, 12, 4, 10, 0),
        ist(2026, 12, 4, 15, 0),
        ist(2026, 12, 7, 11, 0),
    ]
    .into_iter()
    .enumerate()
    {
        run_until(&w, hour(i as i64 + 1)).await;
        put(&w, ID, &resource("booked", start, 30, hour(i as i64 + 1))).await;
    }
    run_until(&w, hour(4)).await;
    put(
        &w,
        ID,
        &resource("cancelled", ist(2026, 12, 7, 11, 0), 30, hour(4)),
    )
    .await;
    run_until(&w, hour(5)).await;
    put(
        &w,
        ID,
        &resource("booked", ist(2026, 12, 7, 11, 0), 30, hour(5)),
    )
    .await;
    run_until(&w, hour(6)).await;
    let final_start = ist(2026, 12, 8, 10, 0);
    let FeedOutcome::Updated(a) = put(&w, ID, &resource("booked", final_start, 30, hour(6))).await
    else {
        panic!()
    };
    // A late copy of an old version resurrects nothing.
    let stale = put(
        &w,
        ID,
        &resource("cancelled", ist(2026, 12, 7, 11, 0), 30, hour(4)),
    )
    .await;
    assert!(matches!(stale, FeedOutcome::Stale(_)), "{stale:?}");

    run_until(&w, ist(2026, 12, 8, 12, 0)).await;
    let messages = w.messages().await;
    let occurrence = final_start.as_millisecond().to_string();
    for kind in [
        "appointment_confirmation",
        "appointment_nudge",
        "appointment_reminder",
    ] {
        let these = sent(&messages, kind);
        assert_eq!(these.len(), 1, "{kind}: {these:#?}");
        assert_eq!(
            these[0].occurrence.as_deref(),
            Some(occurrence.as_str()),
            "{kind}"
        );
    }
    // Tuesday 8 December 10:00: T-48 is Sunday, closed; Saturday 10:00 instead.
    let confirmation = sent(&messages, "appointment_confirmation")[0];
    assert_eq!(confirmation.created_at, ist(2026, 12, 5, 10, 0));
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    assert!(
        d.timers.iter().all(|t| t.kind.as_str() != "step"),
        "{:?}",
        d.timers
    );
    assert_eq!(d.appointment.status(), AppointmentStatus::Booked);
}

/// A tiny deterministic generator, so the shuffled feed is the same every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[tokio::test]
async fn a_shuffled_and_repeated_feed_of_1000_writes_ends_as_the_ordered_one() {
    let mut rng = Lcg(7);
    let statuses = [
        "booked",
        "booked",
        "booked",
        "cancelled",
        "pending",
        "noshow",
        "fulfilled",
    ];
    // 50 appointments, 20 versions each, in the order the scheduler made them.
    let mut writes = Vec::new();
    for v in 0..20 {
        for n in 0..50 {
            let start = ist(2026, 12, 10, 9, 0)
                + SignedDuration::from_mins(((rng.next() % 40) * 30) as i64);
            let status = statuses[(rng.next() % statuses.len() as u64) as usize];
            let updated = monday() + SignedDuration::from_secs(v * 60 + n);
            let mut body = resource(status, start, 30, updated);
            body["identifier"][0]["value"] = json!(format!("A-{n}"));
            writes.push((format!("https://mis.example/appointments|A-{n}"), body));
        }
    }
    let ordered = World::new(CONFIG, monday());
    for (id, body) in &writes {
        put(&ordered, id, body).await;
    }
    let mut shuffled_writes: Vec<_> = writes.iter().chain(writes.iter()).collect();
    for i in (1..shuffled_writes.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        shuffled_writes.swap(i, j);
    }
    let shuffled = World::new(CONFIG, monday());
    for (id, body) in shuffled_writes {
        put(&shuffled, id, body).await;
    }
    let (a, b) = (feed_state(&ordered).await, feed_state(&shuffled).await);
    assert_eq!(a.len(), 50);
    assert_eq!(a, b);
}

/// What a feed leaves behind: each appointment's state and its armed steps.
async fn feed_state(
    w: &World,
) -> Vec<(
    String,
    AppointmentStatus,
    Timestamp,
    Confirmation,
    Option<Timestamp>,
    Vec<String>,
)> {
    let t = w.tenant();
    let mut out = Vec::new();
    for day in 10..=11 {
        let filter = clinicflow_app::usecases::AppointmentFilter {
            date: date(2026, 12, day),
            branch: None,
            part: None,
            practitioner: None,
            service: None,
            status: None,
            confirmation: None,
        };
        let list = w
            .app
            .list_appointments(&t, &filter, 200, None)
            .await
            .unwrap();
        for a in list.items {
            let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
            let mut timers: Vec<String> = d
                .timers
                .iter()
                .map(|t| format!("{}@{}", t.name(), t.due_at))
                .collect();
            timers.sort();
            out.push((
                a.identifiers[0].value.clone(),
                a.booking.status,
                a.booking.start,
                a.booking.confirmation,
                a.source_updated,
                timers,
            ));
        }
    }
    out.sort_by(|x, y| x.0.cmp(&y.0));
    out
}

#[tokio::test]
async fn a_tap_on_a_moved_appointment_changes_nothing_and_gets_the_current_time() {
    let w = World::new(CONFIG, monday());
    let t = w.tenant();
    let FeedOutcome::Created(a) = put(
        &w,
        ID,
        &resource("booked", ist(2026, 12, 3, 14, 0), 30, monday()),
    )
    .await
    else {
        panic!()
    };
    run_until(&w, ist(2026, 12, 1, 14, 5)).await;
    let asked = sent(&w.messages().await, "appointment_confirmation")[0].clone();
    let confirm = asked
        .buttons
        .iter()
        .find(|b| b.payload.ends_with(":confirm"))
        .unwrap()
        .payload
        .clone();
    assert_eq!(confirm, format!("apt:{}:v1:confirm", a.id));
    // Staff move it to Friday; then the patient taps the old message's button.
    w.app
        .move_appointment(
            &t,
            a.id.as_str(),
            MoveInput {
                start: ist(2026, 12, 4, 16, 0).to_string(),
                ..MoveInput::default()
            },
            Some(1),
        )
        .await
        .unwrap();
    inbound(
        &w,
        Channel::Whatsapp,
        "Onaylıyorum",
        Some(confirm),
        Some("wamid.unknown".into()),
    )
    .await;
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    assert_eq!(
        d.appointment.booking.confirmation,
        Confirmation::NeedsAction
    );
    assert_eq!(d.appointment.version, 2);
    let changed = sent(&w.messages().await, "answer_changed")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(changed.len(), 1);
    assert!(
        changed[0].body.contains("4 Aralık Cuma saat 16:00"),
        "{}",
        changed[0].body
    );
    // A stale If-Match is refused.
    let refused = w
        .app
        .cancel_appointment(&t, a.id.as_str(), None, None, Some(1))
        .await;
    assert!(
        matches!(
            refused,
            Err(clinicflow_app::AppError::PreconditionFailed(_))
        ),
        "{refused:?}"
    );
    // A button on the current version works, and a repeated tap changes nothing more.
    let current = format!("apt:{}:v2:confirm", a.id);
    inbound(
        &w,
        Channel::Whatsapp,
        "Onaylıyorum",
        Some(current.clone()),
        None,
    )
    .await;
    inbound(&w, Channel::Whatsapp, "Onaylıyorum", Some(current), None).await;
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    assert_eq!(d.appointment.booking.confirmation, Confirmation::Accepted);
    assert_eq!(d.appointment.version, 3);
    assert_eq!(sent(&w.messages().await, "answer_confirmed").len(), 1);
}

#[tokio::test]
async fn cancel_and_reschedule_answers_tell_the_owner_and_task_the_branch() {
    let w = World::new(CONFIG, monday());
    let t = w.tenant();
    let FeedOutcome::Created(a) = put(
        &w,
        ID,
        &resource("booked", ist(2026, 12, 3, 14, 0), 30, monday()),
    )
    .await
    else {
        panic!()
    };
    run_until(&w, ist(2026, 12, 1, 14, 5)).await;
    // "R": someone calls; the branch manager gets a task, once however often asked.
    sms(&w, "R").await;
    sms(&w, "r").await;
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    let tasks: Vec<_> = d
        .tasks
        .iter()
        .filter(|t| t.kind == TaskKind::RescheduleRequest)
        .collect();
    assert_eq!(tasks.len(), 1);
    assert_eq!(sent(&w.messages().await, "answer_reschedule").len(), 1);
    // "3": cancelled by the patient; the branch manager told; nothing more planned.
    sms(&w, "3").await;
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    assert_eq!(d.appointment.status(), AppointmentStatus::Cancelled);
    assert_eq!(
        d.appointment.booking.cancellation_reason.as_deref(),
        Some("patient")
    );
    let messages = w.messages().await;
    assert_eq!(sent(&messages, "answer_cancelled").len(), 1);
    let notice = sent(&messages, "appointment_notice");
    assert_eq!(notice.len(), 1);
    assert!(notice[0].body.contains("iptal etti"), "{}", notice[0].body);
    assert!(
        d.timers.iter().all(|t| t.kind.as_str() != "step"),
        "{:?}",
        d.timers
    );
    // Free text while the question is open is no answer: its owner (here
    // the branch manager) hears of it, and no lead is opened for it.
    sms(&w, "tamam teşekkürler").await;
    let notices = sent(&w.messages().await, "appointment_notice")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(notices.len(), 2);
    assert!(
        notices.iter().any(|m| m.body.contains("bir mesaj yazdı")),
        "{notices:#?}"
    );
    let leads = w
        .app
        .list_leads(&t, &Default::default(), 10, None)
        .await
        .unwrap();
    assert!(leads.items.is_empty(), "{:?}", leads.items);
}

#[tokio::test]
async fn a_greeting_off_shift_says_when_the_clinic_will_call() {
    // Monday 22:00: Elif's shift starts Tuesday 09:00.
    let w = World::new(CONFIG, ist(2026, 11, 30, 22, 0));
    let lead = w.submit("0532 987 65 43").await;
    w.drain(1).await;
    let t = w.tenant();
    let d = w.app.lead_detail(&t, &lead).await.unwrap();
    let greeting = &d.messages[0];
    assert!(
        greeting
            .body
            .ends_with("Elif sizi yarın saat 09:00 civarında arayacak."),
        "{}",
        greeting.body
    );
    // On shift, it says shortly.
    w.clock.set(ist(2026, 12, 1, 10, 0));
    let lead = w.submit("0532 987 65 44").await;
    w.drain(1).await;
    let d = w.app.lead_detail(&t, &lead).await.unwrap();
    assert!(
        d.messages[0].body.contains("kısa süre içinde"),
        "{}",
        d.messages[0].body
    );
}

#[tokio::test]
async fn no_show_recovery_stops_when_the_patient_books_again() {
    let w = World::new(CONFIG, monday());
    let t = w.tenant();
    let FeedOutcome::Created(a) = put(
        &w,
        ID,
        &resource("booked", ist(2026, 11, 30, 15, 0), 30, monday()),
    )
    .await
    else {
        panic!()
    };
    w.clock.set(ist(2026, 11, 30, 15, 40));
    w.app
        .mark_appointment(&t, a.id.as_str(), "noshow", None, None)
        .await
        .unwrap();
    run_until(&w, ist(2026, 11, 30, 17, 50)).await;
    assert_eq!(sent(&w.messages().await, "no_show_recovery_1").len(), 1);
    // The next morning the patient books again through the scheduler.
    run_until(&w, ist(2026, 12, 1, 11, 0)).await;
    let mut again = resource(
        "booked",
        ist(2026, 12, 9, 10, 0),
        30,
        ist(2026, 12, 1, 11, 0),
    );
    again["identifier"][0]["value"] = json!("A-2");
    put(&w, "https://mis.example/appointments|A-2", &again).await;
    run_until(&w, ist(2026, 12, 3, 17, 0)).await;
    let messages = w.messages().await;
    assert!(sent(&messages, "no_show_recovery_2").is_empty());
    assert!(sent(&messages, "no_show_recovery_3").is_empty());
    let plan = plan_of(&w.app.appointment_detail(&t, a.id.as_str()).await.unwrap());
    assert_eq!(
        plan["no_show_recovery_2"],
        ("skipped".into(), Some("rebooked".into()))
    );
}

#[tokio::test]
async fn calcom_bookings_reschedules_and_cancellations_make_one_journey() {
    let w = World::new(CONFIG, monday());
    let t = w.tenant();
    let tenant = TenantId::new("clinic").unwrap();
    let hook = |trigger: &str, uid: &str, start: Timestamp, at: Timestamp, extra: Value| {
        let mut v = json!({
            "triggerEvent": trigger,
            "createdAt": at.to_string(),
            "payload": {
                "type": "implant-consult", "uid": uid, "bookingId": 1,
                "startTime": start.to_string(), "endTime": (start + SignedDuration::from_mins(30)).to_string(),
                "status": "ACCEPTED",
                "organizer": { "email": "aydin@clinic.example", "timeZone": "Europe/Istanbul" },
                "attendees": [{ "name": "Ayşe Kaya", "email": "ayse@example.com", "phoneNumber": PHONE,
                                "timeZone": "Europe/Istanbul", "language": { "locale": "tr" } }]
            }
        });
        for (k, x) in extra.as_object().unwrap() {
            v["payload"][k] = x.clone();
        }
        calcom::parse(&serde_json::to_vec(&v).unwrap(), &t).unwrap()
    };
    let created = hook(
        "BOOKING_CREATED",
        "bk-1",
        ist(2026, 12, 3, 14, 0),
        monday(),
        json!({}),
    )
    .unwrap();
    w.app.apply_calcom(&tenant, &created).await.unwrap();
    // The reschedule: a new uid continuing the old one's journey; Cal.com
    // also cancels the old booking, which must not cancel ours.
    let moved = hook(
        "BOOKING_RESCHEDULED",
        "bk-2",
        ist(2026, 12, 4, 11, 0),
        monday() + SignedDuration::from_mins(5),
        json!({ "rescheduleUid": "bk-1" }),
    )
    .unwrap();
    w.app.apply_calcom(&tenant, &moved).await.unwrap();
    let old_cancel = hook(
        "BOOKING_CANCELLED",
        "bk-1",
        ist(2026, 12, 3, 14, 0),
        monday() + SignedDuration::from_mins(6),
        json!({ "rescheduledToUid": "bk-2" }),
    );
    assert!(old_cancel.is_none());
    // A delayed copy of the creation is older: nothing changes.
    w.app.apply_calcom(&tenant, &created).await.unwrap();
    let filter = |day| clinicflow_app::usecases::AppointmentFilter {
        date: date(2026, 12, day),
        branch: None,
        part: None,
        practitioner: None,
        service: None,
        status: None,
        confirmation: None,
    };
    let friday = w
        .app
        .list_appointments(&t, &filter(4), 10, None)
        .await
        .unwrap()
        .items;
    assert_eq!(friday.len(), 1);
    let a = &friday[0];
    assert_eq!(a.identifiers.len(), 2);
    assert_eq!(
        a.booking.patient.time_zone.as_deref(),
        Some("Europe/Istanbul")
    );
    assert!(
        w.app
            .list_appointments(&t, &filter(3), 10, None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Now the patient cancels in Cal.com.
    let cancel = hook(
        "BOOKING_CANCELLED",
        "bk-2",
        ist(2026, 12, 4, 11, 0),
        monday() + SignedDuration::from_mins(10),
        json!({ "cancellationReason": "Hastayım" }),
    )
    .unwrap();
    w.app.apply_calcom(&tenant, &cancel).await.unwrap();
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    assert_eq!(d.appointment.status(), AppointmentStatus::Cancelled);
    assert_eq!(
        d.appointment.booking.cancellation_reason.as_deref(),
        Some("Hastayım")
    );
    assert!(d.timers.is_empty(), "{:?}", d.timers);
}

#[tokio::test]
async fn every_queue_message_delivered_three_times_sends_each_message_once() {
    let w = World::new(CONFIG, monday());
    let start = ist(2026, 12, 3, 14, 0);
    put(&w, ID, &resource("booked", start, 30, monday())).await;
    let step = SignedDuration::from_mins(10);
    let mut now = monday();
    while now < ist(2026, 12, 3, 12, 30) {
        now += step;
        w.clock.set(now);
        w.app.sweep_due_timers().await.unwrap();
        w.drain(3).await;
    }
    sms(&w, "1").await;
    w.drain(3).await;
    let messages = w.messages().await;
    assert_eq!(sent(&messages, "appointment_confirmation").len(), 1);
    assert_eq!(sent(&messages, "appointment_reminder").len(), 1);
    assert_eq!(sent(&messages, "answer_confirmed").len(), 1);
    let records = w.sandbox_records().await;
    assert!(records.iter().all(|d| d.requests == 1), "{records:?}");
}

#[tokio::test]
async fn overlapping_sweeps_send_each_due_step_once() {
    let w = World::new(CONFIG, monday());
    for n in 0..30 {
        let mut body = resource("booked", ist(2026, 12, 3, 14, 0), 30, monday());
        body["identifier"][0]["value"] = json!(format!("B-{n}"));
        body["contained"][0]["telecom"][0]["value"] = json!(format!("+90532555{n:04}"));
        put(
            &w,
            &format!("https://mis.example/appointments|B-{n}"),
            &body,
        )
        .await;
    }
    w.clock.set(ist(2026, 12, 1, 14, 1));
    let (r1, r2, r3) = tokio::join!(
        w.app.sweep_due_timers(),
        w.app.sweep_due_timers(),
        w.app.sweep_due_timers()
    );
    let fired = r1.unwrap().fired + r2.unwrap().fired + r3.unwrap().fired;
    assert_eq!(fired, 30);
    w.drain(2).await;
    assert_eq!(
        sent(&w.messages().await, "appointment_confirmation").len(),
        30
    );
}

#[tokio::test]
async fn a_booking_from_a_lead_moves_its_stage_and_the_plan_explains_itself() {
    let w = World::new(CONFIG, monday());
    let t = w.tenant();
    let lead = w.submit("0532 987 65 43").await;
    w.drain(1).await;
    let a = w
        .app
        .book_appointment(
            &t,
            clinicflow_app::usecases::BookInput {
                lead: lead.clone(),
                practitioner: "dr-aydin".into(),
                service: "implant".into(),
                start: "2026-12-01T18:30:00+03:00".into(),
                by: Some("elif".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let l = w.app.lead_detail(&t, &lead).await.unwrap();
    assert_eq!(l.lead.stage.as_str(), "appointment_booked");
    // Tuesday 18:30, booked on Monday 10:00: no T-48; the nudge and reminder go.
    let plan = plan_of(&w.app.appointment_detail(&t, a.id.as_str()).await.unwrap());
    assert_eq!(
        plan["appointment_confirmation"],
        ("skipped".into(), Some("booked_too_late".into()))
    );
    assert_eq!(plan["appointment_nudge"].0, "planned");
    // Bad input names the field.
    let bad = w
        .app
        .book_appointment(
            &t,
            clinicflow_app::usecases::BookInput {
                lead,
                practitioner: "dr-nobody".into(),
                service: "implant".into(),
                start: "2026-12-01T18:30:00".into(),
                ..Default::default()
            },
        )
        .await;
    let Err(clinicflow_app::AppError::Invalid(fields)) = bad else {
        panic!("{bad:?}")
    };
    let named: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(named, ["practitioner", "start"]);
}

/// The router as a browser reaches it: the answer's status and body.
async fn browse(w: &World, method: &str, path: &str, form: &str) -> (u16, String) {
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(form.to_owned()))
        .unwrap();
    let response = clinicflow_app::http::router(w.app.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn the_signed_link_opens_the_appointment_and_takes_an_answer_once() {
    let w = World::new(CONFIG, monday());
    let t = w.tenant();
    let FeedOutcome::Created(a) = put(
        &w,
        ID,
        &resource("booked", ist(2026, 12, 3, 14, 0), 30, monday()),
    )
    .await
    else {
        panic!()
    };
    run_until(&w, ist(2026, 12, 1, 14, 5)).await;
    let asked = sent(&w.messages().await, "appointment_confirmation")[0].clone();
    let link = asked
        .body
        .split_whitespace()
        .find(|w| w.starts_with("https://api.clinic.example/a/"))
        .unwrap();
    let path = link.trim_start_matches("https://api.clinic.example");
    let (status, page) = browse(&w, "GET", path, "").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("3 Aralık Perşembe 14:00") && page.contains("value=\"cancel\""),
        "{page}"
    );
    // A forged token opens nothing.
    let forged = format!("{}x", &path[..path.len() - 1]);
    assert_eq!(browse(&w, "GET", &forged, "").await.0, 404);
    // Cancel, twice (a double click): queued, applied once.
    assert_eq!(browse(&w, "POST", path, "answer=cancel").await.0, 200);
    assert_eq!(browse(&w, "POST", path, "answer=cancel").await.0, 200);
    w.drain(1).await;
    let d = w.app.appointment_detail(&t, a.id.as_str()).await.unwrap();
    assert_eq!(d.appointment.status(), AppointmentStatus::Cancelled);
    assert_eq!(d.appointment.version, 2);
    assert_eq!(sent(&w.messages().await, "answer_cancelled").len(), 1);
    // The link now shows the cancellation, with no buttons.
    let (_, page) = browse(&w, "GET", path, "").await;
    assert!(
        page.contains("iptal edilmiş") && !page.contains("value=\"cancel\""),
        "{page}"
    );
}

#[tokio::test]
async fn a_message_queued_before_its_appointment_moved_is_not_sent() {
    let w = World::new(CONFIG, monday());
    let t = w.tenant();
    let FeedOutcome::Created(a) = put(
        &w,
        ID,
        &resource("booked", ist(2026, 12, 3, 14, 0), 30, monday()),
    )
    .await
    else {
        panic!()
    };
    // The sweep fires the confirmation; before the sender gets to it, the
    // clinic moves the appointment.
    w.clock.set(ist(2026, 12, 1, 14, 0));
    w.app.sweep_due_timers().await.unwrap();
    w.app
        .move_appointment(
            &t,
            a.id.as_str(),
            MoveInput {
                start: ist(2026, 12, 5, 11, 0).to_string(),
                ..MoveInput::default()
            },
            None,
        )
        .await
        .unwrap();
    w.drain(1).await;
    let messages = w.messages().await;
    let old = messages
        .iter()
        .find(|m| m.kind.as_str() == "appointment_confirmation")
        .unwrap();
    assert_eq!(old.status, MessageStatus::Failed);
    assert_eq!(old.error.as_ref().unwrap().code, "stale");
    assert!(
        w.sandbox_records().await.is_empty(),
        "nothing reached the patient"
    );
    // Not a failure for staff to handle.
    let panel = w
        .app
        .list_messages(
            &t,
            &clinicflow_app::usecases::MessageFilter {
                status: Some(MessageStatus::Failed),
                handled: Some(false),
            },
            50,
            None,
        )
        .await
        .unwrap();
    assert!(panel.items.is_empty(), "{:?}", panel.items);
    // The new time gets its own confirmation.
    run_until(&w, ist(2026, 12, 3, 11, 5)).await;
    let messages = w.messages().await;
    let current = sent(&messages, "appointment_confirmation");
    assert_eq!(current.len(), 1);
    assert_eq!(
        current[0].occurrence.as_deref(),
        Some(
            ist(2026, 12, 5, 11, 0)
                .as_millisecond()
                .to_string()
                .as_str()
        )
    );
}
