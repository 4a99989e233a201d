use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::fields::Value;
use super::graph::cycle;
use super::plan::{Place, arm, check, state_event};
use super::spec::Catalog;
use super::*;
use crate::message::{Channel, Purpose};
use crate::pipeline::Pipeline;
use crate::schedule::WeeklySchedule;

fn catalog(pipelines: &[Pipeline]) -> Catalog<'_> {
    Catalog {
        pipelines,
        templates: vec![
            ("reminder", Purpose::Operational),
            ("offer", Purpose::Promotional),
        ],
        channels: vec![Channel::Whatsapp, Channel::Sms],
        consultants: BTreeSet::from(["ayse", "mehmet"]),
        managers: BTreeSet::from(["zeynep"]),
        branches: BTreeSet::from(["kadikoy"]),
        practitioners: BTreeSet::from(["dr-demir", "dr-kaya", "dr-aydin"]),
        services: BTreeSet::from(["implant"]),
        forms: BTreeSet::from(["contact"]),
        webhook: false,
    }
}

fn dental() -> Preset {
    preset("dental").unwrap().unwrap()
}

fn pipelines() -> Vec<Pipeline> {
    let mut all = vec![Pipeline::leads()];
    all.extend(dental().pipelines);
    all
}

fn rule(json: serde_json::Value) -> RuleSpec {
    serde_json::from_value(json).unwrap()
}

