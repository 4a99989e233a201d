//! Typed records over the item store: how each entity becomes an item (its
//! key, index keys and version) and comes back. Index keys are set here and
//! only here, so that an entity is always findable the same way.

use clinicflow_core::appointment::{Appointment, Identifier, Revision};
use clinicflow_core::assignment::Load;
use clinicflow_core::automation::{Firing as AutoFiring, Rule as AutoRule};
use clinicflow_core::blast::{AudiencePage, Blast, LastBlast, Recipient};
use clinicflow_core::contact::{ContactKey, Reach};
use clinicflow_core::ids::{
    AppointmentId, BlastId, BranchId, ConsultantId, FormId, LeadId, MessageId, PractitionerId,
    RecordRef, RuleId, ServiceId, TenantId,
};
use clinicflow_core::journey::{Buttons, SkipReason, SurveyScale};
use clinicflow_core::lead::{Lead, Recorded, Touch};
use clinicflow_core::message::{Channel, Message};
use clinicflow_core::messaging::Windows;
use clinicflow_core::pipeline::{Deal, Pipeline};
use clinicflow_core::task::Task;
use clinicflow_core::timer::Timer;
use clinicflow_ports::{Condition, IndexKey, Item, ItemStore, Key, Write};
use jiff::Timestamp;
use jiff::civil::Date;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::keys;

/// A value as read, with the version a conditional write must name.
#[derive(Clone, Debug)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// The marker that a contact has an open lead in a tenant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub lead: LeadId,
}

/// A person across their leads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    pub contact_key: ContactKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub reach: Reach,
    /// The patient's latest lead (none for a number that only opted out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_lead: Option<LeadId>,
    /// Who handled the patient's latest assigned lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_consultant: Option<ConsultantId>,
    /// The patient's last WhatsApp and Instagram messages: each opens its
    /// channel's 24-hour window.
    #[serde(flatten)]
    pub windows: Windows,
    /// Channels the patient opted out of promotional messages on, and how.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub opted_out: BTreeMap<Channel, OptOut>,
    /// The patient's last message on any channel (a reply stops no-show recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<Timestamp>,
    /// When the patient last booked an appointment (a booking stops recovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_booked_at: Option<Timestamp>,
    /// When the patient got promotional blasts, the latest few: the per-patient cap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promotions: Vec<Timestamp>,
    /// The last blast message the patient got: what their reply or next
    /// booking is attributed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_blast: Option<LastBlast>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An opt-out from promotional messages on one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    pub at: Timestamp,
    /// The provider that carried the word (`whatsapp`, `twilio`).
    pub source: String,
    pub word: String,
}

impl Patient {
    /// The patient of `lead` as it stands once `consultant` handles it,
    /// from the record read before (if any).
    pub fn handled_by(
        lead: &Lead,
        consultant: ConsultantId,
        before: Option<&Versioned<Patient>>,
        now: Timestamp,
    ) -> Patient {
        Patient {
            contact_key: lead.contact_key.clone(),
            name: lead
                .name
                .clone()
                .or_else(|| before.and_then(|p| p.value.name.clone())),
            reach: lead.reach.clone(),
            last_lead: Some(lead.id.clone()),
            last_consultant: Some(consultant),
            windows: before.map(|p| p.value.windows).unwrap_or_default(),
            opted_out: before
                .map(|p| p.value.opted_out.clone())
                .unwrap_or_default(),
            last_inbound_at: before.and_then(|p| p.value.last_inbound_at),
            last_booked_at: before.and_then(|p| p.value.last_booked_at),
            promotions: before
                .map(|p| p.value.promotions.clone())
                .unwrap_or_default(),
            last_blast: before.and_then(|p| p.value.last_blast.clone()),
            created_at: before.map_or(now, |p| p.value.created_at),
            updated_at: now,
        }
    }

    /// A patient first known by `contact` and `reach`.
    pub fn new(
        contact_key: ContactKey,
        name: Option<String>,
        reach: Reach,
        now: Timestamp,
    ) -> Patient {
        Patient {
            contact_key,
            name,
            reach,
            last_lead: None,
            last_consultant: None,
            windows: Windows::default(),
            opted_out: BTreeMap::new(),
            last_inbound_at: None,
            last_booked_at: None,
            promotions: Vec::new(),
            last_blast: None,
            created_at: now,
            updated_at: now,
        }
    }

