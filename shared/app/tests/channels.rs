//! Channels in the use cases, on the real embedded store: a permanent
//! failure falls back to the next channel; each sender keeps its rate
//! across concurrent consumers; inbound events handled once whatever the
//! redelivery.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use clinicflow_app::config::{Config, parse};
use clinicflow_app::usecases::MessageFilter;
use clinicflow_app::work::Work;
use clinicflow_app::{App, Tuning};
use clinicflow_channels::Credentials;
use clinicflow_channels::meta_leads::MetaReader;
use clinicflow_core::ids::TenantId;
use clinicflow_core::inbound::{Inbound, InboundMessage};
use clinicflow_core::message::{Channel, HandledVia, Message, MessageStatus};
use clinicflow_embedded::{Database, EmbeddedQueue};
use clinicflow_ports::{
    Clock, ItemStore, Messenger, QueueName, Receipt, SendError, SendRate, SystemClock, UlidIds,
};
use jiff::Timestamp;

const CONFIG: &str = r#"
[[tenants]]
id = "clinic"
name = "Test Clinic"
default_language = "tr"
staff_tokens = ["channels-staff-token-0001"]

[tenants.messaging]
order = ["whatsapp", "sms"]

[tenants.whatsapp]
phone_number_id = "106540352242922"
access_token = "env:UNUSED_HERE"
app_secret = "env:UNUSED_HERE"
verify_token = "env:UNUSED_HERE"

[tenants.whatsapp.templates.greeting]
name = "greeting_v1"
params = ["first_name"]

[[tenants.managers]]
id = "selin"
name = "Selin Kaya"
email = "selin@clinic.example"

[[tenants.branches]]
id = "main"
name = "Main"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["daily 00:00-24:00"]

[[tenants.consultants]]
id = "elif"
name = "Elif Demir"
branch = "main"
languages = ["tr"]
shifts = ["daily 00:00-24:00"]

[[tenants.forms]]
id = "web"
"#;

/// A provider whose answer per channel is scripted, recording each call.
struct Scripted {
    fail_whatsapp: bool,
    per_second: Option<u32>,
    calls: Mutex<Vec<(Channel, Timestamp)>>,
}

#[async_trait]
impl Messenger for Scripted {
    async fn send(&self, message: &Message) -> Result<Receipt, SendError> {
        self.calls
            .lock()
            .unwrap()
            .push((message.channel, Timestamp::now()));
        if self.fail_whatsapp && message.channel == Channel::Whatsapp {
            return Err(SendError::Permanent {
                code: "131026".into(),
                reason: "Message undeliverable".into(),
            });
        }
        Ok(Receipt {
            provider: message.channel.as_str().into(),
            provider_id: format!("p-{}", message.id),
        })
    }

    fn deduplicates(&self, _: &Message) -> bool {
        false
    }

    fn rate(&self, _: &Message) -> Option<SendRate> {
        self.per_second.map(|per_second| SendRate {
            sender: "whatsapp:106540352242922".into(),
            per_second,
        })
    }
}

struct World {
    apps: Vec<Arc<App>>,
    queue: EmbeddedQueue,
    provider: Arc<Scripted>,
    _dir: tempfile::TempDir,
}

impl World {
    /// `consumers` apps over one store and one provider, as concurrent
    /// Lambda instances would be.
    fn new(provider: Scripted, consumers: usize) -> World {
        World::with_config(CONFIG, provider, consumers)
    }

