//! The use cases on the real embedded store with a manual clock: duplicate
//! work, overlapping sweeps, SLA across closing hours, delivery failures,
//! loads and returning patients, deterministically.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use clinicflow_app::Tuning;
use clinicflow_app::usecases::{ContactInput, StageInput, TaskFilter};
use clinicflow_core::assignment::Rule;
use clinicflow_core::lead::ContactKind;
use clinicflow_core::message::{Message, MessageStatus};
use clinicflow_ports::{Messenger, QueueName, Receipt, SendError, SendRate};
use common::World;
use jiff::civil::date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

const CONFIG: &str = r#"
[[tenants]]
id = "clinic"
name = "Test Clinic"
default_language = "tr"
staff_tokens = ["usecase-staff-token-0001"]
sla = { first_contact = "10m", reassign_after = "30m" }

[[tenants.managers]]
id = "selin"
name = "Selin Kaya"
phone = "+90 532 000 00 01"

[[tenants.branches]]
id = "kadikoy"
name = "Kadıköy"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["mon-fri 09:00-19:00"]

[[tenants.consultants]]
id = "elif"
name = "Elif Demir"
branch = "kadikoy"
languages = ["tr"]
shifts = ["mon-fri 09:00-19:00"]

[[tenants.consultants]]
id = "mert"
name = "Mert Aydın"
branch = "kadikoy"
languages = ["tr"]
shifts = ["mon-fri 09:00-19:00"]

[[tenants.forms]]
id = "web"
"#;

/// Monday 2026-11-23 in Istanbul.
fn monday(h: i8, m: i8) -> Timestamp {
    TimeZone::get("Europe/Istanbul")
        .unwrap()
        .to_timestamp(date(2026, 11, 23).at(h, m, 0, 0))
        .unwrap()
}

#[tokio::test]
async fn every_work_message_handled_twice_changes_nothing() {
    let w = World::new(CONFIG, monday(10, 0));
    let a = w.submit("0532 111 11 11").await;
    let b = w.submit("0532 222 22 22").await;
    w.drain(2).await;
    let t = w.tenant();
    let leads = w.leads().await;
    assert_eq!(leads.len(), 2);
    // Fair: one each, despite every message arriving twice.
    let owners: Vec<String> = leads
        .iter()
        .map(|l| l.owner.as_ref().unwrap().consultant.to_string())
        .collect();
    assert!(
        owners.contains(&"elif".to_owned()) && owners.contains(&"mert".to_owned()),
        "{owners:?}"
    );
    let messages = w.messages().await;
    assert_eq!(messages.len(), 2);
    assert!(
        messages
            .iter()
            .all(|m| m.status == MessageStatus::Sent && m.attempts == 1)
    );
    // Each message was put to the channel exactly once.
    let records = w.sandbox_records().await;
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|d| d.requests == 1), "{records:?}");
    for id in [a, b] {
        let d = w.app.lead_detail(&t, &id).await.unwrap();
        let kinds: Vec<&str> = d.timers.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["sla_warn", "sla_reassign"],
            "no leftover safety-net timers"
        );
    }
}

#[tokio::test]
async fn overlapping_sweeps_fire_each_timer_once() {
    let w = World::new(CONFIG, monday(10, 0));
    for i in 0..20 {
        w.submit(&format!("0532 300 00 {i:02}")).await;
    }
    w.drain(1).await;
    w.clock.set(monday(10, 10));
    let (r1, r2, r3) = tokio::join!(
        w.app.sweep_due_timers(),
        w.app.sweep_due_timers(),
        w.app.sweep_due_timers()
    );
    let fired = r1.unwrap().fired + r2.unwrap().fired + r3.unwrap().fired;
    assert_eq!(fired, 20, "each warn timer fired exactly once");
    w.drain(3).await;
    let t = w.tenant();
    let tasks = w
        .app
        .list_tasks(&t, &TaskFilter::default(), 200, None)
        .await
        .unwrap()
        .items;
    assert_eq!(tasks.len(), 20);
    let alerts = w
        .messages()
        .await
        .into_iter()
        .filter(|m| m.kind.as_str() == "sla_alert")
        .count();
    assert_eq!(alerts, 20);
    assert_eq!(w.sandbox_deliveries().await, 40);
}

