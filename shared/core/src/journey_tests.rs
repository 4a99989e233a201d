//! The plan as a pure function of (appointment, rules, patient, now):
//! late bookings, closed days, DST days, quiet hours across time zones.

use std::collections::BTreeMap;

use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::*;
use crate::appointment::{Appointment, AppointmentStatus, Confirmation};
use crate::fixture;
use crate::ids::{AppointmentId, TenantId};
use crate::locale::patient_zone;
use crate::tenant::Tenant;

fn local(zone: &str, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
    TimeZone::get(zone)
        .unwrap()
        .to_timestamp(date(y, mo, d).at(h, mi, 0, 0))
        .unwrap()
}

fn ist(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
    local("Europe/Istanbul", y, mo, d, h, mi)
}

fn berlin(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
    local("Europe/Berlin", y, mo, d, h, mi)
}

/// An appointment booked at `booked` for `start` (30 minutes) at `branch`,
/// for a patient with `phone`.
fn appointment(branch: &str, phone: &str, start: Timestamp, booked: Timestamp) -> Appointment {
    let booking = fixture::booking(branch, phone, start);
    Appointment::create(
        AppointmentId::new("a1").unwrap(),
        TenantId::new("demo").unwrap(),
        vec![],
        booking,
        crate::appointment::Actor::Staff { by: None },
        booked,
    )
    .appointment
}

/// The plan at `now`, as (rule, step).
fn plan_at(tenant: &Tenant, a: &Appointment, now: Timestamp) -> BTreeMap<String, Step> {
    plan_with(tenant, a, now, |_| {})
}

fn plan_with(
    tenant: &Tenant,
    a: &Appointment,
    now: Timestamp,
    adjust: impl FnOnce(&mut Facts<'_>),
) -> BTreeMap<String, Step> {
    let branch = tenant.branch(&a.booking.branch).unwrap();
    let zone = patient_zone(
        a.booking.patient.time_zone.as_deref(),
        &a.booking.patient.reach,
        &branch.time_zone,
    );
    let mut facts = Facts {
        now,
        branch,
        patient_zone: &zone,
        send_hours: tenant.appointments.send_hours,
        last_booked_at: Some(a.created_at),
        last_inbound_at: None,
        opted_out: false,
    };
    adjust(&mut facts);
    plan(&tenant.appointments.rules, a, &facts)
        .into_iter()
        .map(|p| (p.rule.to_string(), p.step))
        .collect()
}

fn due(at: Timestamp) -> Step {
    Step::Due {
        at,
        deferred_from: None,
    }
}

fn deferred(at: Timestamp, from: Timestamp) -> Step {
    Step::Due {
        at,
        deferred_from: Some(from),
    }
}

fn skipped(reason: SkipReason) -> Step {
    Step::Skipped(reason)
}

#[test]
fn a_booking_days_ahead_plans_confirmation_nudge_and_reminder() {
    let tenant = fixture::tenant();
    // Thursday 3 December, 10:00 in Istanbul, booked on Monday.
    let a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 3, 10, 0),
        ist(2026, 11, 30, 11, 0),
    );
    let plan = plan_at(&tenant, &a, ist(2026, 11, 30, 11, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        due(ist(2026, 12, 1, 10, 0))
    );
    assert_eq!(plan["appointment_nudge"], due(ist(2026, 12, 2, 10, 0)));
    // 08:00 is before the patient's 09:00: deferred, still 30 minutes ahead.
    assert_eq!(
        plan["appointment_reminder"],
        deferred(ist(2026, 12, 3, 9, 0), ist(2026, 12, 3, 8, 0))
    );
    // Nothing follows a booking but these three.
    assert_eq!(plan.len(), 3, "{plan:?}");
}

