//! Clinicflow's use cases, written once against the ports, and the HTTP
//! routes that expose them. A Lambda function and the local server build an
//! [`App`] from their adapters and call the same methods.
//!
//! - [`usecases`]: submit a form, assign, deliver, record contact, move a
//!   stage, sweep due timers, and the staff queries.
//! - [`http`]: the axum router (forms, staff API, OpenAPI document).
//! - [`config`]: reading the configuration file.
//! - [`keys`], [`records`]: the single-table design and typed records.
//! - [`work`]: messages between functions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use clinicflow_channels::Credentials;
use clinicflow_core::config::Directory;
use clinicflow_core::ids::TenantId;
use clinicflow_ports::{Clock, Ids, ItemStore, LeadFetcher, Messenger};
use jiff::SignedDuration;
use serde::Deserialize;

pub mod config;
pub mod error;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod records;
pub mod usecases;
pub mod work;

pub use error::AppError;

/// Everything a use case needs: the tenants and the adapters behind the ports.
pub struct App {
    pub directory: Arc<Directory>,
    pub store: Arc<dyn ItemStore>,
    pub messenger: Arc<dyn Messenger>,
    /// Reads the leads a network's webhook only names (Meta's Graph API).
    pub leads: Arc<dyn LeadFetcher>,
    /// The providers' credentials, for verifying their webhooks.
    pub credentials: Arc<Credentials>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn Ids>,
    pub tuning: Tuning,
    /// The tenants' keys for signing patients' links, read once per process.
    pub link_keys: LinkKeys,
    /// The tenants' automation rules, read again when their revision moves.
    pub rule_cache: usecases::automations::RuleCache,
}

impl App {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        directory: Arc<Directory>,
        store: Arc<dyn ItemStore>,
        messenger: Arc<dyn Messenger>,
        leads: Arc<dyn LeadFetcher>,
        credentials: Arc<Credentials>,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn Ids>,
        tuning: Tuning,
    ) -> App {
        App {
            directory,
            store,
            messenger,
            leads,
            credentials,
            clock,
            ids,
            tuning,
            link_keys: LinkKeys::default(),
            rule_cache: Default::default(),
        }
    }
}

/// Keys a process reads once and keeps: each tenant's link key.
#[derive(Debug, Default)]
pub struct LinkKeys(Mutex<HashMap<TenantId, Vec<u8>>>);

impl LinkKeys {
    pub fn get(&self, tenant: &TenantId) -> Option<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
            .cloned()
    }

    pub fn put(&self, tenant: &TenantId, key: Vec<u8>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.clone(), key);
    }
}

/// Timings of the machinery (not of the clinic's rules, which are per tenant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tuning {
    /// How long a claim on a timer or a message lasts before another worker may take over.
    pub lease: SignedDuration,
    /// How long pending work waits for its queue message before the sweep
    /// does it anyway: longer than a normal backlog lasts, so that it only
    /// acts when the message was lost or dead-lettered.
    pub safety_net: SignedDuration,
    /// Delivery attempts before a message fails for good.
    pub max_send_attempts: u32,
    /// Wait before the first retry of a failed delivery; doubles each time, up to an hour.
    pub retry_base: SignedDuration,
    /// Due timers read per index shard and sweep round.
    pub sweep_batch: usize,
}

impl Tuning {
    /// What is wrong with these timings, as (field, problem).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut at_least = |field: &str, value: SignedDuration, min: SignedDuration| {
            if value < min {
                problems.push((field.to_owned(), format!("must be at least {min:#}")));
            }
        };
        at_least("lease", self.lease, SignedDuration::from_secs(1));
        at_least("safety_net", self.safety_net, SignedDuration::from_secs(1));
        at_least(
            "retry_base",
            self.retry_base,
            SignedDuration::from_millis(100),
        );
        if self.max_send_attempts == 0 {
            problems.push(("max_send_attempts".into(), "must be at least 1".into()));
        }
        if !(1..=1000).contains(&self.sweep_batch) {
            problems.push(("sweep_batch".into(), "must be from 1 to 1000".into()));
        }
        problems
    }
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            lease: SignedDuration::from_secs(60),
            safety_net: SignedDuration::from_mins(5),
            max_send_attempts: 5,
            retry_base: SignedDuration::from_secs(30),
            sweep_batch: 100,
        }
    }
}