#[tokio::test]
async fn the_sla_counts_opening_hours_only() {
    // Monday 23:00: the branch opens Tuesday 09:00, so the manager is
    // warned at 09:10 and the lead reassigned at 09:30.
    let w = World::new(CONFIG, monday(23, 0));
    let id = w.submit("0532 444 44 44").await;
    w.drain(1).await;
    let t = w.tenant();
    let lead = w.app.lead_detail(&t, &id).await.unwrap().lead;
    assert_eq!(
        lead.owner.as_ref().unwrap().rule,
        Rule::BranchLanguageNextShift
    );
    let first = lead.owner.unwrap().consultant;

    let tuesday = |h, m| monday(h, m) + SignedDuration::from_hours(24);
    w.clock.set(tuesday(9, 9));
    assert_eq!(w.app.sweep_due_timers().await.unwrap().fired, 0);
    w.clock.set(tuesday(9, 10));
    assert_eq!(w.app.sweep_due_timers().await.unwrap().fired, 1);
    w.drain(1).await;
    let detail = w.app.lead_detail(&t, &id).await.unwrap();
    assert_eq!(detail.tasks.len(), 1);
    let alert = detail
        .messages
        .iter()
        .find(|m| m.kind.as_str() == "sla_alert")
        .unwrap();
    assert_eq!(alert.status, MessageStatus::Sent);
    assert_eq!(alert.to, "+905320000001");

    w.clock.set(tuesday(9, 30));
    assert_eq!(w.app.sweep_due_timers().await.unwrap().fired, 1);
    let lead = w.app.lead_detail(&t, &id).await.unwrap().lead;
    assert_eq!(lead.past_owners, std::slice::from_ref(&first));
    assert_ne!(lead.owner.as_ref().unwrap().consultant, first);
    assert_eq!(lead.sla_cycle, 1);
    // The new owner's own cycle: warned at 09:40 unless someone calls.
    let contact = ContactInput {
        kind: ContactKind::Call,
        by: None,
        note: None,
    };
    w.clock.set(tuesday(9, 35));
    w.app.record_contact(&t, &id, contact).await.unwrap();
    w.clock.set(tuesday(12, 0));
    assert_eq!(w.app.sweep_due_timers().await.unwrap().fired, 0);
    let detail = w.app.lead_detail(&t, &id).await.unwrap();
    assert_eq!(detail.tasks.len(), 1);
    assert!(detail.timers.is_empty());
}

#[tokio::test]
async fn loads_follow_assignment_reassignment_and_closing() {
    let w = World::new(CONFIG, monday(10, 0));
    let t = w.tenant();
    let id = w.submit("0532 555 55 55").await;
    w.drain(1).await;
    let owner = w
        .app
        .lead_detail(&t, &id)
        .await
        .unwrap()
        .lead
        .owner
        .unwrap()
        .consultant;
    // A second lead goes to the other consultant: fewest open leads.
    let other = w.submit("0532 555 55 56").await;
    w.drain(1).await;
    let other_owner = w
        .app
        .lead_detail(&t, &other)
        .await
        .unwrap()
        .lead
        .owner
        .unwrap()
        .consultant;
    assert_ne!(owner, other_owner);
    // Closing the first frees its owner, who gets the next lead.
    w.app
        .move_stage(
            &t,
            &id,
            StageInput {
                stage: "lost".into(),
                reason: Some("price".into()),
            },
        )
        .await
        .unwrap();
    let third = w.submit("0532 555 55 57").await;
    w.drain(1).await;
    assert_eq!(
        w.app
            .lead_detail(&t, &third)
            .await
            .unwrap()
            .lead
            .owner
            .unwrap()
            .consultant,
        owner
    );

    // The lost patient comes back: a new lead, to their consultant.
    let back = w.submit("+90 532 555 55 55").await;
    assert_ne!(back, id);
    w.drain(1).await;
    let lead = w.app.lead_detail(&t, &back).await.unwrap().lead;
    let o = lead.owner.unwrap();
    assert_eq!((o.consultant, o.rule), (owner, Rule::ReturningPatient));
}

