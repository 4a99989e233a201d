//! The clinic's own automation rules on the real embedded store with a
//! manual clock: seed 003's two examples, activation over 1,000 past
//! records firing exactly its preview, "run now" twice, every queue
//! message three times and overlapping sweeps, an edit re-planning and a
//! deactivation cancelling pending firings, references guarded, and
//! random histories whose every firing happens once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use clinicflow_app::AppError;
use clinicflow_app::usecases::{BookInput, ContactInput, MoveInput, TaskFilter};
use clinicflow_core::automation::{FiringState, RuleSpec, SkipReason};
use clinicflow_core::lead::ContactKind;
use clinicflow_core::task::Task;
use common::World;
use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

const CONFIG: &str = r#"
[[tenants]]
id = "clinic"
name = "Test Clinic"
default_language = "tr"
staff_tokens = ["automations-staff-token-01"]

[tenants.appointments]
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

[[tenants.consultants]]
id = "elif"
name = "Elif Demir"
branch = "kadikoy"
languages = ["tr"]
shifts = ["mon-sun 00:00-24:00"]

[[tenants.practitioners]]
id = "dr-aydin"
name = "Dr. Can Aydın"
branch = "kadikoy"
languages = ["tr"]

[[tenants.practitioners]]
id = "dr-kaya"
name = "Dr. Deniz Kaya"
branch = "kadikoy"
languages = ["tr"]

[[tenants.practitioners]]
id = "dr-ozturk"
name = "Dr. Ali Öztürk"
branch = "kadikoy"
languages = ["tr"]

[[tenants.services]]
id = "implant"
name = "İmplant"

[[tenants.forms]]
id = "web"

[[tenants.forms]]
id = "insurance"
source = "insurance"

[tenants.blasts.templates.reminder]
purpose = "operational"
text = { tr = "Merhaba {{ first_name }}, yarın görüşmek üzere." }

[tenants.blasts.templates.offer]
purpose = "promotional"
text = { tr = "Merhaba {{ first_name }}, bu ay indirim var." }
"#;

fn ist(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> Timestamp {
    TimeZone::get("Europe/Istanbul")
        .unwrap()
        .to_timestamp(date(y, mo, d).at(h, mi, 0, 0))
        .unwrap()
}

/// Tuesday 1 December 2026, 10:00 in Istanbul.
fn tuesday() -> Timestamp {
    ist(2026, 12, 1, 10, 0)
}

fn spec(v: serde_json::Value) -> RuleSpec {
    serde_json::from_value(v).unwrap()
}

async fn submit(w: &World, form: &str, phone: &str) -> String {
    let fields = vec![
        ("phone".to_owned(), phone.to_owned()),
        ("name".to_owned(), "Ayşe Kaya".to_owned()),
    ];
    w.app
        .submit_form(form, &fields)
        .await
        .unwrap()
        .id()
        .to_owned()
}

async fn tasks(w: &World) -> Vec<Task> {
    let t = w.tenant();
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = w
            .app
            .list_tasks(&t, &TaskFilter::default(), 200, cursor.as_deref())
            .await
            .unwrap();
        all.extend(page.items);
        match page.next {
            Some(n) => cursor = Some(n),
            None => return all,
        }
    }
}

async fn automation_tasks(w: &World) -> Vec<Task> {
    tasks(w)
        .await
        .into_iter()
        .filter(|t| t.firing.is_some())
        .collect()
}

/// Sweeps (twice at once) and drains (every message three times) until
/// nothing is left at this moment.
async fn settle(w: &World) {
    for _ in 0..4 {
        w.drain(3).await;
        let (a, b) = tokio::join!(w.app.sweep_due_timers(), w.app.sweep_due_timers());
        a.unwrap();
        b.unwrap();
    }
    w.drain(3).await;
}