#[test]
fn a_late_booking_skips_the_steps_whose_time_passed_and_keeps_the_next() {
    let tenant = fixture::tenant();
    // Booked 30 hours ahead: no confirmation at T-48, the nudge at T-24 asks.
    let a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 3, 15, 0),
        ist(2026, 12, 2, 9, 0),
    );
    let plan = plan_at(&tenant, &a, ist(2026, 12, 2, 9, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        skipped(SkipReason::BookedTooLate)
    );
    assert_eq!(plan["appointment_nudge"], due(ist(2026, 12, 2, 15, 0)));
    assert_eq!(plan["appointment_reminder"], due(ist(2026, 12, 3, 13, 0)));
    // Booked 20 hours ahead: only the reminder.
    let a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 3, 15, 0),
        ist(2026, 12, 2, 19, 0),
    );
    let plan = plan_at(&tenant, &a, ist(2026, 12, 2, 19, 0));
    assert_eq!(
        plan["appointment_nudge"],
        skipped(SkipReason::BookedTooLate)
    );
    assert_eq!(plan["appointment_reminder"], due(ist(2026, 12, 3, 13, 0)));
}

#[test]
fn a_confirmation_due_on_a_closed_day_moves_to_the_previous_working_day() {
    let tenant = fixture::tenant();
    // Berlin is open Monday to Friday: Monday's T-48 (Saturday) moves to Friday.
    let a = appointment(
        "berlin",
        "+49 30 12345678",
        berlin(2026, 12, 7, 10, 0),
        berlin(2026, 11, 30, 12, 0),
    );
    let plan = plan_at(&tenant, &a, berlin(2026, 11, 30, 12, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        due(berlin(2026, 12, 4, 10, 0))
    );
    // Kadıköy opens on Saturdays: Monday's T-48 stays on Saturday.
    let a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 7, 10, 0),
        ist(2026, 11, 30, 12, 0),
    );
    let plan = plan_at(&tenant, &a, ist(2026, 11, 30, 12, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        due(ist(2026, 12, 5, 10, 0))
    );
    // A holiday closes the day too.
    let mut closed = fixture::CONFIG.replace(
        "opening_hours = [\"mon-fri 08:00-18:00\"]",
        "opening_hours = [\"mon-fri 08:00-18:00\"]\nclosed_on = [\"2026-12-04\"]",
    );
    closed.push('\n');
    let tenant = fixture::tenant_from(&closed);
    let a = appointment(
        "berlin",
        "+49 30 12345678",
        berlin(2026, 12, 7, 10, 0),
        berlin(2026, 11, 30, 12, 0),
    );
    let plan = plan_at(&tenant, &a, berlin(2026, 11, 30, 12, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        due(berlin(2026, 12, 3, 10, 0))
    );
}

#[test]
fn plans_hold_their_local_time_across_daylight_saving_changes() {
    let tenant = fixture::tenant();
    // Berlin leaves summer time on Sunday 25 October 2026. An appointment on
    // Tuesday the 27th at 09:00: T-48 falls on the closed Sunday, and moves
    // to Friday 09:00 — summer time, an hour apart in UTC from Tuesday's.
    let a = appointment(
        "berlin",
        "+49 30 12345678",
        berlin(2026, 10, 27, 9, 0),
        berlin(2026, 10, 19, 12, 0),
    );
    let plan = plan_at(&tenant, &a, berlin(2026, 10, 19, 12, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        due(berlin(2026, 10, 23, 9, 0))
    );
    assert_eq!(
        berlin(2026, 10, 23, 9, 0).to_string(),
        "2026-10-23T07:00:00Z"
    );
    assert_eq!(
        berlin(2026, 10, 27, 9, 0).to_string(),
        "2026-10-27T08:00:00Z"
    );
    // T-24 is Monday 09:00 winter time: exactly 24 hours of elapsed time.
    assert_eq!(plan["appointment_nudge"], due(berlin(2026, 10, 26, 9, 0)));

    // Istanbul keeps no summer time, but a patient in Germany does: Europe
    // enters summer time on Sunday 29 March 2026. An Istanbul appointment on
    // Tuesday the 31st at 10:00 (07:00 UTC): T-48 falls on Sunday, closed in
    // Kadıköy, so Saturday 10:00 Istanbul — 08:00 in Berlin, still winter
    // time, before the patient's 09:00: deferred to 09:00 Berlin.
    let a = appointment(
        "kadikoy",
        "+49 30 12345678",
        ist(2026, 3, 31, 10, 0),
        ist(2026, 3, 20, 12, 0),
    );
    let plan = plan_at(&tenant, &a, ist(2026, 3, 20, 12, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        deferred(berlin(2026, 3, 28, 9, 0), ist(2026, 3, 28, 10, 0))
    );
    // The reminder at 05:00 UTC is 07:00 in Berlin, now summer time; the
    // patient's 09:00 is the appointment's start: too late, dropped.
    assert_eq!(
        plan["appointment_reminder"],
        skipped(SkipReason::QuietHours)
    );
}

#[test]
fn quiet_hours_are_the_patients_in_turkey_germany_and_new_york() {
    let tenant = fixture::tenant();
    // Turkey: a 09:15 appointment's reminder (07:15) would wait until 09:00,
    // inside its 30 minutes of minimum lead: dropped.
    let a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 3, 9, 15),
        ist(2026, 11, 30, 12, 0),
    );
    let plan = plan_at(&tenant, &a, ist(2026, 11, 30, 12, 0));
    assert_eq!(
        plan["appointment_reminder"],
        skipped(SkipReason::QuietHours)
    );
    // A 21:30 appointment's nudge at 21:30 the day before waits for 09:00.
    let a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 3, 21, 30),
        ist(2026, 11, 30, 12, 0),
    );
    let plan = plan_at(&tenant, &a, ist(2026, 11, 30, 12, 0));
    assert_eq!(
        plan["appointment_nudge"],
        deferred(ist(2026, 12, 3, 9, 0), ist(2026, 12, 2, 21, 30))
    );

    // Germany: a Berlin patient of an Istanbul branch; 10:00 Istanbul is
    // 08:00 in Berlin, so the confirmation waits an hour.
    let a = appointment(
        "kadikoy",
        "+49 30 12345678",
        ist(2026, 12, 3, 10, 0),
        ist(2026, 11, 30, 12, 0),
    );
    let plan = plan_at(&tenant, &a, ist(2026, 11, 30, 12, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        deferred(berlin(2026, 12, 1, 9, 0), ist(2026, 12, 1, 10, 0))
    );

    // New York: a health tourist's 10:00 Istanbul visit is 02:00 in New
    // York. The confirmation goes at 09:00 New York time, still more than
    // a day ahead; the reminder would reach them after the visit: dropped.
    let ny = |d, h| local("America/New_York", 2026, 12, d, h, 0);
    let a = appointment(
        "kadikoy",
        "+1 212 555 0100",
        ist(2026, 12, 3, 10, 0),
        ist(2026, 11, 30, 12, 0),
    );
    let plan = plan_at(&tenant, &a, ist(2026, 11, 30, 12, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        deferred(ny(1, 9), ist(2026, 12, 1, 10, 0))
    );
    assert_eq!(
        plan["appointment_reminder"],
        skipped(SkipReason::QuietHours)
    );
    // Their own time zone, when the scheduler sends it, wins over the number's.
    let mut own = a.clone();
    own.booking.patient.time_zone = Some("Europe/Istanbul".into());
    let plan = plan_at(&tenant, &own, ist(2026, 11, 30, 12, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        due(ist(2026, 12, 1, 10, 0))
    );
}

#[test]
fn confirmed_cancelled_and_moved_appointments_plan_accordingly() {
    let tenant = fixture::tenant();
    let a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 3, 10, 0),
        ist(2026, 11, 30, 11, 0),
    );
    let mut confirmed = a.clone();
    confirmed.booking.confirmation = Confirmation::Accepted;
    let plan = plan_at(&tenant, &confirmed, ist(2026, 12, 1, 11, 0));
    assert_eq!(
        plan["appointment_confirmation"],
        skipped(SkipReason::AlreadyConfirmed)
    );
    assert_eq!(
        plan["appointment_nudge"],
        skipped(SkipReason::AlreadyConfirmed)
    );
    assert!(matches!(plan["appointment_reminder"], Step::Due { .. }));

    let mut cancelled = a.clone();
    cancelled.booking.status = AppointmentStatus::Cancelled;
    let plan = plan_at(&tenant, &cancelled, ist(2026, 12, 1, 11, 0));
    for step in [
        "appointment_confirmation",
        "appointment_nudge",
        "appointment_reminder",
    ] {
        assert_eq!(plan[step], skipped(SkipReason::Cancelled), "{step}");
    }

    // Each time the appointment moves, the occurrence is the new start.
    let rule = tenant.appointments.rule("appointment_reminder").unwrap();
    let mut moved = a.clone();
    moved.booking.start = ist(2026, 12, 4, 11, 0);
    assert_ne!(rule.occurrence(&a), rule.occurrence(&moved));
}

