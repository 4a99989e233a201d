//! A lead-ad form's lead, from the queue: read through the clinic's
//! mapping into a lead (or a touch on the patient's open lead) like a post
//! of our form; a form nobody mapped still makes a lead, with its raw
//! answers on the touch and a task for the default branch's manager; a
//! network's test lead is stored as the form's last test and makes nothing
//! else. Each lead is handled once: its inbox marker (keyed by the
//! network's lead id) lands in the same transaction as its effects.

use clinicflow_core::ids::{RecordRef, TenantId};
use clinicflow_core::lead::Touch;
use clinicflow_core::lead_ads::{self, LeadAd, LeadNotice, Read};
use clinicflow_core::task::{self, Task, TaskKind};
use clinicflow_core::tenant::Tenant;
use clinicflow_ports::{FetchError, Query};
use tracing::{info, warn};

use super::{MAX_ROUNDS, busy, landed};
use crate::error::AppError;
use crate::records::{self, Handled, LeadAdTest};
use crate::{App, keys};

impl App {
    /// The last test lead of each of the tenant's lead-ad forms.
    pub async fn lead_ad_tests(&self, tenant: &TenantId) -> Result<Vec<LeadAdTest>, AppError> {
        let page = self
            .store
            .query(&Query::partition(keys::lead_ad_tests(tenant)))
            .await?;
        page.items.iter().map(records::decode).collect()
    }

    /// A lead a network's webhook named: read from the network (a failure
    /// leaves it on the queue: retried, then dead-lettered and alarmed),
    /// then handled like a lead delivered with its answers.
    pub(super) async fn lead_notice(
        &self,
        tenant: &Tenant,
        notice: &LeadNotice,
        event_id: &str,
    ) -> Result<(), AppError> {
        // Handled already: no need to ask the network again.
        if self
            .store
            .get(&keys::inbox(&tenant.id, event_id))
            .await?
            .is_some()
        {
            return Ok(());
        }
        let network = notice.network.as_str();
        let ad = self.leads.fetch(&tenant.id, notice).await.map_err(|e| {
            warn!(tenant = %tenant.id, network, page = %notice.page_id, error = %e, "lead could not be read from the network");
            match e {
                FetchError::Retryable(why) => AppError::Unavailable(why),
                FetchError::Permanent(why) => AppError::Internal(why),
            }
        })?;
        self.lead_ad(tenant, &ad, event_id).await
    }

    pub(super) async fn lead_ad(
        &self,
        tenant: &Tenant,
        ad: &LeadAd,
        event_id: &str,
    ) -> Result<(), AppError> {
        let inbox = keys::inbox(&tenant.id, event_id);
        let network = ad.network.as_str();
        let read = lead_ads::read(tenant, ad);
        for _ in 0..MAX_ROUNDS {
            // Handled already: a redelivery, or a concurrent copy that won.
            if self.store.get(&inbox).await?.is_some() {
                return Ok(());
            }
            let now = self.clock.now();
            let marker = |lead| records::inbox(&tenant.id, event_id, &Handled { at: now, lead });
            if ad.test {
                let writes = vec![
                    records::lead_ad_test(&tenant.id, &test_record(ad, &read))?,
                    marker(None)?,
                ];
                if landed(self.store.write(writes).await)? {
                    info!(tenant = %tenant.id, network, form = %ad.form_id, "lead-ad test lead stored");
                    return Ok(());
                }
                continue;
            }
            let (submission, form, why) = match &read {
                Read::Mapped { submission, form } => (submission, Some(form), None),
                Read::Unmapped { submission, why } => (submission, None, Some(why)),
                Read::Unreadable(problem) => {
                    // Left on the queue: retried, then dead-lettered (and
                    // alarmed), never silently dropped.
                    warn!(tenant = %tenant.id, network, form = %ad.form_id, "lead-ad lead unreadable");
                    return Err(AppError::Internal(format!(
                        "lead-ad lead unreadable: {problem}"
                    )));
                }
            };
            let source = ad.network.lead_source();
            let touch = Touch {
                id: self.ids.new_id(),
                at: ad.at,
                source: source.to_owned(),
                form: form.cloned(),
                attribution: submission.attribution.clone(),
                service: submission.service.clone(),
                message: match why {
                    // Every answer, as it came: nobody retypes them.
                    Some(_) => Some(lead_ads::answers_text(ad)),
                    None => submission.message.clone(),
                },
                consents: submission.consents,
            };
            let id = self.new_lead_id()?;
            let mut extra = vec![marker(Some(id.clone()))?];
            if let Some(why) = why {
                let branch = tenant.default_branch();
                extra.push(records::task(
                    &tenant.id,
                    &Task {
                        id: task::unmapped_lead_form_id(&id),
                        about: RecordRef::Lead(id.clone()),
                        kind: TaskKind::UnmappedLeadForm,
                        assignee: (&branch.manager).into(),
                        title: format!("Lead {id} came unmapped: {why}"),
                        created_at: now,
                        due_at: None,
                        firing: None,
                        done_at: None,
                    },
                    None,
                )?);
            }
            if self
                .create_lead(
                    &tenant.id, &id, source, form, submission, &touch, extra, now,
                )
                .await?
                .is_some()
            {
                info!(tenant = %tenant.id, lead = %id, network, form = %ad.form_id, mapped = why.is_none(), "lead-ad lead created");
                return Ok(());
            }
            if let Some(lead) = self
                .touch_open_lead(&tenant.id, submission, &touch, vec![marker(None)?])
                .await?
            {
                info!(tenant = %tenant.id, lead = %lead, network, form = %ad.form_id, "lead-ad lead recorded as a touch on the open lead");
                return Ok(());
            }
        }
        Err(busy("lead-ad lead"))
    }
}

/// What a test lead showed of the clinic's mapping.
fn test_record(ad: &LeadAd, read: &Read) -> LeadAdTest {
    let (form, outcome, problem) = match read {
        Read::Mapped { form, .. } => (Some(form.clone()), "mapped", None),
        Read::Unmapped { why, .. } => (None, "unmapped", Some(why.clone())),
        Read::Unreadable(p) => (None, "unreadable", Some(p.clone())),
    };
    LeadAdTest {
        network: ad.network.as_str().to_owned(),
        form_id: ad.form_id.clone(),
        lead_id: ad.lead_id.clone(),
        at: ad.at,
        form,
        questions: ad.answers.iter().map(|(k, _)| k.clone()).collect(),
        outcome: outcome.to_owned(),
        problem,
    }
}
