//! The preview: the filter's audience counted, every patient in one
//! bucket, a sample of the messages and their cost; the audience frozen
//! in pages for the send.

use std::collections::BTreeMap;

use clinicflow_core::appointment::Appointment;
use clinicflow_core::blast::{
    self, AudiencePage, Blast, BlastState, BlastTemplate, Bucket, Buckets, Candidate, Context,
    Cost, Filter, Planned, Sample,
};
use clinicflow_core::ids::{BlastId, RecordRef};
use clinicflow_core::lead::Lead;
use clinicflow_core::message::{self, Channel, Purpose};
use clinicflow_core::tenant::Tenant;
use clinicflow_ports::{Index, Query, SortKey, Write};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use super::{BlastView, PAGE_SIZE};
use crate::error::AppError;
use crate::records::{self, decode};
use crate::usecases::landed;
use crate::{App, keys};

/// Rendered messages a preview shows.
const SAMPLE: usize = 5;

/// What staff ask a blast for.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlastInput {
    /// A blast template of the clinic's configuration.
    pub template: String,
    /// Must be the template's, when given: said aloud so that nobody
    /// sends a promotion believing it operational.
    #[serde(default)]
    pub purpose: Option<Purpose>,
    #[serde(default)]
    pub filter: Filter,
    #[serde(default)]
    pub name: Option<String>,
}

/// A blast as planned from its input, with its frozen audience.
pub(super) struct Plan {
    pub blast: Blast,
    pub pages: Vec<AudiencePage>,
}

impl App {
    /// Counts and explains what a blast would do, and keeps it (frozen) for
    /// the send that quotes its id.
    pub async fn preview_blast(
        &self,
        tenant: &Tenant,
        input: BlastInput,
    ) -> Result<BlastView, AppError> {
        let now = self.clock.now();
        let plan = self.plan_blast(tenant, &input, now).await?;
        self.keep(tenant, &plan).await?;
        Ok(BlastView::previewed(plan.blast))
    }

    /// The blast `input` makes now, not yet stored.
    pub(super) async fn plan_blast(
        &self,
        tenant: &Tenant,
        input: &BlastInput,
        now: Timestamp,
    ) -> Result<Plan, AppError> {
        let template = tenant
            .blasts
            .templates
            .get(&input.template)
            .ok_or_else(|| {
                let known: Vec<&str> = tenant.blasts.templates.keys().map(String::as_str).collect();
                AppError::invalid(
                    "template",
                    if known.is_empty() {
                        "no such blast template: this clinic has none ([tenants.blasts.templates])"
                            .to_owned()
                    } else {
                        format!("no such blast template; they are: {}", known.join(", "))
                    },
                )
            })?;
        if let Some(purpose) = input.purpose
            && purpose != template.purpose
        {
            return Err(AppError::invalid(
                "purpose",
                format!(
                    "the template `{}` is {}: a {} blast needs a {} template",
                    template.id,
                    blast::purpose_str(template.purpose),
                    blast::purpose_str(purpose),
                    blast::purpose_str(purpose),
                ),
            ));
        }
        let candidates = self
            .audience(tenant, &input.filter, template.purpose, now)
            .await?;
        let missing = blast::missing_languages(template, &candidates);
        if !missing.is_empty() {
            let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
            return Err(AppError::invalid(
                "template",
                format!(
                    "the template `{}` has no text in {}, which patients of this audience read; add it to [tenants.blasts.templates.{}.text]",
                    template.id,
                    missing.join(", "),
                    template.id
                ),
            ));
        }
        let allowance = self.whatsapp_allowance(tenant, now).await?;
        let cx = Context {
            purpose: template.purpose,
            template,
            send_hours: &tenant.appointments.send_hours,
            whatsapp_allowance: allowance,
            promotional_per_patient: tenant.blasts.promotional_per_patient,
            now,
        };
        let buckets = blast::classify(&candidates, &cx);
        let fingerprint = blast::fingerprint(&candidates, &buckets);
        let id = BlastId::new(self.ids.new_id()).map_err(AppError::Internal)?;
        let planned: Vec<Planned> = candidates
            .iter()
            .zip(&buckets)
            .filter_map(|(c, b)| planned(c, b, template.purpose))
            .collect();
        let rows: Vec<(Channel, Option<String>, bool)> = candidates
            .iter()
            .zip(&buckets)
            .filter_map(|(c, b)| match b {
                Bucket::Send { route, template }
                | Bucket::Deferred {
                    route, template, ..
                } => Some((route.channel, c.country.clone(), *template)),
                Bucket::Excluded(_) => None,
            })
            .collect();
        let cost = Cost::estimate(&tenant.blasts, template.purpose, &rows);
        let mut sample = Vec::new();
        for p in planned.iter().take(SAMPLE) {
            sample.push(self.sample(tenant, template, p).await?);
        }
        let pages: Vec<AudiencePage> = planned
            .chunks(PAGE_SIZE)
            .enumerate()
            .map(|(i, chunk)| AudiencePage {
                page: u32::try_from(i).unwrap_or(u32::MAX),
                recipients: chunk.to_vec(),
            })
            .collect();
        let whatsapp_templates = planned
            .iter()
            .filter(|p| p.template && p.route.channel == Channel::Whatsapp)
            .count();
        let counted = Buckets::of(&buckets);
        let blast = Blast {
            id,
            tenant: tenant.id.clone(),
            name: input.name.clone(),
            template: template.id.clone(),
            purpose: template.purpose,
            filter: input.filter.clone(),
            state: BlastState::Previewed,
            reason: None,
            planned: counted.planned(),
            buckets: counted,
            pages: u32::try_from(pages.len()).unwrap_or(u32::MAX),
            page_size: u32::try_from(PAGE_SIZE).unwrap_or(u32::MAX),
            whatsapp_templates: u32::try_from(whatsapp_templates).unwrap_or(u32::MAX),
            fingerprint,
            cost,
            sample,
            created_at: now,
            updated_at: now,
            send_at: None,
            started_at: None,
            probed_at: None,
            finished_at: None,
            tests: 0,
        };
        Ok(Plan { blast, pages })
    }

