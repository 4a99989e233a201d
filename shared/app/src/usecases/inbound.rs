//! What providers report, handled from the queue: a patient's message
//! becomes a touch on their open lead (or a new lead), opens its channel's
//! 24-hour window (WhatsApp, Instagram) and tells the owner; opt-out words
//! change the patient's subscription; statuses move the ledger forward
//! only.
//!
//! Each event is handled once: an inbox marker keyed by the provider's id
//! lands in the same transaction as its effects, so a webhook delivered
//! three times changes what one delivery changed.

use clinicflow_core::assignment::{self, Request};
use clinicflow_core::blast::{self, BlastState, Effect};
use clinicflow_core::contact::Reach;
use clinicflow_core::ids::{ConsultantId, Language, LeadId, MessageId, TenantId};
use clinicflow_core::inbound::{self, Inbound, InboundMessage, StatusUpdate};
use clinicflow_core::language::{self, LanguageChoice, LanguageSource};
use clinicflow_core::lead::{Attribution, Consents, Lead, Stage, Touch};
use clinicflow_core::message::{Channel, Message, MessageStatus};
use clinicflow_core::messaging::Subscription;
use clinicflow_core::submission::Submission;
use clinicflow_core::tenant::Tenant;
use clinicflow_ports::{Condition, FetchError, Index, Query, Write};
use jiff::{SignedDuration, Timestamp};
use tracing::{info, warn};

use super::assign::plain;
use super::compose::{self, branch_of};
use super::intake::touch_writes;
use super::{MAX_ROUNDS, busy, landed};
use crate::error::AppError;
use crate::records::{self, Claim, ConsentRecord, Handled, OptOut, Patient, Versioned};
use crate::work::Work;
use crate::{App, keys};

/// How long a status may wait for the message it reports on to be
/// recorded (the provider can call back before the sender wrote its
/// receipt, or before the index caught up): a couple of the queue's
/// redeliveries. After that it is about a message that is not ours.
const STATUS_PATIENCE: SignedDuration = SignedDuration::from_mins(2);

impl App {
    /// Handles one provider event for `tenant`. `Err` leaves it in the
    /// queue to be tried again.
    pub async fn handle_inbound(
        &self,
        tenant_id: &TenantId,
        event: &Inbound,
    ) -> Result<(), AppError> {
        let Some(tenant) = self.directory.tenant(tenant_id) else {
            warn!(tenant = %tenant_id, "inbound event for a tenant no longer configured; dropped");
            return Ok(());
        };
        match event {
            Inbound::Message(m) => self.inbound_message(tenant, m, &event.event_id()).await,
            Inbound::Status(s) => self.status_update(tenant, s).await,
            Inbound::LeadAd(ad) => self.lead_ad(tenant, ad, &event.event_id()).await,
            Inbound::LeadNotice(n) => self.lead_notice(tenant, n, &event.event_id()).await,
            Inbound::Call(call) => self.call(tenant, call, &event.event_id()).await,
        }
    }

    async fn status_update(&self, tenant: &Tenant, s: &StatusUpdate) -> Result<(), AppError> {
        for _ in 0..MAX_ROUNDS {
            let now = self.clock.now();
            let mut query = Query::partition(keys::provider_index_pk(
                &tenant.id,
                &s.provider,
                &s.provider_id,
            ));
            query.index = Index::Gsi2;
            let page = self.store.query(&query).await?;
            let found = match page.items.first() {
                Some(item) => records::get::<Message>(self.store.as_ref(), &item.key).await?,
                None => None,
            };
            let Some(Versioned {
                value: message,
                version,
            }) = found
            else {
                if now.duration_since(s.at) < STATUS_PATIENCE {
                    return Err(AppError::Busy(
                        "status for a message not recorded yet".into(),
                    ));
                }
                info!(tenant = %tenant.id, provider = %s.provider, status = s.status.as_str(), "status for a message not in the ledger; ignored");
                return Ok(());
            };
            if !message.status.can_become(s.status) {
                // A repeat, or late news (`delivered` after `read`).
                return Ok(());
            }
            let mut updated = message;
            updated.status = s.status;
            updated.updated_at = now;
            let mut writes = Vec::new();
            if s.status == MessageStatus::Failed {
                updated.error = s.error.clone();
                writes.extend(self.fallback(&mut updated, now).await?);
            }
            writes.push(records::message(&updated, Some(version))?);
            if landed(self.store.write(writes).await)? {
                crate::metrics::message(updated.channel, updated.status.as_str());
                if let Some(e) = &updated.error {
                    crate::metrics::provider_error(updated.channel, &e.code);
                }
                self.mirror(&updated).await?;
                if let (Some(mark), Some(e)) = (&updated.blast, &updated.error) {
                    // Meta reports restrictions in statuses too.
                    let stop = match blast::effect(&e.code) {
                        Effect::Pause => Some(BlastState::Paused),
                        Effect::Fail => Some(BlastState::Failed),
                        _ => None,
                    };
                    if let Some(state) = stop {
                        let why = format!("{}: {}", e.code, blast::explain(&e.code));
                        self.stop_blast(&tenant.id, &mark.blast, state, &why)
                            .await?;
                    }
                }
                info!(message_id = %updated.id, status = s.status.as_str(), "delivery status recorded");
                return Ok(());
            }
        }
        Err(busy("status update"))
    }