    /// Promotional blasts the patient got since `since`.
    pub fn promotions_since(&self, since: Timestamp) -> u32 {
        let n = self.promotions.iter().filter(|at| **at >= since).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Whether the patient opted out of promotional messages on `channel`.
    pub fn opted_out_of(&self, channel: Channel) -> bool {
        self.opted_out.contains_key(&channel)
    }
}

/// The appointment a scheduler's identifier names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLink {
    pub appointment: AppointmentId,
}

/// That a rule fired for a record at one occurrence, or why it did not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    pub rule: RuleId,
    pub occurrence: String,
    pub at: Timestamp,
    /// The messages it sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<SkipReason>,
}

/// The question a patient was asked last: what a bare `1` or `5` answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub appointment: AppointmentId,
    /// The appointment's version the question was about.
    pub version: u64,
    /// `answer` (confirm / reschedule / cancel) or `score`.
    pub asks: Buttons,
    pub message: MessageId,
    pub expires_at: Timestamp,
}

/// A patient's score of a visit, kept with what it was about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyAnswer {
    pub appointment: AppointmentId,
    pub score: u8,
    pub scale: SurveyScale,
    pub branch: BranchId,
    pub practitioner: PractitionerId,
    pub service: ServiceId,
    /// The channel it came on (`whatsapp`, `sms`, `link`).
    pub via: String,
    pub answered_at: Timestamp,
}

/// The key that signs a tenant's patient links, made once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkKey {
    /// 32 random bytes, hex.
    pub key: String,
}

/// Consent given (or withdrawn), kept with its time and source: a form
/// submission, or an opt-out word on a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub at: Timestamp,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<FormId>,
    pub touch: String,
    pub marketing: bool,
    pub privacy: bool,
    /// For an opt-out or opt-in word: the channel it applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
}

pub fn decode<T: DeserializeOwned>(item: &Item) -> Result<T, AppError> {
    serde_json::from_str(&item.body).map_err(|e| {
        AppError::Internal(format!(
            "item {}/{} does not decode: {e}",
            item.key.pk, item.key.sk
        ))
    })
}

fn encode<T: Serialize>(value: &T) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(|e| AppError::Internal(format!("cannot encode: {e}")))
}

pub async fn get<T: DeserializeOwned>(
    store: &dyn ItemStore,
    key: &Key,
) -> Result<Option<Versioned<T>>, AppError> {
    versioned(store.get(key).await?)
}

/// An item read (by [`ItemStore::get_many`]) as a `T`, with its version.
pub fn versioned<T: DeserializeOwned>(
    item: Option<Item>,
) -> Result<Option<Versioned<T>>, AppError> {
    item.map(|item| {
        Ok(Versioned {
            value: decode(&item)?,
            version: item.version,
        })
    })
    .transpose()
}

/// The write that stores `value` as the successor of `previous` (a version
/// read before), or as a new item when there was none.
fn put<T: Serialize>(
    key: Key,
    value: &T,
    previous: Option<u64>,
    gsi1: Option<IndexKey>,
    gsi2: Option<IndexKey>,
) -> Result<Write, AppError> {
    put_expiring(key, value, previous, gsi1, gsi2, None)
}

/// [`put`], for an item the store may drop after `expires_at` (Unix seconds).
fn put_expiring<T: Serialize>(
    key: Key,
    value: &T,
    previous: Option<u64>,
    gsi1: Option<IndexKey>,
    gsi2: Option<IndexKey>,
    expires_at: Option<i64>,
) -> Result<Write, AppError> {
    let (version, condition) = match previous {
        Some(v) => (v + 1, Condition::VersionIs(v)),
        None => (1, Condition::Absent),
    };
    Ok(Write::Put {
        item: Item {
            key,
            version,
            gsi1,
            gsi2,
            expires_at,
            body: encode(value)?,
        },
        condition,
    })
}

pub fn lead(lead: &Lead, previous: Option<u64>) -> Result<Write, AppError> {
    let owner = lead
        .owner
        .as_ref()
        .map(|o| keys::owner_index(&lead.tenant, &o.consultant, lead.created_at, &lead.id));
    put(
        keys::lead(&lead.tenant, &lead.id),
        lead,
        previous,
        Some(keys::leads_index(&lead.tenant, lead.created_at, &lead.id)),
        owner,
    )
}

pub fn touch(tenant: &TenantId, lead: &LeadId, touch: &Touch) -> Result<Write, AppError> {
    put(
        keys::touch(tenant, lead, touch.at, &touch.id),
        touch,
        None,
        None,
        None,
    )
}

