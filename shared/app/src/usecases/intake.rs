//! A form submission becomes a lead, or a touch on the patient's open lead.

use clinicflow_core::automation::Event;
use clinicflow_core::ids::{FormId, LeadId, RecordRef, TenantId};
use clinicflow_core::lead::{Lead, LeadEvent, Recorded, Stage, Touch};
use clinicflow_core::submission::{Screened, Submission, screen};
use clinicflow_core::timer::{Timer, TimerKind};
use clinicflow_ports::{Condition, Key, Write};
use jiff::Timestamp;
use tracing::info;

use super::automations::automation_events;
use super::{MAX_ROUNDS, busy, landed};
use crate::error::AppError;
use crate::records::{self, Claim, ConsentRecord, Versioned};
use crate::work::Work;
use crate::{App, keys};

/// What became of a submission. Each carries the id the form is answered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// A new lead.
    Created(LeadId),
    /// A repeat of an open lead's patient: a new touch on that lead.
    Touched(LeadId),
    /// A bot filled the honeypot: nothing stored, a made-up id returned.
    Ignored(String),
}

impl Submitted {
    pub fn id(&self) -> &str {
        match self {
            Submitted::Created(id) | Submitted::Touched(id) => id.as_str(),
            Submitted::Ignored(id) => id,
        }
    }
}

impl App {
    /// Accepts a post of form `form_id`. The lead (or touch) is durable when
    /// this returns; assignment and greeting follow through the leads queue.
    pub async fn submit_form(
        &self,
        form_id: &str,
        fields: &[(String, String)],
    ) -> Result<Submitted, AppError> {
        let (tenant, form) = self
            .directory
            .form(form_id)
            .ok_or(AppError::NotFound("form"))?;
        let submission = match screen(tenant, form, fields).map_err(AppError::Invalid)? {
            Screened::Spam => {
                info!(form = form_id, "honeypot filled; submission dropped");
                return Ok(Submitted::Ignored(self.ids.new_id()));
            }
            Screened::Accepted(s) => s,
        };
        let now = self.clock.now();
        let touch = Touch {
            id: self.ids.new_id(),
            at: now,
            source: form.source.clone(),
            form: Some(form.id.clone()),
            attribution: submission.attribution.clone(),
            service: submission.service.clone(),
            message: submission.message.clone(),
            consents: submission.consents,
        };

        // Most posts are new patients: try to create the lead straight away
        // (no read on the way); a contact with an open lead fails the claim
        // and gets a touch on that lead instead.
        let id = self.new_lead_id()?;
        for _ in 0..MAX_ROUNDS {
            if let Some(lead) = self
                .create_lead(
                    &tenant.id,
                    &id,
                    &form.source,
                    Some(&form.id),
                    &submission,
                    &touch,
                    Vec::new(),
                    now,
                )
                .await?
            {
                info!(tenant = %tenant.id, lead = %lead, form = form_id, "lead created");
                return Ok(Submitted::Created(lead));
            }
            if let Some(lead) = self
                .touch_open_lead(&tenant.id, &submission, &touch, Vec::new())
                .await?
            {
                info!(tenant = %tenant.id, lead = %lead, form = form_id, "repeat submission recorded as a touch");
                return Ok(Submitted::Touched(lead));
            }
        }
        Err(busy("submission"))
    }

    /// A fresh lead id.
    pub(super) fn new_lead_id(&self) -> Result<LeadId, AppError> {
        LeadId::new(self.ids.new_id()).map_err(AppError::Internal)
    }

    /// Records `touch` on the contact's open lead, if there is one: the
    /// lead claimed by the submission's phone number, else by its e-mail.
    /// `Ok(None)`: no open lead (or it closed meanwhile): create one.
    pub(super) async fn touch_open_lead(
        &self,
        tenant: &TenantId,
        submission: &Submission,
        touch: &Touch,
        extra: Vec<Write>,
    ) -> Result<Option<LeadId>, AppError> {
        for contact in submission.reach.dedupe_keys() {
            let claim_key = keys::open_claim(tenant, &contact);
            let Some(claim) = records::get::<Claim>(self.store.as_ref(), &claim_key).await? else {
                continue;
            };
            let lead = claim.value.lead.clone();
            let mut writes = touch_writes(tenant, claim_key, &claim, touch)?;
            writes.extend(consent_record(tenant, submission, touch)?);
            writes.extend(extra);
            writes.push(automation_events(
                tenant,
                &RecordRef::Lead(lead.clone()),
                vec![Event::FormSubmitted {
                    form: touch.form.as_ref().map(|f| f.to_string()),
                    id: touch.id.clone(),
                }],
                touch.at,
                0,
            ));
            return Ok(landed(self.store.write(writes).await)?.then_some(lead));
        }
        Ok(None)
    }

