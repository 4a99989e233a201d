//! The filter's audience: the patients of a day's appointments or of the
//! leads, with what the preview needs to know of each.

use std::collections::{BTreeMap, BTreeSet};

use clinicflow_core::appointment::{Appointment, AppointmentStatus};
use clinicflow_core::blast::{Candidate, Filter};
use clinicflow_core::contact::{ContactKey, Reach};
use clinicflow_core::ids::{BranchId, Language, RecordRef};
use clinicflow_core::lead::Lead;
use clinicflow_core::locale;
use clinicflow_core::message::Purpose;
use clinicflow_core::messaging::{self, Route};
use clinicflow_core::template::TemplateKind;
use clinicflow_core::tenant::{Branch, Tenant};
use clinicflow_ports::{Index, Query, SortKey};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::error::AppError;
use crate::records::{self, ConsentRecord, Patient, decode};
use crate::usecases::{AppointmentFilter, DayPart};
use crate::{App, keys};

/// Items read per query page while gathering an audience.
const PAGE: usize = 1000;
/// Patients read at once.
const READS: usize = 16;

/// One member of the audience as the filter found it, before the patient
/// record is read.
struct Found {
    about: RecordRef,
    contact: ContactKey,
    reach: Reach,
    language: Language,
    zone: TimeZone,
    branch: BranchId,
}

impl App {
    /// The candidates of `filter`, in the order the filter found them (a
    /// patient with two appointments is there twice).
    pub(super) async fn audience(
        &self,
        tenant: &Tenant,
        filter: &Filter,
        purpose: Purpose,
        now: Timestamp,
    ) -> Result<Vec<Candidate>, AppError> {
        check(tenant, filter)?;
        let found = if filter.on_appointments() {
            self.appointments_of(tenant, filter).await?
        } else {
            self.leads_of(tenant, filter).await?
        };
        let since = now
            .checked_sub(tenant.blasts.promotional_period)
            .unwrap_or(Timestamp::MIN);
        let candidates: Vec<Option<Candidate>> = stream::iter(found)
            .map(|f| self.candidate(tenant, filter, purpose, f, since))
            .buffered(READS)
            .try_collect()
            .await?;
        Ok(candidates.into_iter().flatten().collect())
    }

    async fn appointments_of(
        &self,
        tenant: &Tenant,
        filter: &Filter,
    ) -> Result<Vec<Found>, AppError> {
        let Some(date) = filter.date else {
            return Ok(Vec::new());
        };
        let branches: Vec<&Branch> = match &filter.branch {
            Some(b) => tenant.branch(b).into_iter().collect(),
            None => tenant.branches.iter().collect(),
        };
        let part = filter.part.as_deref().map(|p| match p {
            "morning" => DayPart::Morning,
            _ => DayPart::Afternoon,
        });
        let mut found = Vec::new();
        for branch in branches {
            let day = AppointmentFilter {
                date,
                branch: Some(branch.id.clone()),
                part,
                practitioner: filter.practitioner.clone(),
                service: filter.service.clone(),
                status: filter.status,
                confirmation: filter.confirmation,
            };
            let (branch_id, pk, sk) = day.day_range(tenant)?;
            self.each_item(Index::Gsi1, pk, sk, |item| {
                let a: Appointment = decode(item)?;
                let p = &a.booking.patient;
                if !day.matches(&a, &branch_id)
                    || filter.language.as_ref().is_some_and(|l| l != &p.language)
                {
                    return Ok(());
                }
                found.push(Found {
                    about: RecordRef::Appointment(a.id.clone()),
                    contact: p.contact_key.clone(),
                    reach: p.reach.clone(),
                    language: p.language.clone(),
                    zone: locale::patient_zone(p.time_zone.as_deref(), &p.reach, &branch.time_zone),
                    branch: branch.id.clone(),
                });
                Ok(())
            })
            .await?;
        }
        Ok(found)
    }

    async fn leads_of(&self, tenant: &Tenant, filter: &Filter) -> Result<Vec<Found>, AppError> {
        let pk = keys::leads_index_pk(&tenant.id);
        let mut found = Vec::new();
        self.each_item(Index::Gsi1, pk, SortKey::All, |item| {
            let lead: Lead = decode(item)?;
            let a = &lead.attribution;
            let keep = filter.stage.is_none_or(|s| lead.stage == s)
                && filter.branch.as_ref().is_none_or(|b| &lead.branch == b)
                && filter
                    .source
                    .as_ref()
                    .is_none_or(|s| &lead.source == s || a.utm_source.as_ref() == Some(s))
                && filter
                    .campaign
                    .as_ref()
                    .is_none_or(|c| a.utm_campaign.as_ref() == Some(c))
                && filter.language.as_ref().is_none_or(|l| &lead.language == l);
            if !keep {
                return Ok(());
            }
            let branch = tenant.branch_or_default(&lead.branch);
            found.push(Found {
                about: RecordRef::Lead(lead.id.clone()),
                contact: lead.contact_key.clone(),
                zone: locale::patient_zone(None, &lead.reach, &branch.time_zone),
                branch: branch.id.clone(),
                reach: lead.reach,
                language: lead.language,
            });
            Ok(())
        })
        .await?;
        Ok(found)
    }