pub fn event(tenant: &TenantId, lead: &LeadId, event: &Recorded) -> Result<Write, AppError> {
    put(
        keys::event(tenant, lead, event.at, &event.id),
        event,
        None,
        None,
        None,
    )
}

/// The domain event others are told of when `event` is recorded, if it is
/// one they are told of: the recorded event with its tenant and lead, and
/// no patient data.
pub fn publication(
    tenant: &TenantId,
    lead: &LeadId,
    event: &Recorded,
) -> Result<Option<Write>, AppError> {
    #[derive(Serialize)]
    struct Detail<'a> {
        tenant: &'a TenantId,
        lead: &'a LeadId,
        #[serde(flatten)]
        event: &'a Recorded,
    }
    let Some(detail_type) = event.event.published_as() else {
        return Ok(None);
    };
    let detail = encode(&Detail {
        tenant,
        lead,
        event,
    })?;
    Ok(Some(Write::Publish {
        detail_type: detail_type.to_owned(),
        detail,
    }))
}

pub fn message(message: &Message, previous: Option<u64>) -> Result<Write, AppError> {
    let by_provider_id = match (&message.provider, &message.provider_id) {
        (Some(provider), Some(id)) => Some(keys::provider_index(
            &message.tenant,
            provider,
            id,
            &message.id,
        )),
        _ => None,
    };
    // A blast's messages are read through their blast, not the ledger's
    // index: 100,000 of them would make its partition hot.
    let ledger = message
        .blast
        .is_none()
        .then(|| keys::messages_index(&message.tenant, message.created_at, &message.id));
    put(
        keys::message(&message.tenant, &message.about, &message.id),
        message,
        previous,
        ledger,
        by_provider_id,
    )
}

/// What the inbox marker of a handled inbound event holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handled {
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<LeadId>,
}

/// Marks an inbound event handled (once: `Absent`); kept for 30 days,
/// longer than providers retry a webhook.
pub fn inbox(tenant: &TenantId, event_id: &str, handled: &Handled) -> Result<Write, AppError> {
    let expires = handled.at.as_second().saturating_add(30 * 24 * 3600);
    let key = keys::inbox(tenant, event_id);
    put_expiring(key, handled, None, None, None, Some(expires))
}

/// A network's test lead, as the clinic's mapping read it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadAdTest {
    pub network: String,
    pub form_id: String,
    pub lead_id: String,
    pub at: Timestamp,
    /// Our form the mapping posts it as; none when the form is not mapped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<FormId>,
    /// The network's question keys it carried.
    pub questions: Vec<String>,
    /// How it read: `mapped`, `unmapped` or `unreadable`, and why.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The last test lead of a network's form (each test replaces the last).
pub fn lead_ad_test(tenant: &TenantId, test: &LeadAdTest) -> Result<Write, AppError> {
    Ok(Write::Put {
        item: Item {
            key: keys::lead_ad_test(tenant, &test.network, &test.form_id),
            version: 1,
            gsi1: None,
            gsi2: None,
            expires_at: None,
            body: encode(test)?,
        },
        condition: Condition::Always,
    })
}

/// Messages a sender sent in one second (`previous`: the count's version read).
pub fn send_count(
    key: Key,
    count: u32,
    previous: Option<u64>,
    second: i64,
) -> Result<Write, AppError> {
    put_expiring(
        key,
        &count,
        previous,
        None,
        None,
        Some(second.saturating_add(120)),
    )
}

pub fn task(tenant: &TenantId, task: &Task, previous: Option<u64>) -> Result<Write, AppError> {
    put(
        keys::task(tenant, &task.id),
        task,
        previous,
        Some(keys::tasks_index(tenant, task.created_at, &task.id)),
        Some(keys::record_tasks_index(
            tenant,
            &task.about,
            task.created_at,
            &task.id,
        )),
    )
}

/// An appointment at its version: findable by its branch's local day
/// (`day`) and by its patient.
pub fn appointment(a: &Appointment, day: Date) -> Result<Write, AppError> {
    let b = &a.booking;
    put(
        keys::appointment(&a.tenant, &a.id),
        a,
        a.version.checked_sub(1).filter(|v| *v > 0),
        Some(keys::branch_day_index(
            &a.tenant, &b.branch, day, b.start, &a.id,
        )),
        Some(keys::patient_appointments_index(
            &a.tenant,
            &b.patient.contact_key,
            b.start,
            &a.id,
        )),
    )
}