type Answer = Box<dyn Fn(&Message) -> Result<Receipt, SendError> + Send + Sync>;

/// A channel whose answers are scripted per message, shaped like the
/// messenger port; it counts the calls made for greetings.
struct Scripted {
    answer: Answer,
    greeting_calls: Mutex<usize>,
    deduplicates: bool,
}

impl Scripted {
    /// Greetings get `greeting`'s answer; every other message is sent.
    fn new(
        greeting: impl Fn() -> Result<Receipt, SendError> + Send + Sync + 'static,
        deduplicates: bool,
    ) -> Arc<Self> {
        Arc::new(Scripted {
            answer: Box::new(move |m: &Message| {
                if m.kind.as_str() == "greeting" {
                    greeting()
                } else {
                    Ok(Receipt {
                        provider: "scripted".into(),
                        provider_id: m.id.to_string(),
                    })
                }
            }),
            greeting_calls: Mutex::new(0),
            deduplicates,
        })
    }

    fn calls(&self) -> usize {
        *self.greeting_calls.lock().unwrap()
    }
}

#[async_trait]
impl Messenger for Scripted {
    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        if message.kind.as_str() == "greeting" {
            *self.greeting_calls.lock().unwrap() += 1;
        }
        (self.answer)(message)
    }

    fn deduplicates(&self, _: &Message) -> bool {
        self.deduplicates
    }

    fn rate(&self, _: &Message) -> Option<SendRate> {
        None
    }
}

async fn greeting_of(w: &World) -> Message {
    w.messages()
        .await
        .into_iter()
        .find(|m| m.kind.as_str() == "greeting")
        .unwrap()
}

fn retryable() -> Result<Receipt, SendError> {
    Err(SendError::Retryable {
        code: "429".into(),
        reason: "rate limited".into(),
    })
}

#[tokio::test]
async fn retryable_failures_back_off_and_then_give_up() {
    let channel = Scripted::new(retryable, true);
    let c = channel.clone();
    let w = World::with_messenger(CONFIG, monday(10, 0), move |_| c);
    w.submit("0532 666 66 66").await;
    w.drain(1).await;
    let greeting = greeting_of(&w).await;
    assert_eq!(
        (greeting.status, greeting.attempts),
        (MessageStatus::Queued, 1)
    );
    assert_eq!(greeting.error.as_ref().unwrap().code, "429");
    // Retries come from the delivery timer, later each time, five attempts in all.
    let mut at = monday(10, 0);
    for _ in 0..10 {
        at += SignedDuration::from_hours(1);
        w.clock.set(at);
        w.app.sweep_due_timers().await.unwrap();
    }
    let greeting = greeting_of(&w).await;
    assert_eq!(greeting.status, MessageStatus::Failed);
    assert_eq!(greeting.attempts, Tuning::default().max_send_attempts);
    assert!(
        greeting
            .error
            .as_ref()
            .unwrap()
            .reason
            .contains("gave up after 5 attempts")
    );
    assert_eq!(channel.calls(), 5);
}

#[tokio::test]
async fn a_permanent_failure_fails_at_once() {
    let channel = Scripted::new(
        || {
            Err(SendError::Permanent {
                code: "21211".into(),
                reason: "invalid number".into(),
            })
        },
        true,
    );
    let c = channel.clone();
    let w = World::with_messenger(CONFIG, monday(10, 0), move |_| c);
    w.submit("0532 777 77 77").await;
    w.drain(2).await;
    let greeting = greeting_of(&w).await;
    assert_eq!(greeting.status, MessageStatus::Failed);
    assert_eq!(greeting.error.as_ref().unwrap().code, "21211");
    assert_eq!(channel.calls(), 1);
    w.clock.set(monday(12, 0));
    w.app.sweep_due_timers().await.unwrap();
    assert_eq!(
        channel.calls(),
        1,
        "a failed message is never sent again by itself"
    );
}