    /// Creates the lead with a claim for each of its identities (phone and
    /// e-mail), its first touch and safety-net timer, and queues its
    /// assignment, in one transaction. `Ok(None)`: the contact already has
    /// an open lead.
    /// `extra`: writes that must land with the lead (an inbound message's
    /// patient record and inbox marker); `id` is the new lead's (from
    /// [`App::new_lead_id`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn create_lead(
        &self,
        tenant: &TenantId,
        id: &LeadId,
        source: &str,
        form: Option<&FormId>,
        submission: &Submission,
        touch: &Touch,
        extra: Vec<Write>,
        now: Timestamp,
    ) -> Result<Option<LeadId>, AppError> {
        let Some(contact) = submission.reach.dedupe_key() else {
            return Err(AppError::Internal(
                "screened submission without contact".into(),
            ));
        };
        let id = id.clone();
        let lead = Lead {
            id: id.clone(),
            tenant: tenant.clone(),
            branch: submission.branch.clone(),
            language: submission.language.clone(),
            language_choice: Some(submission.language_choice.clone()),
            language_asked_at: None,
            name: submission.name.clone(),
            reach: submission.reach.clone(),
            contact_key: contact.clone(),
            stage: Stage::New,
            lost_reason: None,
            source: source.to_owned(),
            form: form.cloned(),
            attribution: submission.attribution.clone(),
            service: submission.service.clone(),
            created_at: now,
            updated_at: now,
            first_contact_at: None,
            owner: None,
            past_owners: Vec::new(),
            sla_cycle: 0,
            stage_since: None,
        };
        let assign_timer = Timer::new(
            tenant.clone(),
            RecordRef::Lead(id.clone()),
            TimerKind::Assign,
            now.saturating_add(self.tuning.safety_net).unwrap_or(now),
        );
        let mut writes = submission
            .reach
            .dedupe_keys()
            .iter()
            .map(|key| records::claim(tenant, key, &Claim { lead: id.clone() }, now))
            .collect::<Result<Vec<_>, _>>()?;
        writes.extend([
            records::lead(&lead, None)?,
            records::touch(tenant, &id, touch)?,
            records::timer(&assign_timer, now, Condition::Always)?,
            Work::Assign {
                tenant: tenant.clone(),
                lead: id.clone(),
                contact: Some(lead.contact_key.clone()),
            }
            .enqueue(),
        ]);
        // Recorded here, published by the assignment together with its own
        // event (one request to the bus per lead instead of two).
        writes.push(records::event(
            tenant,
            &id,
            &Recorded {
                id: self.ids.new_id(),
                at: now,
                event: LeadEvent::Created {
                    source: source.to_owned(),
                },
            },
        )?);
        writes.extend(consent_record(tenant, submission, touch)?);
        writes.extend(extra);
        let created = landed(self.store.write(writes).await)?;
        if created {
            crate::metrics::lead_accepted();
        }
        Ok(created.then_some(id))
    }
}

/// The writes that record `touch` on the open lead `claim` names: the
/// claim unchanged (the lead is still open exactly while it is), the touch
/// and its history event.
pub(super) fn touch_writes(
    tenant: &TenantId,
    claim_key: Key,
    claim: &Versioned<Claim>,
    touch: &Touch,
) -> Result<Vec<Write>, AppError> {
    let lead = &claim.value.lead;
    Ok(vec![
        records::check(claim_key, Condition::VersionIs(claim.version)),
        records::touch(tenant, lead, touch)?,
        records::event(
            tenant,
            lead,
            &Recorded {
                id: touch.id.clone(),
                at: touch.at,
                event: LeadEvent::Touched {
                    touch: touch.id.clone(),
                    source: touch.source.clone(),
                },
            },
        )?,
    ])
}

/// A consent record when the submission gave any consent.
fn consent_record(
    tenant: &TenantId,
    submission: &Submission,
    touch: &Touch,
) -> Result<Option<clinicflow_ports::Write>, AppError> {
    let c = submission.consents;
    if !c.marketing && !c.privacy {
        return Ok(None);
    }
    let Some(contact) = submission.reach.dedupe_key() else {
        return Ok(None);
    };
    let record = ConsentRecord {
        at: touch.at,
        source: touch.source.clone(),
        form: touch.form.clone(),
        touch: touch.id.clone(),
        marketing: c.marketing,
        privacy: c.privacy,
        channel: None,
    };
    records::consent(tenant, &contact, &record).map(Some)
}