pub fn revision(a: &Appointment, revision: &Revision) -> Result<Write, AppError> {
    put(
        keys::revision(&a.tenant, &a.id, revision.version),
        revision,
        None,
        None,
        None,
    )
}

/// Claims a scheduler's identifier for an appointment (once).
pub fn source_link(
    tenant: &TenantId,
    identifier: &Identifier,
    appointment: &AppointmentId,
) -> Result<Write, AppError> {
    put(
        keys::source_identifier(tenant, identifier),
        &SourceLink {
            appointment: appointment.clone(),
        },
        None,
        None,
        None,
    )
}

/// Records a firing, once per (rule, record, occurrence).
pub fn firing(tenant: &TenantId, about: &RecordRef, firing: &Firing) -> Result<Write, AppError> {
    put(
        keys::firing(tenant, about, &firing.rule, &firing.occurrence),
        firing,
        None,
        None,
        None,
    )
}

/// The patient's open question, replacing any before it; it lapses when it expires.
pub fn question(tenant: &TenantId, contact: &ContactKey, q: &Question) -> Result<Write, AppError> {
    let expires = q.expires_at.as_second();
    Ok(Write::Put {
        item: Item {
            key: keys::question(tenant, contact),
            version: 1,
            gsi1: None,
            gsi2: None,
            expires_at: Some(expires),
            body: encode(q)?,
        },
        condition: Condition::Always,
    })
}

/// A patient's count of automated messages on one local day (`previous`:
/// the count's version read); kept three days.
pub fn daily_count(
    tenant: &TenantId,
    contact: &ContactKey,
    day: Date,
    count: u32,
    previous: Option<u64>,
    now: Timestamp,
) -> Result<Write, AppError> {
    put_expiring(
        keys::daily_count(tenant, contact, day),
        &count,
        previous,
        None,
        None,
        Some(now.as_second().saturating_add(3 * 24 * 3600)),
    )
}

/// A visit's score, once.
pub fn survey(tenant: &TenantId, answer: &SurveyAnswer) -> Result<Write, AppError> {
    put(
        keys::survey(tenant, &answer.appointment),
        answer,
        None,
        Some(keys::surveys_index(
            tenant,
            answer.answered_at,
            &answer.appointment,
        )),
        None,
    )
}

pub fn link_key(tenant: &TenantId, key: &LinkKey) -> Result<Write, AppError> {
    put(keys::link_key(tenant), key, None, None, None)
}

/// A new claim of `contact` for a lead. Its version is unique (the time of
/// the claim in microseconds), so that a claim deleted and made again is
/// never mistaken for the one a writer read before.
pub fn claim(
    tenant: &TenantId,
    contact: &ContactKey,
    claim: &Claim,
    now: Timestamp,
) -> Result<Write, AppError> {
    Ok(Write::Put {
        item: Item {
            key: keys::open_claim(tenant, contact),
            version: unique_version(now, None),
            gsi1: None,
            gsi2: None,
            expires_at: None,
            body: encode(claim)?,
        },
        condition: Condition::Absent,
    })
}

/// A version no earlier incarnation of an item had: the time in
/// microseconds, and past `after` (a version read before) if the clock lags.
fn unique_version(now: Timestamp, after: Option<u64>) -> u64 {
    let micros = u64::try_from(now.as_microsecond()).unwrap_or(1).max(1);
    after.map_or(micros, |v| micros.max(v + 1))
}

pub fn patient(
    tenant: &TenantId,
    patient: &Patient,
    previous: Option<u64>,
) -> Result<Write, AppError> {
    put(
        keys::patient(tenant, &patient.contact_key),
        patient,
        previous,
        None,
        None,
    )
}

pub fn consent(
    tenant: &TenantId,
    contact: &ContactKey,
    record: &ConsentRecord,
) -> Result<Write, AppError> {
    put(
        keys::consent(tenant, contact, record.at, &record.touch),
        record,
        None,
        None,
        None,
    )
}

pub fn load(
    tenant: &TenantId,
    consultant: &ConsultantId,
    load: &Load,
    previous: Option<u64>,
) -> Result<Write, AppError> {
    put(keys::load(tenant, consultant), load, previous, None, None)
}