    /// Stores a planned blast: its audience pages first, so that a blast
    /// record always has its whole audience.
    pub(super) async fn keep(&self, tenant: &Tenant, plan: &Plan) -> Result<(), AppError> {
        for page in &plan.pages {
            let write = records::audience_page(&tenant.id, &plan.blast.id, page)?;
            if !landed(self.store.write(vec![write]).await)? {
                return Err(AppError::Internal("blast ids collide".into()));
            }
        }
        if !landed(
            self.store
                .write(vec![records::blast(&plan.blast, None)?])
                .await,
        )? {
            return Err(AppError::Internal("blast ids collide".into()));
        }
        Ok(())
    }

    /// The WhatsApp patients outside a window blasts may still reach in
    /// the rolling 24 hours: the portfolio's limit, less the reserve kept
    /// for operational messages, less what the blasts started in the last
    /// 24 hours took. `None` without a configured limit.
    async fn whatsapp_allowance(
        &self,
        tenant: &Tenant,
        now: Timestamp,
    ) -> Result<Option<u32>, AppError> {
        let Some(limit) = tenant.blasts.whatsapp_daily_limit else {
            return Ok(None);
        };
        let since = now
            .checked_sub(SignedDuration::from_hours(24))
            .unwrap_or(now);
        // Blasts are indexed by creation; one previewed earlier may have
        // started in the last day, so read a week back.
        let from = now
            .checked_sub(SignedDuration::from_hours(24 * 7))
            .unwrap_or(now);
        let mut query = Query {
            index: Index::Gsi1,
            pk: keys::blasts_index_pk(&tenant.id),
            sk: SortKey::AtLeast(keys::millis(from)),
            descending: false,
            limit: 200,
            after: None,
        };
        let mut used: u32 = 0;
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let b: Blast = decode(item)?;
                if b.started_at.is_some_and(|at| at >= since) {
                    used = used.saturating_add(b.whatsapp_templates);
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        Ok(Some(
            limit
                .saturating_sub(tenant.blasts.operational_reserve)
                .saturating_sub(used),
        ))
    }

    /// One rendered message of the sample.
    async fn sample(
        &self,
        tenant: &Tenant,
        template: &BlastTemplate,
        p: &Planned,
    ) -> Result<Sample, AppError> {
        let vars = self.blast_vars(tenant, &p.about).await?;
        let text = tenant
            .blasts
            .render(&template.id, &p.language, &vars)
            .map_err(AppError::Internal)?;
        Ok(Sample {
            channel: p.route.channel,
            to: message::mask(p.route.channel, &p.route.to),
            language: p.language.clone(),
            text,
            template: p
                .template
                .then(|| template.whatsapp.as_ref().map(|w| w.name.clone()))
                .flatten(),
        })
    }

    /// The variables of a blast message to the patient of `about`, as the
    /// record stands now (an appointment moved since shows its new time).
    pub(crate) async fn blast_vars(
        &self,
        tenant: &Tenant,
        about: &RecordRef,
    ) -> Result<BTreeMap<&'static str, String>, AppError> {
        let mut vars: BTreeMap<&'static str, String> = blast::VARIABLES
            .iter()
            .map(|v| (*v, String::new()))
            .collect();
        vars.insert("clinic", tenant.name.clone());
        vars.insert(
            "booking_link",
            tenant.appointments.booking_link.clone().unwrap_or_default(),
        );
        match about {
            RecordRef::Appointment(id) => {
                if let Some(a) = records::get::<Appointment>(
                    self.store.as_ref(),
                    &keys::appointment(&tenant.id, id),
                )
                .await?
                {
                    let all = crate::usecases::appointments::patient_vars(tenant, &a.value, None);
                    for (k, v) in all {
                        if let Some(slot) = vars.get_mut(k) {
                            *slot = v;
                        }
                    }
                }
            }
            RecordRef::Lead(id) => {
                if let Some(lead) =
                    records::get::<Lead>(self.store.as_ref(), &keys::lead(&tenant.id, id)).await?
                {
                    let lead = lead.value;
                    let branch = tenant.branch_or_default(&lead.branch);
                    vars.insert("first_name", lead.first_name().to_owned());
                    vars.insert("name", lead.name.clone().unwrap_or_default());
                    vars.insert("branch", branch.name.clone());
                    vars.insert("branch_phone", branch.phone.clone().unwrap_or_default());
                    vars.insert("service", lead.service.clone().unwrap_or_default());
                }
            }
            RecordRef::Deal(id) => {
                if let Some(deal) = records::get::<clinicflow_core::pipeline::Deal>(
                    self.store.as_ref(),
                    &keys::deal(&tenant.id, id),
                )
                .await?
                {
                    let deal = deal.value;
                    let branch = tenant.branch_or_default(&deal.branch);
                    let name = deal.name.clone().unwrap_or_default();
                    vars.insert(
                        "first_name",
                        name.split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned(),
                    );
                    vars.insert("name", name);
                    vars.insert("branch", branch.name.clone());
                    vars.insert("branch_phone", branch.phone.clone().unwrap_or_default());
                }
            }
            RecordRef::Blast(_) | RecordRef::Rule(_) => {}
        }
        Ok(vars)
    }
}

