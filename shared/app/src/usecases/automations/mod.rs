//! The clinic's own automation rules, and the pipelines and deals they
//! work on.
//!
//! - `rules`: saving (every save a new version, checked, loops refused),
//!   activating, deactivating and deleting rules; what an edit does to the
//!   pending firings.
//! - `pipelines`: a tenant's pipelines, the presets, and the deals in them.
//! - `subjects`: a lead, deal or appointment as the engine sees it.
//! - `arm`: the events of a record arming firings (the `assign` consumer).
//! - `fire`: the sweep firing a due firing: checked, acted, explained, once.
//! - `health`: a rule that fired daily and fell silent raises a task.
//! - `preview`: who a rule hits now and in the next seven days, "run now"
//!   and activation arming exactly that; a rule's last execution.

mod arm;
mod fire;
mod health;
mod pipelines;
mod preview;
mod rules;
mod subjects;

pub(crate) use arm::automation_events;
pub use pipelines::{DealInput, DealView, PresetLoaded};
pub use preview::{Preview, PreviewEntry, RuleHealth};
pub use rules::RuleSaved;
pub(crate) use subjects::status_entry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use clinicflow_core::automation::Rule;
use clinicflow_core::automation::plan::Place;
use clinicflow_core::automation::spec::Catalog;
use clinicflow_core::ids::TenantId;
use clinicflow_core::message::Channel;
use clinicflow_core::pipeline::Pipeline;
use clinicflow_core::tenant::{Branch, Tenant};
use clinicflow_ports::{Query, SortKey};

use crate::error::AppError;
use crate::records::{self, Versioned};
use crate::{App, keys};

/// A tenant's rules, each at its stored version.
type Rules = Arc<Vec<Versioned<Rule>>>;

/// A tenant's rules as last read, with the revision they were read at.
#[derive(Debug, Default)]
pub struct RuleCache(Mutex<HashMap<TenantId, (u64, Rules)>>);

impl RuleCache {
    fn get(&self, tenant: &TenantId, revision: u64) -> Option<Rules> {
        let cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(tenant)
            .filter(|(r, _)| *r == revision)
            .map(|(_, rules)| rules.clone())
    }

    fn put(&self, tenant: &TenantId, revision: u64, rules: Rules) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.clone(), (revision, rules));
    }
}

/// The time zone and hours rules count in for a branch.
fn place(branch: &Branch) -> Place<'_> {
    Place {
        zone: &branch.time_zone,
        hours: &branch.opening_hours,
    }
}

impl App {
    /// Every rule of the tenant (active or not), read through the
    /// process's cache: one small read when nothing changed.
    async fn rules_of(&self, tenant: &TenantId) -> Result<Rules, AppError> {
        let Some(revision) =
            records::get::<u64>(self.store.as_ref(), &keys::rules_revision(tenant)).await?
        else {
            // The tenant never saved a rule.
            return Ok(Rules::default());
        };
        let revision = revision.value;
        if let Some(rules) = self.rule_cache.get(tenant, revision) {
            return Ok(rules);
        }
        let mut query = Query::partition(keys::rules_pk(tenant));
        query.sk = SortKey::BeginsWith("R#".into());
        let mut rules = Vec::new();
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                rules.push(Versioned {
                    value: records::decode::<Rule>(item)?,
                    version: item.version,
                });
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let rules = Arc::new(rules);
        self.rule_cache.put(tenant, revision, rules.clone());
        Ok(rules)
    }

    /// The tenant's pipelines: the leads' own first, then its stored ones.
    async fn pipelines(&self, tenant: &TenantId) -> Result<Vec<Versioned<Pipeline>>, AppError> {
        let mut all = vec![Versioned {
            value: Pipeline::leads(),
            version: 0,
        }];
        let mut query = Query::partition(keys::pipelines_pk(tenant));
        query.sk = SortKey::BeginsWith("P#".into());
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                all.push(Versioned {
                    value: records::decode(item)?,
                    version: item.version,
                });
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(all),
            }
        }
    }
}

/// What a rule's references are checked against.
fn catalog<'a>(tenant: &'a Tenant, pipelines: &'a [Pipeline]) -> Catalog<'a> {
    let mut channels: Vec<Channel> = tenant.messaging.routing.channels().collect();
    channels.extend(
        tenant
            .branches
            .iter()
            .flat_map(|b| b.channels.iter().flatten()),
    );
    channels.sort();
    channels.dedup();
    Catalog {
        pipelines,
        templates: tenant
            .blasts
            .templates
            .iter()
            .map(|(id, t)| (id.as_str(), t.purpose))
            .collect(),
        channels,
        consultants: tenant.consultants.iter().map(|c| c.id.as_str()).collect(),
        managers: tenant.managers.iter().map(|m| m.id.as_str()).collect(),
        branches: tenant.branches.iter().map(|b| b.id.as_str()).collect(),
        practitioners: tenant.practitioners.iter().map(|p| p.id.as_str()).collect(),
        services: tenant.services.iter().map(|s| s.id.as_str()).collect(),
        forms: tenant.forms.iter().map(|f| f.id.as_str()).collect(),
        webhook: tenant.appointments.callback.is_some(),
    }
}