    async fn inbound_message(
        &self,
        tenant: &Tenant,
        m: &InboundMessage,
        event_id: &str,
    ) -> Result<(), AppError> {
        let inbox = keys::inbox(&tenant.id, event_id);
        let region = tenant.default_branch().phone_region;
        let Some((reach, contact)) = m.sender(region) else {
            warn!(tenant = %tenant.id, provider = %m.provider, "inbound message from an address that does not parse; dropped");
            return Ok(());
        };
        let patient_key = keys::patient(&tenant.id, &contact);
        // Read once, and only for a new lead (Instagram names nobody).
        let mut new_name: Option<Option<String>> = None;
        for _ in 0..MAX_ROUNDS {
            // Handled already (a redelivery, or a concurrent copy that won).
            if self.store.get(&inbox).await?.is_some() {
                return Ok(());
            }
            let now = self.clock.now();
            let patient = records::get::<Patient>(self.store.as_ref(), &patient_key).await?;
            if let Some(p) = &patient {
                let context = m.context.as_deref().map(|c| (m.provider.as_str(), c));
                self.attribute_reply(&tenant.id, &p.value, context, m.at)
                    .await?;
            }
            let version = patient.as_ref().map(|p| p.version);
            let mut record = patient.map(|p| p.value).unwrap_or_else(|| {
                Patient::new(contact.clone(), m.name.clone(), reach.clone(), now)
            });
            record.updated_at = now;
            record.last_inbound_at = record.last_inbound_at.max(Some(m.at));
            record.windows.wrote(m.channel, m.at);
            let marker = |lead: Option<LeadId>| {
                records::inbox(&tenant.id, event_id, &Handled { at: now, lead })
            };

            // An answer about an appointment: a button of ours, a reply to
            // one of our questions. Anything else is read as before.
            let context = m.context.as_deref().map(|c| (m.provider.as_str(), c));
            if let Some(answered) = self
                .answer_in(
                    tenant,
                    &contact,
                    &m.text,
                    m.payload.as_deref(),
                    context,
                    now,
                )
                .await?
                && let Some(mut writes) = self
                    .answer_writes(
                        tenant,
                        Some(&contact),
                        &answered,
                        m.channel.as_str(),
                        event_id,
                        now,
                    )
                    .await?
            {
                writes.push(records::patient(&tenant.id, &record, version)?);
                writes.push(marker(record.last_lead.clone())?);
                if landed(self.store.write(writes).await)? {
                    return Ok(());
                }
                continue;
            }

            if let Some(word) = tenant.messaging.keywords.classify(&m.text) {
                let consent = subscribe(&mut record, m, word, event_id);
                let writes = vec![
                    records::patient(&tenant.id, &record, version)?,
                    records::consent(&tenant.id, &contact, &consent)?,
                    marker(record.last_lead.clone())?,
                ];
                if landed(self.store.write(writes).await)? {
                    info!(tenant = %tenant.id, channel = m.channel.as_str(), subscription = ?word, "promotional subscription changed");
                    return Ok(());
                }
                continue;
            }

            let touch = Touch {
                id: self.ids.new_id(),
                at: m.at,
                source: m.channel.as_str().to_owned(),
                form: None,
                attribution: Attribution {
                    utm_source: Some(m.channel.as_str().to_owned()),
                    utm_campaign: inbound::reference_code(&m.text).or_else(|| m.referral.clone()),
                    ..Attribution::default()
                },
                service: None,
                message: (!m.text.is_empty()).then(|| m.text.clone()),
                consents: Consents::default(),
            };
            let claim_key = keys::open_claim(&tenant.id, &contact);
            if let Some(claim) = records::get::<Claim>(self.store.as_ref(), &claim_key).await? {
                let lead_id = claim.value.lead.clone();
                let Some(lead) =
                    records::get::<Lead>(self.store.as_ref(), &keys::lead(&tenant.id, &lead_id))
                        .await?
                else {
                    continue;
                };
                record.last_lead = Some(lead_id.clone());
                let mut writes = touch_writes(&tenant.id, claim_key, &claim, &touch)?;
                // The notice goes to whoever owns the lead once the
                // message's language has had its say.
                let (lead, changed) = self.language_of_message(tenant, &lead, m, now).await?;
                if let Some(owner) = &lead.owner {
                    record.last_consultant = Some(owner.consultant.clone());
                }
                writes.extend(changed);
                writes.push(records::patient(&tenant.id, &record, version)?);
                writes.push(marker(Some(lead_id.clone()))?);
                writes.extend(self.owner_notice(tenant, &lead, m.channel, now)?);
                writes.extend(
                    self.inbound_events(
                        &tenant.id,
                        &contact,
                        Some(&lead_id),
                        m.channel,
                        event_id,
                        now,
                    )
                    .await?,
                );
                if landed(self.store.write(writes).await)? {
                    info!(tenant = %tenant.id, lead = %lead_id, channel = m.channel.as_str(), "inbound message recorded on the open lead");
                    return Ok(());
                }
                continue;
            }

            // Free text from a patient we just asked about an appointment is
            // about that appointment: its owner hears of it, and no new lead
            // is opened for it.
            if let Some(question) = self.open_question(&tenant.id, &contact, now).await? {
                let mut writes = self.reply_notice(tenant, &question, event_id, now).await?;
                writes.push(records::patient(&tenant.id, &record, version)?);
                writes.push(marker(None)?);
                if landed(self.store.write(writes).await)? {
                    info!(tenant = %tenant.id, appointment = %question.appointment, channel = m.channel.as_str(), "patient wrote about an appointment; owner told");
                    return Ok(());
                }
                continue;
            }

            let name = match &new_name {
                Some(name) => name.clone(),
                None => new_name
                    .insert(self.sender_name(tenant, m, &reach).await)
                    .clone(),
            };
            let submission =
                Submission::from_contact(tenant, reach.clone(), name, Some(&m.text), &touch);
            // The lead's id is only known once it is made: the marker
            // names none, the patient record names it on assignment.
            let mut extra = vec![
                records::patient(&tenant.id, &record, version)?,
                marker(None)?,
            ];
            extra.extend(
                self.inbound_events(&tenant.id, &contact, None, m.channel, event_id, now)
                    .await?,
            );
            if let Some(lead) = self
                .create_lead(
                    &tenant.id,
                    &self.new_lead_id()?,
                    m.channel.as_str(),
                    None,
                    &submission,
                    &touch,
                    extra,
                    now,
                )
                .await?
            {
                info!(tenant = %tenant.id, lead = %lead, channel = m.channel.as_str(), "inbound message from someone new: lead created");
                return Ok(());
            }
        }
        Err(busy("inbound message"))
    }