fn paths(spec: &RuleSpec) -> Vec<String> {
    let pipelines = pipelines();
    spec.problems(&catalog(&pipelines))
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

#[test]
fn the_dental_preset_is_valid_and_has_no_loop() {
    let preset = dental();
    assert_eq!(preset.pipelines.len(), 4);
    for p in &preset.pipelines {
        assert!(p.problems().is_empty(), "{p:?}");
    }
    let pipelines = pipelines();
    for r in &preset.rules {
        assert_eq!(r.spec.problems(&catalog(&pipelines)), vec![], "{}", r.id);
    }
    let rules: Vec<(&str, &RuleSpec)> = preset
        .rules
        .iter()
        .map(|r| (r.id.as_str(), &r.spec))
        .collect();
    assert_eq!(cycle(&rules), None);
}

#[test]
fn every_reference_is_checked_with_its_path() {
    let bad = rule(serde_json::json!({
        "name": "x", "subject": "deal",
        "trigger": {"kind": "stage_entered", "pipeline": "patient_base", "stage": "nowhere"},
        "conditions": {"all": [
            {"field": "deal.colour", "op": "eq", "value": "red"},
            {"field": "deal.branch", "op": "in", "value": ["kadikoy", "moon"]},
            {"field": "deal.in_treatment", "op": "eq", "value": "yes"},
            {"field": "deal.created_at", "op": "eq", "value": "x"}
        ]},
        "delay": {"for": "30s"},
        "actions": [
            {"type": "send_message", "template": "offer"},
            {"type": "send_message", "template": "nope"},
            {"type": "create_task", "assignee": {"person": "ghost"}, "title": "t"},
            {"type": "create_task", "assignee": {}, "title": ""},
            {"type": "move_stage", "stage": "nowhere"},
            {"type": "copy_to_pipeline", "pipeline": "leads", "stage": "new"},
            {"type": "reassign", "to": "ghost"},
            {"type": "webhook"}
        ]
    }));
    assert_eq!(
        paths(&bad),
        [
            "trigger.stage",
            "conditions.all[0].field",
            "conditions.all[1].value[1]",
            "conditions.all[2].value",
            "conditions.all[3].op",
            "delay.for",
            "actions[0].template",
            "actions[1].template",
            "actions[2].assignee.person",
            "actions[3].assignee",
            "actions[3].title",
            "actions[4].stage",
            "actions[5].pipeline",
            "actions[6].to",
            "actions[7].type",
        ]
    );
    let long = rule(serde_json::json!({
        "name": "x", "subject": "lead", "trigger": {"kind": "record_created"},
        "delay": {"for": "9000h"}, "actions": [{"type": "move_stage", "stage": "contacted"}]
    }));
    assert_eq!(paths(&long), ["delay.for"]);
    let appointment_stage = rule(serde_json::json!({
        "name": "x", "subject": "appointment",
        "trigger": {"kind": "stage_entered", "pipeline": "leads", "stage": "new"},
        "actions": [{"type": "move_stage", "stage": "new"}]
    }));
    assert_eq!(
        paths(&appointment_stage),
        ["trigger.kind", "actions[0].type"]
    );
}

fn stage_rule(from: &str, to: &str) -> RuleSpec {
    rule(serde_json::json!({
        "name": "x", "subject": "deal",
        "trigger": {"kind": "stage_entered", "pipeline": "patient_base", "stage": from},
        "actions": [{"type": "move_to_pipeline", "pipeline": "patient_base", "stage": to}]
    }))
}

#[test]
fn a_loop_is_found_with_its_path() {
    let a = stage_rule("in_treatment", "needs_attention");
    let b = stage_rule("needs_attention", "taken_into_work");
    let c = stage_rule("taken_into_work", "in_treatment");
    assert_eq!(
        cycle(&[("a", &a), ("b", &b), ("c", &c)]),
        Some(vec!["a", "b", "c", "a"])
    );
    assert_eq!(cycle(&[("a", &a), ("b", &b)]), None);
    let own = stage_rule("declined", "declined");
    assert_eq!(cycle(&[("own", &own)]), Some(vec!["own", "own"]));
}

/// Random rule sets over the dental stages: whenever `cycle` finds none,
/// no chain of effects from any rule comes back to it (checked by
/// following effects breadth-first), and whenever it finds one, the cycle
/// is real: each rule's effect triggers the next.
#[test]
fn cycles_are_found_exactly_in_random_rule_sets() {
    let stages = [
        "in_treatment",
        "patient_base",
        "needs_attention",
        "taken_into_work",
        "choosing_time",
        "declined",
    ];
    let mut rng = fastrand::Rng::with_seed(12);
    for _ in 0..500 {
        let n = rng.usize(1..7);
        let specs: Vec<(String, RuleSpec)> = (0..n)
            .map(|i| {
                let from = stages[rng.usize(..stages.len())];
                let to = stages[rng.usize(..stages.len())];
                let spec = if rng.bool() {
                    stage_rule(from, to)
                } else {
                    // A rule with no stage effect.
                    rule(serde_json::json!({
                        "name": "t", "subject": "deal",
                        "trigger": {"kind": "stage_entered", "pipeline": "patient_base", "stage": from},
                        "actions": [{"type": "create_task", "assignee": {"role": "responsible"}, "title": to}]
                    }))
                };
                (format!("r{i}"), spec)
            })
            .collect();
        let set: Vec<(&str, &RuleSpec)> = specs.iter().map(|(id, s)| (id.as_str(), s)).collect();
        let next = |r: &RuleSpec| -> Vec<usize> {
            let to = r.actions.iter().find_map(|a| match a {
                Action::MoveToPipeline { stage, .. } => Some(stage.clone()),
                _ => None,
            });
            set.iter()
                .enumerate()
                .filter(|(_, (_, o))| {
                    matches!((&o.trigger, &to), (Trigger::StageEntered { stage, .. }, Some(t)) if stage == t)
                })
                .map(|(i, _)| i)
                .collect()
        };
        let reaches_itself = (0..set.len()).any(|start| {
            let mut seen = vec![false; set.len()];
            let mut todo = next(set[start].1);
            while let Some(i) = todo.pop() {
                if i == start {
                    return true;
                }
                if !seen[i] {
                    seen[i] = true;
                    todo.extend(next(set[i].1));
                }
            }
            false
        });
        match cycle(&set) {
            None => assert!(!reaches_itself, "a loop was missed: {specs:?}"),
            Some(path) => {
                assert!(reaches_itself);
                assert_eq!(path.first(), path.last());
                for pair in path.windows(2) {
                    let i = set.iter().position(|(id, _)| *id == pair[0]).unwrap();
                    let j = set.iter().position(|(id, _)| *id == pair[1]).unwrap();
                    assert!(next(set[i].1).contains(&j), "{path:?}");
                }
            }
        }
    }
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn place(zone: &TimeZone, hours: &WeeklySchedule) -> Place<'static> {
    // Leaked for the test's lifetime only.
    Place {
        zone: Box::leak(Box::new(zone.clone())),
        hours: Box::leak(Box::new(hours.clone())),
    }
}

#[test]
fn a_time_trigger_follows_its_anchor_in_the_branch_zone_across_dst() {
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let hours = WeeklySchedule::parse(&["mon-fri 09:00-18:00"]).unwrap();
    let at = place(&berlin, &hours);
    let reminder = rule(serde_json::json!({
        "name": "day before at ten", "subject": "appointment",
        "trigger": {"kind": "time", "anchor": "appointment.starts_at", "offset": "-24h", "at_local": "10:00"},
        "actions": [{"type": "send_message", "template": "reminder"}]
    }));
    // Monday 30 March 2026, 09:30 in Berlin (summer time since Sunday 02:00).
    let start = ts("2026-03-30T07:30:00Z");
    let mut view = View::new();
    view.insert("appointment.starts_at".into(), Value::Time(start));
    view.insert("appointment.status".into(), Value::Text("booked".into()));
    let armed = arm(
        &reminder,
        &view,
        &plan::Event::Saved,
        ts("2026-03-20T00:00:00Z"),
        at,
    )
    .unwrap();
    // Sunday 29 March 10:00 CEST = 08:00 UTC (the day before was still CET at its start).
    assert_eq!(armed.math.due, ts("2026-03-29T08:00:00Z"));
    assert_eq!(armed.occurrence, format!("t-{}", start.as_millisecond()));
    let fine = check(&reminder, &armed.occurrence, &view, &View::new(), at);
    assert_eq!(fine.skip, None);
    // Moved: the old occurrence dies with a reason; the new one is its own.
    view.insert(
        "appointment.starts_at".into(),
        Value::Time(ts("2026-04-02T07:30:00Z")),
    );
    let moved = check(&reminder, &armed.occurrence, &view, &View::new(), at);
    assert_eq!(moved.skip, Some(SkipReason::AnchorChanged));
    view.insert("appointment.starts_at".into(), Value::Time(start));
    view.insert("appointment.status".into(), Value::Text("cancelled".into()));
    let cancelled = check(&reminder, &armed.occurrence, &view, &View::new(), at);
    assert_eq!(cancelled.skip, Some(SkipReason::RecordClosed));
    view.insert("appointment.status".into(), Value::Text("booked".into()));
    view.insert("patient.opted_out".into(), Value::Bool(true));
    let opted = check(&reminder, &armed.occurrence, &view, &View::new(), at);
    assert_eq!(opted.skip, Some(SkipReason::OptedOut));
}

#[test]
fn a_business_delay_counts_opening_hours_and_idle_dies_with_the_stay() {
    let istanbul = TimeZone::get("Europe/Istanbul").unwrap();
    let hours = WeeklySchedule::parse(&["mon-fri 09:00-18:00"]).unwrap();
    let at = place(&istanbul, &hours);
    let idle = rule(serde_json::json!({
        "name": "stalled", "subject": "deal",
        "trigger": {"kind": "idle", "pipeline": "appointments", "stage": "new_request", "for": "15m", "clock": "business"},
        "actions": [{"type": "create_task", "assignee": {"role": "supervisor"}, "title": "stalled"}]
    }));
    // Friday 17:55 in Istanbul: 5 minutes today, 10 on Monday from 09:00.
    let entered = ts("2026-12-04T14:55:00Z");
    let entry = crate::pipeline::stage_entry("new_request", entered);
    let event = plan::Event::StageEntered {
        pipeline: "appointments".into(),
        stage: "new_request".into(),
        entry: entry.clone(),
    };
    let mut view = View::new();
    view.insert("deal.pipeline".into(), Value::Text("appointments".into()));
    view.insert("deal.stage".into(), Value::Text("new_request".into()));
    view.insert("deal.stage_entry".into(), Value::Text(entry.clone()));
    view.insert("deal.stage_entered_at".into(), Value::Time(entered));
    let armed = arm(&idle, &view, &event, entered, at).unwrap();
    assert_eq!(armed.math.due, ts("2026-12-07T06:10:00Z"));
    assert_eq!(state_event(&idle, &view).map(|(e, _)| e), Some(event));
    assert_eq!(check(&idle, &entry, &view, &View::new(), at).skip, None);
    view.insert("deal.stage".into(), Value::Text("taken_into_work".into()));
    assert_eq!(
        check(&idle, &entry, &view, &View::new(), at).skip,
        Some(SkipReason::LeftStage)
    );
}

#[test]
fn conditions_are_explained_with_what_they_saw() {
    let istanbul = TimeZone::get("Europe/Istanbul").unwrap();
    let hours = WeeklySchedule::parse(&["mon-fri 09:00-18:00"]).unwrap();
    let at = place(&istanbul, &hours);
    let touch = rule(serde_json::json!({
        "name": "insurance visit follow-up", "subject": "lead",
        "trigger": {"kind": "touch_recorded", "touch_type": "visit"},
        "conditions": {"all": [{"field": "lead.source", "op": "eq", "value": "insurance"}]},
        "delay": {"for": "72h"},
        "actions": [{"type": "create_task", "assignee": {"role": "responsible"}, "title": "call"}]
    }));
    let event = plan::Event::TouchRecorded {
        touch_type: crate::lead::ContactKind::Visit,
        id: "e1".into(),
    };
    let mut view = View::new();
    view.insert("lead.source".into(), Value::Text("web".into()));
    let now = ts("2026-12-01T10:00:00Z");
    let armed = arm(&touch, &view, &event, now, at).unwrap();
    assert_eq!(armed.math.due, ts("2026-12-04T10:00:00Z"));
    let call = plan::Event::TouchRecorded {
        touch_type: crate::lead::ContactKind::Call,
        id: "e2".into(),
    };
    assert!(arm(&touch, &view, &call, now, at).is_none());
    let verdict = check(&touch, "e1", &view, &event.view(), at);
    assert_eq!(verdict.skip, Some(SkipReason::ConditionFalse));
    assert_eq!(
        verdict.conditions[0].actual,
        Some(Value::Text("web".into()))
    );
    assert!(!verdict.conditions[0].held);
}