/// Seed 003's touch task: three days after a "came to clinic" touch from
/// an insurance source, a task for the responsible person.
#[tokio::test]
async fn a_touch_task_for_the_responsible_person_three_days_after_an_insurance_visit() {
    let w = World::new(CONFIG, tuesday());
    let t = w.tenant();
    let rule = w
        .app
        .create_rule(
            &t,
            Some("insurance-visit"),
            spec(json!({
                "name": "Insurance patient came to the clinic: follow up",
                "category": "touch",
                "subject": "lead",
                "trigger": {"kind": "touch_recorded", "touch_type": "visit"},
                "conditions": {"all": [{"field": "lead.source", "op": "eq", "value": "insurance"}]},
                "delay": {"for": "72h"},
                "actions": [{"type": "create_task", "assignee": {"role": "responsible"},
                             "title": "Ask how the visit went", "due": "24h"}]
            })),
        )
        .await
        .unwrap();
    w.app
        .set_rule_active(&t, rule.id.as_str(), Some(1), true, true, None)
        .await
        .unwrap();
    let insured = submit(&w, "insurance", "+905321110001").await;
    let walk_in = submit(&w, "web", "+905321110002").await;
    settle(&w).await;
    for (lead, kind) in [
        (&insured, ContactKind::Visit),
        (&walk_in, ContactKind::Visit),
        (&insured, ContactKind::Call),
    ] {
        w.app
            .record_contact(
                &t,
                lead,
                ContactInput {
                    kind,
                    by: Some("elif".into()),
                    note: None,
                },
            )
            .await
            .unwrap();
    }
    settle(&w).await;
    assert!(
        automation_tasks(&w).await.is_empty(),
        "not before three days"
    );
    w.clock.advance(SignedDuration::from_hours(72));
    settle(&w).await;
    let made = automation_tasks(&w).await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(
        made[0].about.lead().map(|l| l.to_string()),
        Some(insured.clone())
    );
    assert_eq!(made[0].assignee.as_str(), "elif");
    assert_eq!(
        made[0].due_at,
        Some(tuesday() + SignedDuration::from_hours(96))
    );
    // Each firing explains itself: the walk-in's was skipped on its source.
    let firings = w
        .app
        .list_firings(&t, "insurance-visit", None, 50, None)
        .await
        .unwrap()
        .items;
    assert_eq!(firings.len(), 2);
    let skipped = firings
        .iter()
        .find(|f| f.state == FiringState::Skipped)
        .unwrap();
    assert_eq!(skipped.reason, Some(SkipReason::ConditionFalse));
    assert_eq!(
        serde_json::to_value(&skipped.conditions[0]).unwrap(),
        json!({"field": "lead.source", "op": "eq", "expected": "insurance", "actual": "web_form", "held": false})
    );
    let fired = firings
        .iter()
        .find(|f| f.state == FiringState::Fired)
        .unwrap();
    assert_eq!(fired.delay.delay, Some(SignedDuration::from_hours(72)));
    assert_eq!(fired.actions[0].result, "assigned to elif");
    assert_eq!(made[0].firing.as_deref(), Some(fired.id.as_str()));
    let health = w.app.rule_health(&t, "insurance-visit").await.unwrap();
    assert_eq!(
        (health.fired, health.skipped.get("condition_false")),
        (1, Some(&1))
    );
}

async fn book(w: &World, phone: &str, practitioner: &str, start: Timestamp) -> String {
    let t = w.tenant();
    let lead = submit(w, "web", phone).await;
    w.drain(1).await;
    w.app
        .book_appointment(
            &t,
            BookInput {
                lead,
                practitioner: practitioner.into(),
                service: "implant".into(),
                start: start.to_string(),
                end: None,
                minutes: Some(30),
                branch: None,
                by: None,
            },
        )
        .await
        .unwrap()
        .id
        .to_string()
}