#[test]
fn no_show_recovery_follows_the_no_show_and_stops_on_a_booking_a_reply_or_an_opt_out() {
    let tenant = fixture::tenant();
    let mut a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 3, 18, 0),
        ist(2026, 11, 30, 11, 0),
    );
    a.booking.status = AppointmentStatus::Noshow;
    a.status_since = ist(2026, 12, 3, 18, 40);
    let plan = plan_at(&tenant, &a, ist(2026, 12, 3, 18, 40));
    assert_eq!(plan["no_show_recovery_1"], due(ist(2026, 12, 3, 20, 40)));
    assert_eq!(plan["no_show_recovery_2"], due(ist(2026, 12, 4, 18, 40)));
    assert_eq!(plan["no_show_recovery_3"], due(ist(2026, 12, 6, 18, 40)));
    assert!(
        !plan.contains_key("appointment_reminder")
            || plan["appointment_reminder"] == skipped(SkipReason::AppointmentOver)
    );

    // Marked at 20:00, the first message's 22:00 is quiet: next morning.
    a.status_since = ist(2026, 12, 3, 20, 0);
    let plan = plan_at(&tenant, &a, ist(2026, 12, 3, 20, 0));
    assert_eq!(
        plan["no_show_recovery_1"],
        deferred(ist(2026, 12, 4, 9, 0), ist(2026, 12, 3, 22, 0))
    );

    let later = ist(2026, 12, 4, 12, 0);
    let rebooked = plan_with(&tenant, &a, later, |f| f.last_booked_at = Some(later));
    assert_eq!(
        rebooked["no_show_recovery_2"],
        skipped(SkipReason::Rebooked)
    );
    let replied = plan_with(&tenant, &a, later, |f| f.last_inbound_at = Some(later));
    assert_eq!(replied["no_show_recovery_3"], skipped(SkipReason::Replied));
    let opted = plan_with(&tenant, &a, later, |f| f.opted_out = true);
    assert_eq!(opted["no_show_recovery_2"], skipped(SkipReason::OptedOut));
}