#[tokio::test]
async fn an_interrupted_send_is_not_repeated_on_a_channel_that_cannot_deduplicate() {
    let channel = Scripted::new(retryable, false);
    let c = channel.clone();
    let w = World::with_messenger(CONFIG, monday(10, 0), move |_| c);
    w.submit("0532 888 88 88").await;
    // Assign, but keep the greeting's delivery from running.
    for d in w
        .queue
        .receive(QueueName::Leads, 10, Duration::from_secs(60))
        .await
        .unwrap()
    {
        w.app.handle_work(&d.body).await.unwrap();
    }
    // A sender claimed it and died before recording the outcome: the
    // ledger entry is `sending` under a lease that runs out at 10:01.
    let message = greeting_of(&w).await;
    let key = clinicflow_app::keys::message(&message.tenant, &message.about, &message.id);
    let item = w.store.get(&key).await.unwrap().unwrap();
    let mut claimed = message.clone();
    claimed.status = MessageStatus::Sending;
    claimed.lease_until = Some(monday(10, 1));
    w.store
        .write(vec![clinicflow_ports::Write::Put {
            item: clinicflow_ports::Item {
                version: item.version + 1,
                body: serde_json::to_string(&claimed).unwrap(),
                ..item.clone()
            },
            condition: clinicflow_ports::Condition::VersionIs(item.version),
        }])
        .await
        .unwrap();
    // While the lease runs, nobody else sends.
    let busy = w
        .app
        .deliver_message(&message.tenant, &message.about, &message.id)
        .await;
    assert!(busy.is_err());
    // After it, the message fails visibly instead of risking a second copy.
    w.clock.set(monday(10, 5));
    w.app
        .deliver_message(&message.tenant, &message.about, &message.id)
        .await
        .unwrap();
    let after = greeting_of(&w).await;
    assert_eq!(after.status, MessageStatus::Failed);
    assert_eq!(after.error.as_ref().unwrap().code, "interrupted");
    assert_eq!(channel.calls(), 0);
}

#[tokio::test]
async fn a_reassigned_patient_comes_back_to_the_new_owner() {
    let w = World::new(CONFIG, monday(10, 0));
    let t = w.tenant();
    let id = w.submit("0532 121 21 21").await;
    w.drain(1).await;
    let first = w
        .app
        .lead_detail(&t, &id)
        .await
        .unwrap()
        .lead
        .owner
        .unwrap();
    // Nobody calls: at 10:30 the lead moves to the other consultant.
    w.clock.set(monday(10, 30));
    w.app.sweep_due_timers().await.unwrap();
    w.drain(1).await;
    let lead = w.app.lead_detail(&t, &id).await.unwrap().lead;
    let second = lead.owner.unwrap().consultant;
    assert_ne!(second, first.consultant);
    // The new owner closes it; the patient returns and goes to them.
    w.app
        .move_stage(
            &t,
            &id,
            StageInput {
                stage: "lost".into(),
                reason: Some("price".into()),
            },
        )
        .await
        .unwrap();
    let back = w.submit("0532 121 21 21").await;
    assert_ne!(back, id);
    w.drain(1).await;
    let o = w
        .app
        .lead_detail(&t, &back)
        .await
        .unwrap()
        .lead
        .owner
        .unwrap();
    assert_eq!((o.consultant, o.rule), (second, Rule::ReturningPatient));
}