/// Seed 003's appointment task: for unconfirmed appointments of two
/// doctors, a call task the day before at 10:00; a move re-plans it, a
/// cancellation kills it.
#[tokio::test]
async fn an_appointment_task_for_the_unconfirmed_appointments_of_two_doctors() {
    let w = World::new(CONFIG, tuesday());
    let t = w.tenant();
    w.app
        .create_rule(
            &t,
            Some("confirm-call"),
            spec(json!({
                "name": "Call unconfirmed patients of Dr. Aydın and Dr. Kaya",
                "category": "appointment",
                "subject": "appointment",
                "trigger": {"kind": "time", "anchor": "appointment.starts_at", "offset": "-24h", "at_local": "10:00"},
                "conditions": {"all": [
                    {"field": "appointment.practitioner", "op": "in", "value": ["dr-aydin", "dr-kaya"]},
                    {"field": "appointment.confirmed", "op": "eq", "value": false}
                ]},
                "actions": [{"type": "create_task", "assignee": {"role": "branch_manager"},
                             "title": "Call to confirm tomorrow's appointment"}]
            })),
        )
        .await
        .unwrap();
    w.app
        .set_rule_active(&t, "confirm-call", None, true, true, None)
        .await
        .unwrap();
    let thursday = ist(2026, 12, 3, 14, 0);
    let aydin = book(&w, "+905321110010", "dr-aydin", thursday).await;
    let kaya = book(&w, "+905321110011", "dr-kaya", thursday).await;
    let ozturk = book(&w, "+905321110012", "dr-ozturk", thursday).await;
    let cancelled = book(&w, "+905321110013", "dr-kaya", thursday).await;
    settle(&w).await;
    // Kaya's patient moves to Friday; the other one cancels.
    let friday = ist(2026, 12, 4, 15, 0);
    w.app
        .move_appointment(
            &t,
            &kaya,
            MoveInput {
                start: friday.to_string(),
                ..MoveInput::default()
            },
            None,
        )
        .await
        .unwrap();
    w.app
        .cancel_appointment(&t, &cancelled, None, None, None)
        .await
        .unwrap();
    settle(&w).await;
    // Wednesday 10:00: Aydın's call.
    w.clock.set(ist(2026, 12, 2, 10, 0));
    settle(&w).await;
    let made = automation_tasks(&w).await;
    let about: Vec<String> = made
        .iter()
        .filter_map(|t| t.about.appointment().map(|a| a.to_string()))
        .collect();
    assert_eq!(about, std::slice::from_ref(&aydin));
    assert_eq!(made[0].assignee.as_str(), "selin");
    // Thursday 10:00: Kaya's moved appointment; its Thursday firing was skipped.
    w.clock.set(ist(2026, 12, 3, 10, 0));
    settle(&w).await;
    let mut about: Vec<String> = automation_tasks(&w)
        .await
        .iter()
        .filter_map(|t| t.about.appointment().map(|a| a.to_string()))
        .collect();
    about.sort();
    let mut want = vec![aydin, kaya];
    want.sort();
    assert_eq!(about, want);
    let firings = w
        .app
        .list_firings(&t, "confirm-call", None, 50, None)
        .await
        .unwrap()
        .items;
    let reasons: BTreeMap<String, usize> = firings.iter().fold(BTreeMap::new(), |mut m, f| {
        let key = match f.reason {
            Some(r) => r.as_str().to_owned(),
            None => f.state.as_str().to_owned(),
        };
        *m.entry(key).or_default() += 1;
        m
    });
    // Aydın and Kaya fired; Kaya's first time died with the move (or
    // fires on Friday's date); Öztürk's doctor is not one of the two; the
    // cancelled one is closed.
    assert_eq!(reasons.get("fired"), Some(&2), "{reasons:?}");
    assert_eq!(reasons.get("anchor_changed"), Some(&1), "{reasons:?}");
    assert_eq!(
        reasons.get("condition_false"),
        Some(&1),
        "{reasons:?} ({ozturk})"
    );
    assert_eq!(reasons.get("record_closed"), Some(&1), "{reasons:?}");
    assert_eq!(reasons.get("pending"), None);
}