#[test]
fn completion_plans_aftercare_and_the_survey() {
    let tenant = fixture::tenant();
    let mut a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 3, 10, 0),
        ist(2026, 11, 30, 11, 0),
    );
    a.booking.status = AppointmentStatus::Fulfilled;
    a.status_since = ist(2026, 12, 3, 10, 45);
    let plan = plan_at(&tenant, &a, ist(2026, 12, 3, 10, 45));
    assert_eq!(plan["aftercare"], due(ist(2026, 12, 3, 10, 45)));
    assert_eq!(plan["satisfaction_survey"], due(ist(2026, 12, 3, 11, 45)));
    assert_eq!(
        plan["appointment_reminder"],
        skipped(SkipReason::AppointmentOver)
    );
}

#[test]
fn a_step_fired_late_is_dropped_when_it_is_no_longer_useful_and_the_cap_defers() {
    let tenant = fixture::tenant();
    let a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 3, 15, 0),
        ist(2026, 11, 30, 11, 0),
    );
    let rule = tenant.appointments.rule("appointment_reminder").unwrap();
    let branch = tenant.branch(&a.booking.branch).unwrap();
    let zone = branch.time_zone.clone();
    let facts = |now| Facts {
        now,
        branch,
        patient_zone: &zone,
        send_hours: SendHours::default(),
        last_booked_at: None,
        last_inbound_at: None,
        opted_out: false,
    };
    // The sweep was down: at 14:20 the 13:00 reminder still helps…
    let step = rule
        .fire(&a, &facts(ist(2026, 12, 3, 14, 20)))
        .unwrap()
        .step;
    assert_eq!(step, due(ist(2026, 12, 3, 13, 0)));
    // …at 14:45 it would arrive inside the last 30 minutes: dropped.
    let step = rule
        .fire(&a, &facts(ist(2026, 12, 3, 14, 45)))
        .unwrap()
        .step;
    assert_eq!(step, skipped(SkipReason::TooLate));
    // A capped reminder cannot wait for tomorrow; a confirmation can.
    assert_eq!(
        rule.after_cap(&a, &facts(ist(2026, 12, 3, 13, 0))),
        skipped(SkipReason::DailyCap)
    );
    let confirmation = tenant
        .appointments
        .rule("appointment_confirmation")
        .unwrap();
    assert_eq!(
        confirmation.after_cap(&a, &facts(ist(2026, 11, 30, 15, 0))),
        deferred(ist(2026, 12, 1, 9, 0), ist(2026, 11, 30, 15, 0))
    );
}