    fn with_config(config: &str, provider: Scripted, consumers: usize) -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let store: Arc<dyn ItemStore> = Arc::new(db.store());
        let config: Config<serde::de::IgnoredAny> = parse(config).unwrap();
        let directory = Arc::new(config.directory);
        let provider = Arc::new(provider);
        let apps = (0..consumers)
            .map(|_| {
                let credentials = Arc::new(Credentials::default());
                let leads = MetaReader::new(
                    clinicflow_channels::http::client().unwrap(),
                    directory.clone(),
                    credentials.clone(),
                );
                Arc::new(App::new(
                    directory.clone(),
                    store.clone(),
                    provider.clone(),
                    Arc::new(leads),
                    credentials,
                    Arc::new(SystemClock) as Arc<dyn Clock>,
                    Arc::new(UlidIds::default()),
                    Tuning::default(),
                ))
            })
            .collect();
        World {
            apps,
            queue: db.queue(),
            provider,
            _dir: dir,
        }
    }

    /// Every queued message handled by the consumers at once, until none is left.
    async fn drain(&self) {
        loop {
            let mut batch = Vec::new();
            for q in QueueName::ALL {
                let got = self
                    .queue
                    .receive(q, 100, Duration::from_secs(60))
                    .await
                    .unwrap();
                let ids: Vec<i64> = got.iter().map(|d| d.id).collect();
                self.queue.delete(q, &ids).await.unwrap();
                batch.extend(got.into_iter().map(|d| d.body));
            }
            if batch.is_empty() {
                return;
            }
            let mut tasks = Vec::new();
            for (i, body) in batch.into_iter().enumerate() {
                let app = self.apps[i % self.apps.len()].clone();
                tasks.push(tokio::spawn(async move {
                    app.handle_work(&body).await.unwrap()
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    }

    async fn messages(&self) -> Vec<Message> {
        let app = &self.apps[0];
        let tenant = app.directory.tenants().next().unwrap().clone();
        app.list_messages(&tenant, &MessageFilter::default(), 200, None)
            .await
            .unwrap()
            .items
    }

    async fn submit(&self, phone: &str) {
        let fields = vec![
            ("phone".to_owned(), phone.to_owned()),
            ("name".to_owned(), "Ayşe Kaya".to_owned()),
        ];
        self.apps[0].submit_form("web", &fields).await.unwrap();
    }
}

#[tokio::test]
async fn a_permanent_whatsapp_failure_falls_back_to_sms() {
    let w = World::new(
        Scripted {
            fail_whatsapp: true,
            per_second: None,
            calls: Mutex::default(),
        },
        1,
    );
    w.submit("0532 111 22 33").await;
    w.drain().await;
    let messages = w.messages().await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let first = messages.iter().find(|m| m.previous.is_none()).unwrap();
    let second = messages.iter().find(|m| m.previous.is_some()).unwrap();
    assert_eq!(first.channel, Channel::Whatsapp);
    assert_eq!(first.status, MessageStatus::Failed);
    assert!(first.template.is_some(), "outside the window: the template");
    assert_eq!(first.error.as_ref().unwrap().code, "131026");
    let handled = first.handled.as_ref().unwrap();
    assert_eq!(handled.via, HandledVia::Fallback);
    assert_eq!(handled.next.as_ref(), Some(&second.id));
    assert_eq!(second.channel, Channel::Sms);
    assert_eq!(second.status, MessageStatus::Sent);
    assert_eq!(second.previous.as_ref(), Some(&first.id));
    assert_eq!(second.to, "+905321112233");
    assert!(second.template.is_none());
    assert!(second.fallbacks.is_empty());
}

#[tokio::test]
async fn each_sender_keeps_its_rate_across_concurrent_consumers() {
    let per_second = 4;
    let w = World::new(
        Scripted {
            fail_whatsapp: false,
            per_second: Some(per_second),
            calls: Mutex::default(),
        },
        3,
    );
    for i in 0..14 {
        w.submit(&format!("0532 100 00 {i:02}")).await;
    }
    w.drain().await;
    let calls = w.provider.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 14);
    let mut per_wall_second: BTreeMap<i64, u32> = BTreeMap::new();
    for (_, at) in &calls {
        *per_wall_second.entry(at.as_second()).or_default() += 1;
    }
    assert!(
        per_wall_second.values().all(|&n| n <= per_second),
        "{per_wall_second:?}"
    );
    assert!(
        w.messages()
            .await
            .iter()
            .all(|m| m.status == MessageStatus::Sent)
    );
}

#[tokio::test]
async fn an_inbound_message_redelivered_is_handled_once_and_opens_the_window() {
    let w = World::new(
        Scripted {
            fail_whatsapp: false,
            per_second: None,
            calls: Mutex::default(),
        },
        2,
    );
    let inbound = Inbound::Message(InboundMessage {
        provider: "whatsapp".into(),
        provider_id: "wamid.ONE".into(),
        channel: Channel::Whatsapp,
        from: "+905321112233".into(),
        name: Some("Ayşe".into()),
        text: "Merhaba #GADS-42".into(),
        at: Timestamp::now(),
        referral: None,
        payload: None,
        context: None,
    });
    let work = Work::Inbound {
        tenant: TenantId::new("clinic").unwrap(),
        inbound,
    }
    .to_body();
    // Three deliveries at once, on two consumers.
    let mut tasks = Vec::new();
    for i in 0..3 {
        let app = w.apps[i % 2].clone();
        let work = work.clone();
        tasks.push(tokio::spawn(async move { app.handle_work(&work).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    w.drain().await;
    let app = &w.apps[0];
    let tenant = app.directory.tenants().next().unwrap().clone();
    let leads = app
        .list_leads(&tenant, &Default::default(), 50, None)
        .await
        .unwrap()
        .items;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].source, "whatsapp");
    assert_eq!(
        leads[0].attribution.utm_campaign.as_deref(),
        Some("GADS-42")
    );
    let detail = app
        .lead_detail(&tenant, leads[0].id.as_str())
        .await
        .unwrap();
    assert_eq!(detail.touches.len(), 1);
    let greeting = detail
        .messages
        .iter()
        .find(|m| m.kind.as_str() == "greeting")
        .unwrap();
    assert_eq!(greeting.channel, Channel::Whatsapp);
    assert!(greeting.template.is_none(), "inside the window: free-form");
    assert_eq!(greeting.status, MessageStatus::Sent);
}

fn quiet_provider() -> Scripted {
    Scripted {
        fail_whatsapp: false,
        per_second: None,
        calls: Mutex::default(),
    }
}

fn whatsapp_from(phone: &str, id: &str, text: &str) -> String {
    Work::Inbound {
        tenant: TenantId::new("clinic").unwrap(),
        inbound: Inbound::Message(InboundMessage {
            provider: "whatsapp".into(),
            provider_id: id.into(),
            channel: Channel::Whatsapp,
            from: phone.into(),
            name: None,
            text: text.into(),
            at: Timestamp::now(),
            referral: None,
            payload: None,
            context: None,
        }),
    }
    .to_body()
}

#[tokio::test]
async fn a_branch_order_wins_for_its_patients_and_the_owner_hears_of_replies() {
    // The tenant prefers WhatsApp; this branch texts its patients by SMS.
    let config = CONFIG
        .replace(
            "opening_hours = [\"daily 00:00-24:00\"]",
            "opening_hours = [\"daily 00:00-24:00\"]\nchannels = [\"sms\"]",
        )
        .replace(
            "shifts = [\"daily 00:00-24:00\"]",
            "shifts = [\"daily 00:00-24:00\"]\nphone = \"+90 532 000 00 09\"",
        );
    let w = World::with_config(&config, quiet_provider(), 1);
    w.submit("0532 111 22 33").await;
    w.drain().await;
    let greeting = w.messages().await.pop().unwrap();
    assert_eq!(greeting.channel, Channel::Sms);
    assert!(greeting.fallbacks.is_empty());

    // The patient writes on WhatsApp: the owner, Elif, is told by SMS.
    w.apps[0]
        .handle_work(&whatsapp_from(
            "+905321112233",
            "wamid.R1",
            "Yarın gelebilir miyim?",
        ))
        .await
        .unwrap();
    w.drain().await;
    let notice = w
        .messages()
        .await
        .into_iter()
        .find(|m| m.kind.as_str() == "inbound_notice")
        .expect("a notice to the owner");
    assert_eq!(notice.to, "+905320000009");
    assert_eq!(notice.status, MessageStatus::Sent);
    assert!(notice.body.contains("WhatsApp"), "{}", notice.body);
}

#[tokio::test]
async fn stop_and_start_words_change_the_subscription_with_a_record() {
    let w = World::new(quiet_provider(), 1);
    w.submit("0532 111 22 33").await;
    w.drain().await;
    let app = &w.apps[0];
    let tenant = app.directory.tenants().next().unwrap().clone();
    let lead = app
        .list_leads(&tenant, &Default::default(), 10, None)
        .await
        .unwrap()
        .items
        .remove(0);
    app.handle_work(&whatsapp_from("+905321112233", "wamid.S1", "Stop"))
        .await
        .unwrap();
    let refused = app
        .send_reply(
            &tenant,
            lead.id.as_str(),
            "Kampanya",
            clinicflow_core::message::Purpose::Promotional,
        )
        .await;
    assert!(
        matches!(refused, Err(clinicflow_app::AppError::Conflict(_))),
        "{refused:?}"
    );
    // Operational messages still go (inside the window the STOP opened).
    let operational = app
        .send_reply(
            &tenant,
            lead.id.as_str(),
            "Randevunuz yarın 10:00",
            clinicflow_core::message::Purpose::Operational,
        )
        .await
        .unwrap();
    assert_eq!(operational.channel, Channel::Whatsapp);
    app.handle_work(&whatsapp_from("+905321112233", "wamid.S2", "START"))
        .await
        .unwrap();
    let promotional = app
        .send_reply(
            &tenant,
            lead.id.as_str(),
            "Kampanya",
            clinicflow_core::message::Purpose::Promotional,
        )
        .await
        .unwrap();
    assert_eq!(promotional.channel, Channel::Whatsapp);
    // Neither word is a touch on the lead; both are consent records, with
    // time, source and channel, beside the patient.
    let detail = app.lead_detail(&tenant, lead.id.as_str()).await.unwrap();
    assert_eq!(detail.touches.len(), 1);
    let partition = clinicflow_app::keys::patient_pk(&tenant.id, &lead.contact_key);
    let records: Vec<serde_json::Value> = app
        .store
        .query(&clinicflow_ports::Query::partition(partition))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|i| i.key.sk.starts_with("CONSENT#"))
        .map(|i| serde_json::from_str(&i.body).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["marketing"], false);
    assert_eq!(records[0]["channel"], "whatsapp");
    assert_eq!(records[0]["source"], "whatsapp");
    assert_eq!(records[1]["marketing"], true);
}

#[tokio::test]
async fn a_language_the_patient_writes_in_hands_a_new_lead_to_a_consultant_who_speaks_it() {
    use clinicflow_app::usecases::LeadFilter;
    use clinicflow_core::language::LanguageSource;
    use clinicflow_core::lead::LeadEvent;
    // Elif speaks Turkish; Olga Russian.
    let config = CONFIG.replace(
        "[[tenants.forms]]",
        "[[tenants.consultants]]\nid = \"olga\"\nname = \"Olga Petrova\"\nbranch = \"main\"\nlanguages = [\"ru\"]\nshifts = [\"daily 00:00-24:00\"]\n\n[[tenants.forms]]",
    );
    let w = World::with_config(&config, quiet_provider(), 1);
    let app = &w.apps[0];
    let tenant = app.directory.tenants().next().unwrap().clone();
    let lead_of = || async {
        let leads = app
            .list_leads(&tenant, &LeadFilter::default(), 10, None)
            .await
            .unwrap()
            .items;
        assert_eq!(leads.len(), 1);
        app.lead_detail(&tenant, leads[0].id.as_str())
            .await
            .unwrap()
    };
    // A form post tells nothing of the language but the Turkish number.
    w.submit("0532 444 55 66").await;
    w.drain().await;
    let d = lead_of().await;
    assert_eq!(d.lead.language.as_str(), "tr");
    assert_eq!(
        d.lead.language_choice.as_ref().map(|c| c.source),
        Some(LanguageSource::PhoneCountry)
    );
    assert_eq!(d.lead.owner.as_ref().unwrap().consultant.as_str(), "elif");

    // A greeting tells nothing either.
    app.handle_work(&whatsapp_from("+905324445566", "wamid.L0", "Merhaba"))
        .await
        .unwrap();
    w.drain().await;
    assert_eq!(
        lead_of().await.lead.owner.unwrap().consultant.as_str(),
        "elif"
    );

    // The patient writes in Russian: the lead is Russian, and Olga's.
    app.handle_work(&whatsapp_from(
        "+905324445566",
        "wamid.L1",
        "Здравствуйте, сколько стоит имплант?",
    ))
    .await
    .unwrap();
    w.drain().await;
    let d = lead_of().await;
    assert_eq!(d.lead.language.as_str(), "ru");
    let choice = d.lead.language_choice.clone().unwrap();
    assert_eq!(choice.source, LanguageSource::Message);
    let owner = d.lead.owner.clone().unwrap();
    assert_eq!(owner.consultant.as_str(), "olga");
    assert!(
        owner.reason.starts_with("the patient writes in ru"),
        "{}",
        owner.reason
    );
    assert_eq!(d.lead.past_owners.len(), 1);
    assert!(d.history.iter().any(|h| matches!(
        &h.event,
        LeadEvent::Reassigned { from, to, .. } if from.as_str() == "elif" && to.as_str() == "olga"
    )));
    // Her own SLA cycle runs.
    assert!(d.timers.iter().any(|t| t.cycle == 1));

    // A Turkish message later does not take it back: a message's language
    // never outranks another message's.
    app.handle_work(&whatsapp_from(
        "+905324445566",
        "wamid.L2",
        "Merhaba, diş beyazlatma için randevu almak istiyorum",
    ))
    .await
    .unwrap();
    w.drain().await;
    let d = lead_of().await;
    assert_eq!(d.lead.language.as_str(), "ru");
    assert_eq!(d.lead.owner.unwrap().consultant.as_str(), "olga");
}
