//! The use cases' test world: the real embedded store in a temporary
//! directory, a manual clock, the sandbox channel (or a given messenger),
//! and helpers that drain the queues as the consumers would.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use clinicflow_app::config::{Config, parse};
use clinicflow_app::usecases::{LeadFilter, MessageFilter};
use clinicflow_app::{App, Tuning};
use clinicflow_channels::meta_leads::MetaReader;
use clinicflow_channels::sandbox::Delivery;
use clinicflow_channels::{Credentials, SandboxMessenger};
use clinicflow_core::lead::Lead;
use clinicflow_core::message::Message;
use clinicflow_core::tenant::Tenant;
use clinicflow_embedded::{Database, EmbeddedQueue};
use clinicflow_ports::{ItemStore, ManualClock, Messenger, Query, QueueName, UlidIds};
use jiff::Timestamp;

pub struct World {
    pub app: Arc<App>,
    pub clock: Arc<ManualClock>,
    pub queue: EmbeddedQueue,
    pub store: Arc<dyn ItemStore>,
    _dir: tempfile::TempDir,
}

impl World {
    pub fn new(config: &str, at: Timestamp) -> World {
        World::with_messenger(config, at, |store| Arc::new(SandboxMessenger::new(store)))
    }

    pub fn with_messenger(
        config: &str,
        at: Timestamp,
        messenger: impl FnOnce(Arc<dyn ItemStore>) -> Arc<dyn Messenger>,
    ) -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let store: Arc<dyn ItemStore> = Arc::new(db.store());
        let queue = db.queue();
        let config: Config<serde::de::IgnoredAny> = parse(config).unwrap();
        let clock = Arc::new(ManualClock::new(at));
        let directory = Arc::new(config.directory);
        let credentials = Arc::new(Credentials::default());
        let leads = MetaReader::new(
            clinicflow_channels::http::client().unwrap(),
            directory.clone(),
            credentials.clone(),
        );
        let app = Arc::new(App::new(
            directory,
            store.clone(),
            messenger(store.clone()),
            Arc::new(leads),
            credentials,
            clock.clone(),
            Arc::new(UlidIds::default()),
            Tuning::default(),
        ));
        World {
            app,
            clock,
            queue,
            store,
            _dir: dir,
        }
    }

    pub fn tenant(&self) -> Arc<Tenant> {
        self.app.directory.tenants().next().unwrap().clone()
    }

    /// The tenant's leads, newest first (the first 50).
    pub async fn leads(&self) -> Vec<Lead> {
        self.app
            .list_leads(&self.tenant(), &LeadFilter::default(), 50, None)
            .await
            .unwrap()
            .items
    }

    pub async fn submit(&self, phone: &str) -> String {
        let fields = vec![
            ("phone".to_owned(), phone.to_owned()),
            ("name".to_owned(), "Ayşe Kaya".to_owned()),
        ];
        self.app
            .submit_form("web", &fields)
            .await
            .unwrap()
            .id()
            .to_owned()
    }

    /// Handles every queued message, each `times` times (a redelivering queue).
    pub async fn drain(&self, times: usize) -> usize {
        let mut handled = 0;
        loop {
            let mut any = false;
            for q in QueueName::ALL {
                let batch = self
                    .queue
                    .receive(q, 10, Duration::from_secs(60))
                    .await
                    .unwrap();
                for d in &batch {
                    for _ in 0..times {
                        self.app.handle_work(&d.body).await.unwrap();
                    }
                    handled += 1;
                    any = true;
                }
                let ids: Vec<i64> = batch.iter().map(|d| d.id).collect();
                self.queue.delete(q, &ids).await.unwrap();
            }
            if !any {
                return handled;
            }
        }
    }

    pub async fn messages(&self) -> Vec<Message> {
        let t = self.tenant();
        self.app
            .list_messages(&t, &MessageFilter::default(), 200, None)
            .await
            .unwrap()
            .items
    }

    pub async fn sandbox_deliveries(&self) -> usize {
        self.sandbox_records().await.len()
    }

    pub async fn sandbox_records(&self) -> Vec<Delivery> {
        let mut records = Vec::new();
        for partition in SandboxMessenger::partitions("clinic") {
            let mut query = Query::partition(partition);
            loop {
                let page = self.store.query(&query).await.unwrap();
                records.extend(
                    page.items
                        .iter()
                        .map(|i| serde_json::from_str(&i.body).unwrap()),
                );
                match page.next {
                    Some(next) => query.after = Some(next),
                    None => break,
                }
            }
        }
        records
    }

    pub async fn submit_fields(&self, fields: &[(&str, &str)]) -> String {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.app
            .submit_form("web", &fields)
            .await
            .unwrap()
            .id()
            .to_owned()
    }
}