/// Activation over 1,000 leads already in the stage fires exactly what
/// its preview said; "run now" twice adds nothing.
#[tokio::test]
async fn activating_over_a_thousand_past_records_fires_exactly_its_preview() {
    let w = World::new(CONFIG, tuesday());
    let t = w.tenant();
    for i in 0..1000 {
        let form = if i % 10 < 7 { "web" } else { "insurance" };
        submit(&w, form, &format!("+9053220{i:05}")).await;
    }
    w.drain(1).await;
    w.app
        .create_rule(
            &t,
            Some("welcome-call"),
            spec(json!({
                "name": "A call task for every new web lead",
                "subject": "lead",
                "trigger": {"kind": "stage_entered", "pipeline": "leads", "stage": "new"},
                "conditions": {"all": [{"field": "lead.source", "op": "eq", "value": "web_form"}]},
                "actions": [{"type": "create_task", "assignee": {"role": "responsible"}, "title": "Call"}]
            })),
        )
        .await
        .unwrap();
    let preview = w.app.preview_rule(&t, "welcome-call").await.unwrap();
    assert_eq!(
        (
            preview.matched,
            preview.fire_now,
            preview.skipped.get("condition_false")
        ),
        (1000, 700, Some(&300))
    );
    let armed = w
        .app
        .set_rule_active(&t, "welcome-call", Some(1), true, true, Some("selin"))
        .await
        .unwrap()
        .armed
        .unwrap();
    assert_eq!(armed.fire_now, 700);
    settle(&w).await;
    assert_eq!(automation_tasks(&w).await.len(), 700);
    // Run now, twice: every occurrence has its firing already.
    for _ in 0..2 {
        let again = w.app.run_rule(&t, "welcome-call", None).await.unwrap();
        assert_eq!((again.fire_now, again.armed_already), (0, 700));
        settle(&w).await;
    }
    assert_eq!(automation_tasks(&w).await.len(), 700);
}

#[tokio::test]
async fn an_edit_replans_and_a_deactivation_cancels_pending_firings() {
    let w = World::new(CONFIG, tuesday());
    let t = w.tenant();
    let idle = |hours: i64| {
        spec(json!({
            "name": "New lead waiting",
            "category": "sla",
            "subject": "lead",
            "trigger": {"kind": "idle", "pipeline": "leads", "stage": "new", "for": format!("{hours}h")},
            "actions": [{"type": "create_task", "assignee": {"role": "supervisor"}, "title": "A lead waits"}]
        }))
    };
    w.app
        .create_rule(&t, Some("waiting"), idle(2))
        .await
        .unwrap();
    w.app
        .set_rule_active(&t, "waiting", None, true, true, None)
        .await
        .unwrap();
    for i in 0..3 {
        submit(&w, "web", &format!("+90532330000{i}")).await;
    }
    settle(&w).await;
    let saved = w
        .app
        .update_rule(&t, "waiting", Some(2), idle(5))
        .await
        .unwrap();
    let replan = saved.replan.unwrap();
    assert_eq!((replan.replanned, replan.cancelled), (3, 0));
    // An older version is refused.
    assert!(matches!(
        w.app.update_rule(&t, "waiting", Some(2), idle(6)).await,
        Err(AppError::PreconditionFailed(_))
    ));
    w.clock.advance(SignedDuration::from_hours(3));
    settle(&w).await;
    assert!(
        automation_tasks(&w).await.is_empty(),
        "re-planned to 5 hours"
    );
    let off = w
        .app
        .set_rule_active(&t, "waiting", None, false, false, None)
        .await
        .unwrap();
    assert_eq!(off.replan.unwrap().cancelled, 3);
    w.clock.advance(SignedDuration::from_hours(3));
    settle(&w).await;
    assert!(automation_tasks(&w).await.is_empty());
    let v1 = w.app.rule_at_version(&t, "waiting", 1).await.unwrap();
    assert_eq!(v1.spec, idle(2));
}