/// The recipient a bucket makes, if it sends.
fn planned(c: &Candidate, b: &Bucket, purpose: Purpose) -> Option<Planned> {
    let (route, template, not_before) = match b {
        Bucket::Send { route, template } => (route, *template, None),
        Bucket::Deferred {
            route,
            template,
            until,
        } => (route, *template, Some(*until)),
        Bucket::Excluded(_) => return None,
    };
    // The channels after the chosen one are its fallbacks, less those a
    // promotion may not use.
    let fallbacks = c
        .routes
        .iter()
        .skip_while(|r| *r != route)
        .skip(1)
        .filter(|r| purpose == Purpose::Operational || !c.opted_out.contains(&r.channel))
        .cloned()
        .collect();
    Some(Planned {
        contact: c.contact.clone(),
        about: c.about.clone(),
        language: c.language.clone(),
        route: route.clone(),
        template,
        not_before,
        fallbacks,
        zone: c.zone.iana_name().map(str::to_owned),
    })
}

/// The writes that queue every page of a blast.
pub(super) fn page_works(blast: &Blast) -> Vec<Write> {
    (0..blast.pages)
        .map(|page| page_work(blast, page))
        .collect()
}

/// The write that queues page `page` of a blast.
pub(super) fn page_work(blast: &Blast, page: u32) -> Write {
    crate::work::Work::BlastPage {
        tenant: blast.tenant.clone(),
        blast: blast.id.clone(),
        page,
    }
    .enqueue()
}