    /// Hands every item of an index partition's range to `each`, a page at
    /// a time (an audience of 100,000 is never held as items).
    async fn each_item(
        &self,
        index: Index,
        pk: String,
        sk: SortKey,
        mut each: impl FnMut(&clinicflow_ports::Item) -> Result<(), AppError>,
    ) -> Result<(), AppError> {
        let mut after = None;
        loop {
            let page = self
                .store
                .query(&Query {
                    index,
                    pk: pk.clone(),
                    sk: sk.clone(),
                    descending: false,
                    limit: PAGE,
                    after,
                })
                .await?;
            for item in &page.items {
                each(item)?;
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// What the preview needs of one member: `None` when the last-visit
    /// filter leaves them out.
    async fn candidate(
        &self,
        tenant: &Tenant,
        filter: &Filter,
        purpose: Purpose,
        f: Found,
        since: Timestamp,
    ) -> Result<Option<Candidate>, AppError> {
        if filter.last_visit_before.is_some() || filter.last_visit_after.is_some() {
            let visit = self.last_visit(tenant, &f.contact).await?;
            if !filter.visit_matches(visit) {
                return Ok(None);
            }
        }
        let patient =
            records::get::<Patient>(self.store.as_ref(), &keys::patient(&tenant.id, &f.contact))
                .await?
                .map(|p| p.value);
        let marketing_consent = match purpose {
            Purpose::Promotional => self.marketing_consent(tenant, &f.contact).await?,
            Purpose::Operational => false,
        };
        Ok(Some(Candidate {
            routes: routes(tenant, tenant.branch_or_default(&f.branch), &f.reach),
            country: f
                .reach
                .phone
                .as_ref()
                .and_then(|p| p.region())
                .map(|r| r.code().to_owned()),
            opted_out: patient
                .as_ref()
                .map(|p| p.opted_out.keys().copied().collect())
                .unwrap_or_else(BTreeSet::new),
            windows: patient.as_ref().map(|p| p.windows).unwrap_or_default(),
            recent_promotions: patient.as_ref().map_or(0, |p| p.promotions_since(since)),
            marketing_consent,
            contact: f.contact,
            about: f.about,
            language: f.language,
            zone: f.zone,
        }))
    }

    /// The start of the patient's latest visit (an appointment they came to).
    async fn last_visit(
        &self,
        tenant: &Tenant,
        contact: &ContactKey,
    ) -> Result<Option<Timestamp>, AppError> {
        let pk = keys::patient_appointments_index_pk(&tenant.id, contact);
        let mut query = Query::partition(pk);
        query.index = Index::Gsi2;
        query.descending = true;
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let a: Appointment = decode(item)?;
                if matches!(
                    a.booking.status,
                    AppointmentStatus::Arrived
                        | AppointmentStatus::Fulfilled
                        | AppointmentStatus::CheckedIn
                ) {
                    return Ok(Some(a.booking.start));
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(None),
            }
        }
    }

    /// Whether the patient's latest word on promotions, given with a form,
    /// was yes. (Opt-out words per channel are on the patient record.)
    pub(crate) async fn marketing_consent(
        &self,
        tenant: &Tenant,
        contact: &ContactKey,
    ) -> Result<bool, AppError> {
        let mut query = Query::partition(keys::patient_pk(&tenant.id, contact));
        query.sk = SortKey::BeginsWith("CONSENT#".into());
        query.descending = true;
        loop {
            let page = self.store.query(&query).await?;
            for item in &page.items {
                let consent: ConsentRecord = decode(item)?;
                if consent.channel.is_none() {
                    return Ok(consent.marketing);
                }
            }
            match page.next {
                Some(next) => query.after = Some(next),
                None => return Ok(false),
            }
        }
    }
}

/// The channels that reach a patient of `branch`, in the order its
/// patients' messages follow.
pub(crate) fn routes(tenant: &Tenant, branch: &Branch, reach: &Reach) -> Vec<Route> {
    match branch.channels.as_deref() {
        Some(order) => messaging::routes_in(order, reach),
        None => tenant.messaging.routing.routes(TemplateKind::Blast, reach),
    }
}

/// A filter naming what the clinic does not have is refused, field by field.
fn check(tenant: &Tenant, filter: &Filter) -> Result<(), AppError> {
    if let Some((field, problem)) = filter.problem() {
        return Err(AppError::invalid(&format!("filter.{field}"), problem));
    }
    let mut unknown: BTreeMap<&str, String> = BTreeMap::new();
    if let Some(b) = &filter.branch
        && tenant.branch(b).is_none()
    {
        unknown.insert("branch", format!("`{b}` is not a branch of this clinic"));
    }
    if let Some(p) = &filter.practitioner
        && tenant.practitioner(p.as_str()).is_none()
    {
        unknown.insert(
            "practitioner",
            format!("`{p}` is not a practitioner of this clinic"),
        );
    }
    if let Some(s) = &filter.service
        && tenant.service(s).is_none()
    {
        unknown.insert("service", format!("`{s}` is not a service of this clinic"));
    }
    if unknown.is_empty() {
        return Ok(());
    }
    Err(AppError::Invalid(
        unknown
            .into_iter()
            .map(|(field, problem)| {
                clinicflow_core::submission::FieldError::new(&format!("filter.{field}"), problem)
            })
            .collect(),
    ))
}