#[tokio::test]
async fn a_sweep_that_finds_warning_and_reassignment_due_does_both() {
    // The sweep was down for an hour: both deadlines have passed.
    let w = World::new(CONFIG, monday(10, 0));
    let t = w.tenant();
    let id = w.submit("0532 131 31 31").await;
    w.drain(1).await;
    w.clock.set(monday(11, 0));
    w.app.sweep_due_timers().await.unwrap();
    w.drain(1).await;
    let detail = w.app.lead_detail(&t, &id).await.unwrap();
    // The manager still hears about the first owner's breach, once.
    assert_eq!(detail.tasks.len(), 1, "{:?}", detail.tasks);
    let alerts: Vec<&Message> = detail
        .messages
        .iter()
        .filter(|m| m.kind.as_str() == "sla_alert")
        .collect();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].status, MessageStatus::Sent);
    assert_eq!(detail.lead.past_owners.len(), 1);
    assert_eq!(detail.lead.sla_cycle, 1);
    // Sweeping again changes nothing for cycle 0.
    w.app.sweep_due_timers().await.unwrap();
    w.drain(1).await;
    let again = w.app.lead_detail(&t, &id).await.unwrap();
    assert_eq!(again.tasks.len(), 1);
    assert_eq!(again.lead.past_owners.len(), 1);
}

#[tokio::test]
async fn a_patient_known_by_phone_and_email_is_found_by_either() {
    let w = World::new(CONFIG, monday(10, 0));
    let id = w
        .submit_fields(&[("phone", "0532 141 41 41"), ("email", "ayse@example.com")])
        .await;
    w.drain(1).await;
    let by_email = w.submit_fields(&[("email", "Ayse@Example.com")]).await;
    assert_eq!(by_email, id);
    let by_phone = w.submit_fields(&[("phone", "+90 532 141 41 41")]).await;
    assert_eq!(by_phone, id);
    let t = w.tenant();
    let detail = w.app.lead_detail(&t, &id).await.unwrap();
    assert_eq!(detail.touches.len(), 3);
}

#[tokio::test]
async fn a_contact_before_assignment_means_no_sla() {
    let w = World::new(CONFIG, monday(10, 0));
    let t = w.tenant();
    let id = w.submit("0532 151 51 51").await;
    // The consultant calls before the assignment work has run.
    w.app
        .record_contact(
            &t,
            &id,
            ContactInput {
                kind: ContactKind::Call,
                by: None,
                note: None,
            },
        )
        .await
        .unwrap();
    w.drain(1).await;
    let detail = w.app.lead_detail(&t, &id).await.unwrap();
    assert!(detail.lead.owner.is_some());
    assert!(detail.timers.is_empty(), "{:?}", detail.timers);
    w.clock.set(monday(12, 0));
    assert_eq!(w.app.sweep_due_timers().await.unwrap().fired, 0);
    assert!(w.app.lead_detail(&t, &id).await.unwrap().tasks.is_empty());
}

/// The test clinic answering on Instagram first (its sender the sandbox).
fn instagram_clinic() -> String {
    CONFIG.replacen(
        "[[tenants.managers]]",
        r#"[tenants.messaging]
order = ["instagram", "sms"]

[tenants.instagram]
account_id = "17841400000000001"
access_token = "env:UNUSED_HERE"
app_secret = "env:UNUSED_HERE"
verify_token = "env:UNUSED_HERE"

[[tenants.managers]]"#,
        1,
    )
}

/// A direct message from account 17841400000000042 now, as the webhook
/// queues it.
fn instagram_dm(w: &World, id: &str, text: &str, payload: Option<&str>) -> clinicflow_ports::Write {
    use clinicflow_app::work::Work;
    use clinicflow_core::ids::TenantId;
    use clinicflow_core::inbound::{Inbound, InboundMessage};
    use clinicflow_core::message::Channel;
    use clinicflow_ports::Clock;
    Work::Inbound {
        tenant: TenantId::new("clinic").unwrap(),
        inbound: Inbound::Message(InboundMessage {
            provider: "instagram".into(),
            provider_id: id.into(),
            channel: Channel::Instagram,
            from: "17841400000000042".into(),
            name: None,
            text: text.into(),
            at: w.clock.now(),
            referral: None,
            payload: payload.map(str::to_owned),
            context: None,
        }),
    }
    .enqueue()
}