#[tokio::test]
async fn bad_rules_loops_and_used_references_are_refused_by_path() {
    let w = World::new(CONFIG, tuesday());
    let t = w.tenant();
    let fields = |e: AppError| match e {
        AppError::Invalid(fields) => fields.into_iter().map(|f| f.field).collect::<Vec<String>>(),
        other => panic!("{other:?}"),
    };
    let promo = w
        .app
        .create_rule(
            &t,
            None,
            spec(json!({
                "name": "x", "subject": "lead", "trigger": {"kind": "record_created"},
                "delay": {"for": "10s"},
                "actions": [{"type": "send_message", "template": "offer"},
                            {"type": "create_task", "assignee": {"role": "responsible"}, "title": "t", "due": "9000h"}]
            })),
        )
        .await
        .unwrap_err();
    assert_eq!(
        fields(promo),
        ["delay.for", "actions[0].template", "actions[1].due"]
    );
    w.app.load_preset(&t, "dental").await.unwrap();
    // A rule that would loop with the preset's: base declined → reactivation,
    // and reactivation visited-before → back into base declined.
    let looping = w
        .app
        .create_rule(
            &t,
            Some("back-to-base"),
            spec(json!({
                "name": "x", "subject": "deal",
                "trigger": {"kind": "stage_entered", "pipeline": "reactivation", "stage": "visited_before"},
                "actions": [{"type": "copy_to_pipeline", "pipeline": "patient_base", "stage": "declined"}]
            })),
        )
        .await
        .unwrap_err();
    match looping {
        AppError::Invalid(f) => {
            assert_eq!(f[0].field, "actions");
            assert!(f[0].problem.contains("back-to-base"), "{}", f[0].problem);
            assert!(
                f[0].problem.contains("base_declined_to_reactivation"),
                "{}",
                f[0].problem
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        w.app.get_rule(&t, "back-to-base").await.is_err(),
        "nothing saved"
    );
    match w.app.delete_pipeline(&t, "coordinators").await.unwrap_err() {
        AppError::Conflict(m) => assert!(m.contains("first_visit_to_coordinators"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Random histories of deal moves, patient messages, redeliveries and
/// sweeps under the dental preset: every firing acts once — each fired
/// firing made exactly its tasks and deals, no action id twice.
#[tokio::test]
async fn every_firing_of_a_random_history_happens_once() {
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 0..3 {
        let w = World::new(CONFIG, tuesday());
        let t = w.tenant();
        w.app.load_preset(&t, "dental").await.unwrap();
        let mut leads = Vec::new();
        for i in 0..4 {
            leads.push(submit(&w, "web", &format!("+9053244{round}{i:04}")).await);
        }
        settle(&w).await;
        let stages = [
            ("appointments", "taken_into_work"),
            ("appointments", "booking_created"),
            ("appointments", "patient_arrived"),
            ("appointments", "patient_did_not_come"),
            ("patient_base", "choosing_time"),
            ("patient_base", "declined"),
            ("coordinators", "plan_approved"),
            ("reactivation", "choosing_time"),
        ];
        for _ in 0..40 {
            let deals = all_deals(&w).await;
            match rng.u8(0..4) {
                0 | 1 if !deals.is_empty() => {
                    let d = &deals[rng.usize(..deals.len())];
                    let (p, s) = stages[rng.usize(..stages.len())];
                    if p == d.pipeline.as_str() {
                        let _ = w.app.move_deal(&t, d.id.as_str(), None, s).await;
                    }
                }
                2 if !deals.is_empty() => {
                    let d = &deals[rng.usize(..deals.len())];
                    let flag = if rng.bool() {
                        "in_treatment"
                    } else {
                        "first_visit"
                    };
                    w.app
                        .flag_deal(
                            &t,
                            d.id.as_str(),
                            BTreeMap::from([(flag.to_owned(), rng.bool())]),
                        )
                        .await
                        .unwrap();
                }
                _ => {
                    w.clock.advance(SignedDuration::from_mins(rng.i64(1..600)));
                }
            }
            if rng.bool() {
                settle(&w).await;
            }
        }
        settle(&w).await;
        let tasks = automation_tasks(&w).await;
        let mut ids: Vec<String> = tasks.iter().map(|t| t.id.to_string()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), tasks.len());
        // Every fired firing's task and deal actions exist, once.
        let mut expected_tasks = 0;
        let mut expected_deals = 0;
        for rule in w.app.list_rules(&t).await.unwrap() {
            let mut cursor = None;
            loop {
                let page = w
                    .app
                    .list_firings(
                        &t,
                        rule.id.as_str(),
                        Some(FiringState::Fired),
                        200,
                        cursor.as_deref(),
                    )
                    .await
                    .unwrap();
                for f in &page.items {
                    for a in &f.actions {
                        match a.kind.as_str() {
                            "create_task" => expected_tasks += 1,
                            "copy_to_pipeline" if a.id.is_some() => expected_deals += 1,
                            _ => {}
                        }
                    }
                }
                match page.next {
                    Some(n) => cursor = Some(n),
                    None => break,
                }
            }
        }
        assert_eq!(tasks.len(), expected_tasks, "round {round}");
        // Every deal is a firing's copy (the leads' into Appointments first), once.
        assert_eq!(all_deals(&w).await.len(), expected_deals, "round {round}");
        assert!(expected_deals >= leads.len());
    }
}

async fn all_deals(w: &World) -> Vec<clinicflow_core::pipeline::Deal> {
    let t = w.tenant();
    let mut all = Vec::new();
    for p in [
        "appointments",
        "patient_base",
        "coordinators",
        "reactivation",
    ] {
        let mut cursor: Option<String> = None;
        loop {
            let page = w
                .app
                .list_deals(&t, p, None, 200, cursor.as_deref())
                .await
                .unwrap();
            all.extend(page.items);
            match page.next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
    }
    all
}

/// A rule that fired every day for a week and then not for a day raises
/// one task for the branch manager.
#[tokio::test]
async fn a_rule_that_fired_daily_and_falls_silent_raises_an_alert() {
    let w = World::new(CONFIG, tuesday());
    let t = w.tenant();
    w.app
        .create_rule(
            &t,
            Some("greet-call"),
            spec(json!({
                "name": "Call every new lead",
                "subject": "lead",
                "trigger": {"kind": "record_created"},
                "actions": [{"type": "create_task", "assignee": {"role": "responsible"}, "title": "Call"}]
            })),
        )
        .await
        .unwrap();
    w.app
        .set_rule_active(&t, "greet-call", None, true, true, None)
        .await
        .unwrap();
    let alerts = |tasks: Vec<Task>| {
        tasks
            .into_iter()
            .filter(|t| t.id.as_str().starts_with("silent-"))
            .count()
    };
    for day in 0..7 {
        w.clock.advance(SignedDuration::from_hours(2));
        submit(&w, "web", &format!("+90532660000{day}")).await;
        settle(&w).await;
        w.clock.advance(SignedDuration::from_hours(22));
        settle(&w).await;
        assert_eq!(alerts(tasks(&w).await), 0, "day {day}");
    }
    // A day without a single new lead.
    w.clock.advance(SignedDuration::from_hours(24));
    settle(&w).await;
    let all = tasks(&w).await;
    let alert: Vec<&Task> = all
        .iter()
        .filter(|t| t.id.as_str().starts_with("silent-"))
        .collect();
    assert_eq!(alert.len(), 1, "{all:?}");
    assert_eq!(alert[0].assignee.as_str(), "selin");
    assert!(alert[0].title.contains("Call every new lead"));
    // The next day it is no longer a rule that fires daily: no new alert.
    w.clock.advance(SignedDuration::from_hours(24));
    settle(&w).await;
    assert_eq!(alerts(tasks(&w).await), 1);
}

/// The preset's stalled-deal alert counts the branch's opening hours: a
/// request left unclaimed on Friday evening alerts the supervisor on
/// Monday morning, not over the weekend; a claimed one never.
#[tokio::test]
async fn a_stalled_deal_alerts_the_supervisor_in_opening_hours() {
    // Friday 4 December 2026, 18:50 in Istanbul: 10 minutes before closing.
    let w = World::new(CONFIG, ist(2026, 12, 4, 18, 50));
    let t = w.tenant();
    w.app.load_preset(&t, "dental").await.unwrap();
    submit(&w, "web", "+905326700001").await;
    submit(&w, "web", "+905326700002").await;
    settle(&w).await;
    let deals = all_deals(&w).await;
    assert_eq!(deals.len(), 2);
    w.app
        .move_deal(&t, deals[1].id.as_str(), None, "taken_into_work")
        .await
        .unwrap();
    let stalled = |tasks: Vec<Task>| -> Vec<Task> {
        tasks
            .into_iter()
            .filter(|t| t.title == "A new request waits unclaimed")
            .collect()
    };
    // Saturday is open 10:00-16:00: the 5 minutes left fall due at 10:05.
    w.clock.set(ist(2026, 12, 5, 10, 4));
    settle(&w).await;
    assert!(stalled(tasks(&w).await).is_empty());
    w.clock.set(ist(2026, 12, 5, 10, 6));
    settle(&w).await;
    let alerted = stalled(tasks(&w).await);
    assert_eq!(alerted.len(), 1, "{alerted:?}");
    assert_eq!(alerted[0].assignee.as_str(), "selin");
    assert_eq!(
        alerted[0].about,
        clinicflow_core::ids::RecordRef::Deal(deals[0].id.clone())
    );
}

/// A webhook action posts the firing — ids, no patient data — to the
/// clinic's callback URL through the ledger, once.
#[tokio::test]
async fn a_webhook_action_posts_the_firing_to_the_clinics_system_once() {
    let w = World::new(CONFIG, tuesday());
    let t = w.tenant();
    w.app
        .create_rule(
            &t,
            Some("tell-the-mis"),
            spec(json!({
                "name": "Tell the MIS of every new lead",
                "subject": "lead",
                "trigger": {"kind": "record_created"},
                "actions": [{"type": "webhook"}]
            })),
        )
        .await
        .unwrap();
    w.app
        .set_rule_active(&t, "tell-the-mis", None, true, false, None)
        .await
        .unwrap();
    let lead = submit(&w, "web", "+905326800001").await;
    settle(&w).await;
    let posts: Vec<_> = w
        .messages()
        .await
        .into_iter()
        .filter(|m| m.channel.as_str() == "webhook")
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].to, "https://mis.clinic.example/hooks/clinicflow");
    assert_eq!(posts[0].status.as_str(), "sent");
    assert!(posts[0].firing.is_some());
    let body: serde_json::Value = serde_json::from_str(&posts[0].body).unwrap();
    assert_eq!(body["rule"], "tell-the-mis");
    assert_eq!(body["lead"], lead.as_str());
    assert!(!posts[0].body.contains("+90532"), "no patient data");
}

/// A firing whose actions fail every time it is tried ends `failed`, with
/// the error, and counts as failed in the rule's health.
#[tokio::test]
async fn a_firing_that_fails_every_time_is_marked_failed_with_its_error() {
    use clinicflow_core::ids::DealId;
    use clinicflow_ports::{Condition, Item, Write};
    let w = World::new(CONFIG, tuesday());
    let t = w.tenant();
    let pipeline: clinicflow_core::pipeline::Pipeline = serde_json::from_value(json!({
        "id": "care", "name": "Care", "stages": [{"id": "open", "name": "Open"}]
    }))
    .unwrap();
    w.app.put_pipeline(&t, "care", pipeline).await.unwrap();
    w.app
        .create_rule(
            &t,
            Some("into-care"),
            spec(json!({
                "name": "Every lead into Care",
                "subject": "lead",
                "trigger": {"kind": "record_created"},
                "actions": [{"type": "copy_to_pipeline", "pipeline": "care", "stage": "open"}]
            })),
        )
        .await
        .unwrap();
    w.app
        .set_rule_active(&t, "into-care", None, true, false, None)
        .await
        .unwrap();
    submit(&w, "web", "+905326900001").await;
    w.drain(1).await;
    // Something else already holds the id the copy would take: every try fails.
    let armed = w
        .app
        .list_firings(&t, "into-care", None, 10, None)
        .await
        .unwrap()
        .items;
    assert_eq!(armed[0].state, FiringState::Pending);
    let taken = DealId::new(armed[0].action_id(0)).unwrap();
    let key = clinicflow_app::keys::deal(&t.id, &taken);
    w.store
        .write(vec![Write::Put {
            item: Item {
                key,
                version: 1,
                gsi1: None,
                gsi2: None,
                expires_at: None,
                body: "{}".into(),
            },
            condition: Condition::Absent,
        }])
        .await
        .unwrap();
    w.drain(1).await;
    for _ in 0..12 {
        let _ = w.app.sweep_due_timers().await;
        w.clock.advance(SignedDuration::from_secs(61));
    }
    let firings = w
        .app
        .list_firings(&t, "into-care", None, 10, None)
        .await
        .unwrap()
        .items;
    assert_eq!(firings.len(), 1);
    assert_eq!(firings[0].state, FiringState::Failed, "{:?}", firings[0]);
    assert!(
        firings[0]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("busy")
    );
    assert_eq!(w.app.rule_health(&t, "into-care").await.unwrap().failed, 1);
}