#[test]
fn replies_answer_the_patients_own_changes_and_low_scores_open_tasks() {
    let tenant = fixture::tenant();
    let a = appointment(
        "kadikoy",
        "0532 123 45 67",
        ist(2026, 12, 3, 10, 0),
        ist(2026, 11, 30, 11, 0),
    );
    let branch = tenant.branch(&a.booking.branch).unwrap();
    let facts = Facts {
        now: ist(2026, 12, 1, 10, 0),
        branch,
        patient_zone: &branch.time_zone,
        send_hours: SendHours::default(),
        last_booked_at: None,
        last_inbound_at: None,
        opted_out: false,
    };
    let rules = &tenant.appointments.rules;
    let ids = |event, occasion| -> Vec<String> {
        react(rules, event, &a, occasion, &facts)
            .iter()
            .map(|r| r.id.to_string())
            .collect()
    };
    let patient = Actor::Patient { via: "sms".into() };
    let staff = Actor::Staff { by: None };
    let by = |actor| Occasion {
        actor: Some(actor),
        score: None,
    };
    assert_eq!(
        ids(AppointmentEvent::Confirmed, by(&patient)),
        ["confirmation_reply"]
    );
    assert!(ids(AppointmentEvent::Confirmed, by(&staff)).is_empty());
    assert_eq!(
        ids(AppointmentEvent::Cancelled, by(&patient)),
        ["cancellation_reply"]
    );
    assert!(ids(AppointmentEvent::Cancelled, by(&staff)).is_empty());
    let score = |s| Occasion {
        actor: Some(&patient),
        score: Some(s),
    };
    assert_eq!(
        ids(AppointmentEvent::SurveyAnswered, score(2)),
        ["survey_thanks", "low_score_alert"]
    );
    assert_eq!(
        ids(AppointmentEvent::SurveyAnswered, score(4)),
        ["survey_thanks"]
    );
}

#[test]
fn tenants_change_timings_and_switch_journeys_off() {
    let overrides: BTreeMap<String, RuleConfig> = toml::from_str(
        r#"
        appointment_confirmation = { before = "72h", min_lead = "36h" }
        appointment_nudge = { enabled = false }
        no_show_recovery_1 = { delay = "3h", opening_hours = true }
        "#,
    )
    .unwrap();
    let built = rules("tenants[0].journeys", &overrides, 2).unwrap();
    let confirmation = built
        .iter()
        .find(|r| r.id.as_str() == "appointment_confirmation")
        .unwrap();
    assert_eq!(
        confirmation.trigger,
        Trigger::BeforeStart {
            before: SignedDuration::from_hours(72),
            working_day: true
        }
    );
    assert!(
        !built
            .iter()
            .find(|r| r.id.as_str() == "appointment_nudge")
            .unwrap()
            .enabled
    );
    assert_eq!(
        built
            .iter()
            .find(|r| r.id.as_str() == "no_show_recovery_1")
            .unwrap()
            .delay,
        Delay::OpeningHours(SignedDuration::from_hours(3))
    );

    let bad: BTreeMap<String, RuleConfig> = toml::from_str(
        r#"
        appointment_reminder = { before = "1h", min_lead = "2h" }
        confirmation_reply = { delay = "1h" }
        birthday = { enabled = true }
        "#,
    )
    .unwrap();
    let problems = rules("j", &bad, 2).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "j.appointment_reminder.min_lead",
            "j.birthday",
            "j.confirmation_reply.delay"
        ]
    );
}