#[tokio::test]
async fn an_instagram_patient_is_answered_there_only_inside_the_window() {
    use clinicflow_core::message::{Channel, Purpose};

    let w = World::new(&instagram_clinic(), monday(10, 0));
    let dm = |id: &str, text: &str| instagram_dm(&w, id, text, None);
    w.store
        .write(vec![dm("mid.1", "Merhaba, implant fiyatı nedir?")])
        .await
        .unwrap();
    w.drain(1).await;
    let t = w.tenant();
    let leads = w.leads().await;
    assert_eq!(leads.len(), 1);
    let lead = leads[0].clone();
    assert_eq!(lead.source, "instagram");
    assert!(lead.reach.phone.is_none());
    let greeting = &w.messages().await[0];
    assert_eq!(greeting.channel, Channel::Instagram);
    assert_eq!(greeting.to, "17841400000000042");

    // Inside the window a reply goes on Instagram; a day after the
    // patient's message no channel can carry one.
    w.clock.advance(SignedDuration::from_hours(23));
    let reply = w
        .app
        .send_reply(&t, lead.id.as_str(), "Yarın 10:00?", Purpose::Operational)
        .await
        .unwrap();
    assert_eq!(reply.channel, Channel::Instagram);
    w.clock.advance(SignedDuration::from_hours(1));
    let refused = w
        .app
        .send_reply(&t, lead.id.as_str(), "Yarın 10:00?", Purpose::Operational)
        .await;
    assert!(
        matches!(&refused, Err(clinicflow_app::AppError::Conflict(why)) if why.contains("Instagram")),
        "{refused:?}"
    );
    // The patient writes again: a touch on the same lead, the window open again.
    w.store
        .write(vec![dm("mid.2", "Cumartesi olur mu?")])
        .await
        .unwrap();
    w.drain(1).await;
    let detail = w.app.lead_detail(&t, lead.id.as_str()).await.unwrap();
    assert_eq!(detail.touches.len(), 2);
    let reply = w
        .app
        .send_reply(&t, lead.id.as_str(), "Olur.", Purpose::Operational)
        .await
        .unwrap();
    assert_eq!(reply.channel, Channel::Instagram);
}

#[tokio::test]
async fn an_instagram_patient_is_asked_their_language_with_quick_replies() {
    use clinicflow_core::message::Channel;
    use clinicflow_core::template::TemplateKind;

    let config = instagram_clinic()
        .replacen(r#"languages = ["tr"]"#, r#"languages = ["tr", "en"]"#, 1)
        .replacen(
            "[tenants.instagram]",
            "[tenants.language_question]\nwait = \"10m\"\n\n[tenants.instagram]",
            1,
        );
    let w = World::new(&config, monday(10, 0));
    let dm = |id: &str, text: &str, payload: Option<&str>| instagram_dm(&w, id, text, payload);
    // "Hi": no language to read, no phone to hint one: asked.
    w.store.write(vec![dm("mid.1", "Hi", None)]).await.unwrap();
    w.drain(1).await;
    let t = w.tenant();
    let lead = w.leads().await.remove(0);
    assert!(lead.owner.is_none(), "waiting for the answer");
    let question = w.messages().await.remove(0);
    assert_eq!(question.kind, TemplateKind::LanguageQuestion);
    assert_eq!(question.channel, Channel::Instagram);
    let payloads: Vec<&str> = question
        .buttons
        .iter()
        .map(|b| b.payload.as_str())
        .collect();
    assert_eq!(payloads, ["lang.tr", "lang.en"]);
    // The patient taps English: the language is theirs, the lead assigned.
    w.clock.advance(SignedDuration::from_mins(1));
    w.store
        .write(vec![dm("mid.2", "English", Some("lang.en"))])
        .await
        .unwrap();
    w.drain(1).await;
    let lead = w.app.lead_detail(&t, lead.id.as_str()).await.unwrap().lead;
    assert_eq!(lead.language.as_str(), "en");
    assert_eq!(lead.owner.unwrap().consultant.as_str(), "elif");
}