    /// The name of who wrote: the provider's profile name (WhatsApp sends
    /// it), or the Instagram account's, read from Instagram. A failed read
    /// leaves the lead without a name rather than without a lead.
    async fn sender_name(
        &self,
        tenant: &Tenant,
        m: &InboundMessage,
        reach: &Reach,
    ) -> Option<String> {
        let Some(id) = reach.instagram.as_ref().filter(|_| m.name.is_none()) else {
            return m.name.clone();
        };
        match self.leads.instagram_profile(&tenant.id, id).await {
            Ok(profile) => profile.display_name(),
            Err(FetchError::Retryable(problem) | FetchError::Permanent(problem)) => {
                warn!(tenant = %tenant.id, %problem, "Instagram profile not read: the lead has no name");
                None
            }
        }
    }

    /// What the patient's message tells of their language: the answer to
    /// our question, while the lead waits for it (then the assignment is
    /// queued with the touch), or a language read from the text.
    async fn language_of_message(
        &self,
        tenant: &Tenant,
        lead: &Versioned<Lead>,
        m: &InboundMessage,
        now: Timestamp,
    ) -> Result<(Lead, Vec<Write>), AppError> {
        let waiting = lead.value.owner.is_none() && lead.value.language_asked_at.is_some();
        let chosen =
            language::answer(&m.text, m.payload.as_deref(), &tenant.languages).filter(|_| waiting);
        let (next, mut writes) = match chosen {
            Some(chosen) => answered(lead, chosen, now)?,
            None => self.language_found(tenant, lead, &m.text, now).await?,
        };
        if waiting && !writes.is_empty() {
            // The language is told: the assignment need not wait.
            writes.push(
                Work::Assign {
                    tenant: tenant.id.clone(),
                    lead: next.id.clone(),
                    contact: Some(next.contact_key.clone()),
                }
                .enqueue(),
            );
        }
        Ok((next, writes))
    }