/// Arms (or re-arms) a timer, replacing whatever timer had its name.
///
/// Timer versions are the arming time in microseconds, so that a timer
/// re-armed after being claimed never shares a version with the claimed one.
pub fn timer(timer: &Timer, now: Timestamp, condition: Condition) -> Result<Write, AppError> {
    let after = match condition {
        Condition::VersionIs(v) => Some(v),
        _ => None,
    };
    timer_item(timer, unique_version(now, after), condition)
}

/// A claimed timer moved to `due_at` (the end of the claim's lease), as
/// the successor of `version`.
pub fn timer_claim(timer: &Timer, version: u64) -> Result<Write, AppError> {
    timer_item(timer, version + 1, Condition::VersionIs(version))
}

fn timer_item(timer: &Timer, version: u64, condition: Condition) -> Result<Write, AppError> {
    let name = timer.name();
    Ok(Write::Put {
        item: Item {
            key: keys::timer(&timer.tenant, &timer.about, &name),
            version,
            gsi1: Some(keys::due_index(
                &timer.tenant,
                &timer.about,
                &name,
                timer.due_at,
            )),
            gsi2: None,
            expires_at: None,
            body: encode(timer)?,
        },
        condition,
    })
}

pub fn delete(key: Key, condition: Condition) -> Write {
    Write::Delete { key, condition }
}

/// A write that only checks a condition.
pub fn check(key: Key, condition: Condition) -> Write {
    Write::Check { key, condition }
}

pub fn blast(blast: &Blast, previous: Option<u64>) -> Result<Write, AppError> {
    put(
        keys::blast(&blast.tenant, &blast.id),
        blast,
        previous,
        Some(keys::blasts_index(
            &blast.tenant,
            blast.created_at,
            &blast.id,
        )),
        None,
    )
}

pub fn audience_page(
    tenant: &TenantId,
    blast: &BlastId,
    page: &AudiencePage,
) -> Result<Write, AppError> {
    put(
        keys::audience_page(tenant, blast, page.page),
        page,
        None,
        None,
        None,
    )
}

pub fn recipient(
    tenant: &TenantId,
    blast: &BlastId,
    page: u32,
    recipient: &Recipient,
    previous: Option<u64>,
) -> Result<Write, AppError> {
    put(
        keys::recipient(tenant, blast, page, &recipient.planned.contact),
        recipient,
        previous,
        None,
        None,
    )
}

/// An automation rule at its current version (its versions are kept apart).
pub fn rule(tenant: &TenantId, rule: &AutoRule, previous: Option<u64>) -> Result<Write, AppError> {
    put(keys::rule(tenant, &rule.id), rule, previous, None, None)
}

/// One saved version of a rule, never changed.
pub fn rule_version(tenant: &TenantId, rule: &AutoRule) -> Result<Write, AppError> {
    put(
        keys::rule_version(tenant, &rule.id, rule.version),
        rule,
        None,
        None,
        None,
    )
}

/// The tenant's rule-set revision, bumped by every save.
pub fn rules_revision(
    tenant: &TenantId,
    revision: u64,
    previous: Option<u64>,
) -> Result<Write, AppError> {
    put(
        keys::rules_revision(tenant),
        &revision,
        previous,
        None,
        None,
    )
}

/// An automation firing, findable through its rule by due time.
pub fn auto_firing(
    tenant: &TenantId,
    firing: &AutoFiring,
    previous: Option<u64>,
) -> Result<Write, AppError> {
    put(
        keys::auto_firing(tenant, &firing.record, &firing.rule, &firing.occurrence),
        firing,
        previous,
        Some(keys::rule_firings_index(
            tenant,
            &firing.rule,
            firing.delay.due,
            &firing.id,
        )),
        None,
    )
}

pub fn pipeline(
    tenant: &TenantId,
    pipeline: &Pipeline,
    previous: Option<u64>,
) -> Result<Write, AppError> {
    put(
        keys::pipeline(tenant, &pipeline.id),
        pipeline,
        previous,
        None,
        None,
    )
}

/// A deal: findable by its pipeline and by its patient.
pub fn deal(deal: &Deal, previous: Option<u64>) -> Result<Write, AppError> {
    put(
        keys::deal(&deal.tenant, &deal.id),
        deal,
        previous,
        Some(keys::pipeline_deals_index(
            &deal.tenant,
            &deal.pipeline,
            deal.created_at,
            &deal.id,
        )),
        Some(keys::patient_deals_index(
            &deal.tenant,
            &deal.contact_key,
            deal.created_at,
            &deal.id,
        )),
    )
}