    /// The lead as the patient's message leaves it, and its writes (none
    /// when nothing changes): a language read confidently from the message,
    /// from a source the lead's own does not outrank, becomes the lead's
    /// (the same language too: its source is then the message's); a new
    /// lead nobody has contacted yet goes to a consultant who speaks it
    /// when its owner does not (and someone does).
    async fn language_found(
        &self,
        tenant: &Tenant,
        lead: &Versioned<Lead>,
        text: &str,
        now: Timestamp,
    ) -> Result<(Lead, Vec<Write>), AppError> {
        let held = lead.value.language_choice.as_ref().map(|c| c.source);
        let Some((language, choice)) = language::from_message(text, &tenant.languages)
            .filter(|(_, c)| language::overrides(c.source, held))
        else {
            return Ok((lead.value.clone(), Vec::new()));
        };
        let mut next = lead.value.clone();
        next.language = language.clone();
        next.language_choice = Some(choice);
        next.updated_at = now;
        let speaks = |id: &ConsultantId| tenant.consultant(id).is_some_and(|c| c.speaks(&language));
        if let Some(owner) = next.owner.clone()
            && next.stage == Stage::New
            && !next.contacted()
            && !speaks(&owner.consultant)
        {
            let loads = self.loads(&tenant.id).await?;
            let mut exclude = next.past_owners.clone();
            exclude.push(owner.consultant.clone());
            let decision = assignment::choose(&Request {
                tenant,
                branch: &branch_of(tenant, &next).id,
                language: &language,
                previous: None,
                exclude: &exclude,
                loads: &plain(&loads),
                now,
            })
            .filter(|d| speaks(&d.consultant));
            if let Some(decision) = decision {
                let why = format!("the patient writes in {language}");
                let (handed, writes) = self
                    .handover(
                        tenant,
                        &next,
                        lead.version,
                        &decision,
                        &why,
                        &loads,
                        Condition::Always,
                        now,
                    )
                    .await?;
                info!(tenant = %tenant.id, lead = %next.id, from = %owner.consultant, to = %decision.consultant, "language found in a message: lead handed to a consultant who speaks it");
                return Ok((handed, writes));
            }
        }
        Ok((
            next.clone(),
            vec![records::lead(&next, Some(lead.version))?],
        ))
    }

    /// The notice to the lead's owner that the patient wrote, as ledger writes.
    fn owner_notice(
        &self,
        tenant: &Tenant,
        lead: &Lead,
        channel: Channel,
        now: Timestamp,
    ) -> Result<Vec<Write>, AppError> {
        let Some(consultant) = lead
            .owner
            .as_ref()
            .and_then(|o| tenant.consultant(&o.consultant))
        else {
            return Ok(Vec::new());
        };
        let id = MessageId::new(format!("inbound_notice.{}.{}", lead.id, self.ids.new_id()))
            .map_err(AppError::Internal)?;
        match compose::inbound_notice(tenant, lead, consultant, channel, id, now)? {
            Some(notice) => Ok(self.ledger_entry(&notice, now)?.into()),
            None => Ok(Vec::new()),
        }
    }
}

/// The lead with the language the patient picked in answer to our
/// question, and its write.
fn answered(
    lead: &Versioned<Lead>,
    chosen: Language,
    now: Timestamp,
) -> Result<(Lead, Vec<Write>), AppError> {
    let mut next = lead.value.clone();
    next.language_choice = Some(LanguageChoice {
        source: LanguageSource::Chosen,
        reason: format!("the patient chose {chosen} in answer to our question"),
    });
    next.language = chosen;
    next.updated_at = now;
    let write = records::lead(&next, Some(lead.version))?;
    Ok((next, vec![write]))
}

/// Applies an opt-out or opt-in word to the patient's record; the consent
/// record that keeps it with its time and source.
fn subscribe(
    record: &mut Patient,
    m: &InboundMessage,
    word: Subscription,
    event_id: &str,
) -> ConsentRecord {
    match word {
        Subscription::Stop => {
            record.opted_out.insert(
                m.channel,
                OptOut {
                    at: m.at,
                    source: m.provider.clone(),
                    word: m.text.trim().chars().take(32).collect(),
                },
            );
        }
        Subscription::Start => {
            record.opted_out.remove(&m.channel);
        }
    }
    ConsentRecord {
        at: m.at,
        source: m.provider.clone(),
        form: None,
        touch: event_id.to_owned(),
        marketing: word == Subscription::Start,
        privacy: false,
        channel: Some(m.channel),
    }
}
