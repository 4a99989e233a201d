//! The single-table key design, shared by every engine (see ARCHITECTURE.md
//! for the access patterns). Every key of tenant data starts with `T#{tenant}`.
//! Time in keys is zero-padded Unix milliseconds, so it sorts as text.

use clinicflow_core::appointment::Identifier;
use clinicflow_core::contact::ContactKey;
use clinicflow_core::ids::{
    AppointmentId, BlastId, BranchId, ConsultantId, DealId, LeadId, MessageId, PipelineId,
    RecordRef, RuleId, TaskId, TenantId,
};
use clinicflow_ports::{IndexKey, Key};
use jiff::Timestamp;
use jiff::civil::Date;
use sha2::{Digest, Sha256};

/// Partitions of the due-timer index; the sweep reads each.
pub const DUE_SHARDS: u32 = 4;

/// Sort key of a lead's own item within its partition.
pub const LEAD_SK: &str = "LEAD";

/// Zero-padded milliseconds since the epoch.
pub fn millis(at: Timestamp) -> String {
    format!("{:015}", at.as_millisecond().max(0))
}

/// Everything about one lead lives in its partition: the lead, touches,
/// history, messages and timers.
pub fn lead_pk(tenant: &TenantId, lead: &LeadId) -> String {
    format!("T#{tenant}#L#{lead}")
}

pub fn lead(tenant: &TenantId, lead: &LeadId) -> Key {
    Key::new(lead_pk(tenant, lead), LEAD_SK)
}

pub fn touch(tenant: &TenantId, lead: &LeadId, at: Timestamp, id: &str) -> Key {
    Key::new(lead_pk(tenant, lead), format!("TOUCH#{}#{id}", millis(at)))
}

pub fn event(tenant: &TenantId, lead: &LeadId, at: Timestamp, id: &str) -> Key {
    Key::new(lead_pk(tenant, lead), format!("EVENT#{}#{id}", millis(at)))
}

/// Everything about one appointment lives in its partition: the
/// appointment, its history, messages, step timers, firings and survey.
pub fn appointment_pk(tenant: &TenantId, appointment: &AppointmentId) -> String {
    format!("T#{tenant}#A#{appointment}")
}

/// The record's id at the end of its partition key (`T#t#L#{lead}`,
/// `T#t#D#{deal}`, `T#t#A#{appointment}`): ids never hold `#`.
pub fn record_id(pk: &str) -> &str {
    pk.rsplit('#').next().unwrap_or_default()
}

/// The partition of a record: a lead, an appointment, a blast, a deal, a rule.
pub fn record_pk(tenant: &TenantId, about: &RecordRef) -> String {
    match about {
        RecordRef::Lead(lead) => lead_pk(tenant, lead),
        RecordRef::Appointment(a) => appointment_pk(tenant, a),
        RecordRef::Blast(b) => blast_pk(tenant, b),
        RecordRef::Deal(d) => deal_pk(tenant, d),
        RecordRef::Rule(r) => format!("T#{tenant}#RULE#{r}"),
    }
}

pub fn message(tenant: &TenantId, about: &RecordRef, message: &MessageId) -> Key {
    Key::new(record_pk(tenant, about), format!("MSG#{message}"))
}

pub fn timer(tenant: &TenantId, about: &RecordRef, name: &str) -> Key {
    Key::new(record_pk(tenant, about), format!("TIMER#{name}"))
}

/// Sort key of an appointment's own item within its partition.
pub const APPOINTMENT_SK: &str = "APPT";

pub fn appointment(tenant: &TenantId, id: &AppointmentId) -> Key {
    Key::new(appointment_pk(tenant, id), APPOINTMENT_SK)
}

/// One version of an appointment's history.
pub fn revision(tenant: &TenantId, id: &AppointmentId, version: u64) -> Key {
    Key::new(appointment_pk(tenant, id), format!("REV#{version:012}"))
}

/// That a rule fired (or was skipped) for a record at one occurrence.
pub fn firing(tenant: &TenantId, about: &RecordRef, rule: &RuleId, occurrence: &str) -> Key {
    Key::new(
        record_pk(tenant, about),
        format!("FIRED#{rule}#{occurrence}"),
    )
}

/// A patient's score of one visit.
pub fn survey(tenant: &TenantId, id: &AppointmentId) -> Key {
    Key::new(appointment_pk(tenant, id), SURVEY_SK)
}

/// Prefixes of the item kinds in an appointment partition.
pub const REVISION_PREFIX: &str = "REV#";
pub const FIRING_PREFIX: &str = "FIRED#";
pub const SURVEY_SK: &str = "SURVEY";

/// The appointment a scheduler's identifier names. Identifiers are the
/// source's text (any characters), so the key holds their SHA-256.
pub fn source_identifier(tenant: &TenantId, identifier: &Identifier) -> Key {
    let digest = Sha256::digest(format!("{}|{}", identifier.system, identifier.value));
    Key::new(
        format!("T#{tenant}#SRC#{}", hex::encode(&digest[..16])),
        "ID",
    )
}

/// The question a patient was asked last (what a bare `1` answers).
pub fn question(tenant: &TenantId, contact: &ContactKey) -> Key {
    Key::new(patient_pk(tenant, contact), "QUESTION")
}

/// How many automated messages a patient got on one of their local days.
pub fn daily_count(tenant: &TenantId, contact: &ContactKey, day: Date) -> Key {
    Key::new(patient_pk(tenant, contact), format!("DAY#{day}"))
}

/// The tenant's key for signing patients' links.
pub fn link_key(tenant: &TenantId) -> Key {
    Key::new(format!("T#{tenant}#LINKKEY"), "KEY")
}

/// Prefixes of the item kinds in a lead partition.
pub const TOUCH_PREFIX: &str = "TOUCH#";
pub const EVENT_PREFIX: &str = "EVENT#";
pub const MESSAGE_PREFIX: &str = "MSG#";
pub const TIMER_PREFIX: &str = "TIMER#";

/// The index entry that finds a ledger message by the provider's id of it
/// (for status callbacks): `gsi2` of the message item.
pub fn provider_index(
    tenant: &TenantId,
    provider: &str,
    provider_id: &str,
    message: &MessageId,
) -> IndexKey {
    IndexKey::new(
        provider_index_pk(tenant, provider, provider_id),
        message.as_str(),
    )
}

pub fn provider_index_pk(tenant: &TenantId, provider: &str, provider_id: &str) -> String {
    format!("T#{tenant}#PMSG#{provider}#{provider_id}")
}

/// The marker that an inbound event (by the provider's id) was handled.
pub fn inbox(tenant: &TenantId, event_id: &str) -> Key {
    Key::new(format!("T#{tenant}#INBOX#{event_id}"), "EVENT")
}

/// The last test lead a network sent for one of its forms.
pub fn lead_ad_test(tenant: &TenantId, network: &str, form_id: &str) -> Key {
    Key::new(
        format!("T#{tenant}#LEADADS"),
        format!("TEST#{network}#{form_id}"),
    )
}

/// Every lead-ad test of a tenant.
pub fn lead_ad_tests(tenant: &TenantId) -> String {
    format!("T#{tenant}#LEADADS")
}

/// How many messages one sender sent in one second.
pub fn send_count(tenant: &TenantId, sender: &str, second: i64) -> Key {
    Key::new(format!("T#{tenant}#RATE#{sender}"), format!("{second:012}"))
}

/// The claim that makes a contact's open lead unique within a tenant.
pub fn open_claim(tenant: &TenantId, contact: &ContactKey) -> Key {
    Key::new(format!("T#{tenant}#OPEN#{}", contact.as_str()), "CLAIM")
}

/// A patient: identity and previous consultant; consent records beside it.
pub fn patient_pk(tenant: &TenantId, contact: &ContactKey) -> String {
    format!("T#{tenant}#P#{}", contact.as_str())
}

pub fn patient(tenant: &TenantId, contact: &ContactKey) -> Key {
    Key::new(patient_pk(tenant, contact), "PATIENT")
}

pub fn consent(tenant: &TenantId, contact: &ContactKey, at: Timestamp, id: &str) -> Key {
    Key::new(
        patient_pk(tenant, contact),
        format!("CONSENT#{}#{id}", millis(at)),
    )
}

/// Consultants' loads, one partition per tenant so that one query reads all.
pub fn loads_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#LOADS")
}

pub fn load(tenant: &TenantId, consultant: &ConsultantId) -> Key {
    Key::new(loads_pk(tenant), format!("C#{consultant}"))
}

pub fn task(tenant: &TenantId, task: &TaskId) -> Key {
    Key::new(format!("T#{tenant}#TASK#{task}"), "TASK")
}

// Secondary index 1: listings by tenant, newest first, and the due timers.

pub fn leads_index(tenant: &TenantId, created: Timestamp, lead: &LeadId) -> IndexKey {
    IndexKey::new(
        leads_index_pk(tenant),
        format!("{}#{lead}", millis(created)),
    )
}

pub fn leads_index_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#LEADS")
}

pub fn messages_index(tenant: &TenantId, created: Timestamp, message: &MessageId) -> IndexKey {
    IndexKey::new(
        messages_index_pk(tenant),
        format!("{}#{message}", millis(created)),
    )
}

pub fn messages_index_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#MSGS")
}

pub fn tasks_index(tenant: &TenantId, created: Timestamp, task: &TaskId) -> IndexKey {
    IndexKey::new(
        tasks_index_pk(tenant),
        format!("{}#{task}", millis(created)),
    )
}

pub fn tasks_index_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#TASKS")
}

/// A branch's appointments on one local day, by start: what the staff
/// list and a blast's filter read (morning and afternoon are start ranges).
pub fn branch_day_index(
    tenant: &TenantId,
    branch: &BranchId,
    day: Date,
    start: Timestamp,
    id: &AppointmentId,
) -> IndexKey {
    IndexKey::new(
        branch_day_index_pk(tenant, branch, day),
        format!("{}#{id}", millis(start)),
    )
}

pub fn branch_day_index_pk(tenant: &TenantId, branch: &BranchId, day: Date) -> String {
    format!("T#{tenant}#DAY#{branch}#{day}")
}

/// Survey scores, newest first.
pub fn surveys_index(tenant: &TenantId, at: Timestamp, id: &AppointmentId) -> IndexKey {
    IndexKey::new(surveys_index_pk(tenant), format!("{}#{id}", millis(at)))
}

pub fn surveys_index_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#SURVEYS")
}

pub fn due_index(tenant: &TenantId, about: &RecordRef, name: &str, due: Timestamp) -> IndexKey {
    let id = about.id();
    IndexKey::new(
        due_index_pk(shard_of(id)),
        format!("{}#{tenant}#{id}#{name}", millis(due)),
    )
}

pub fn due_index_pk(shard: u32) -> String {
    format!("DUE#{shard}")
}

/// The last possible due-index sort key at `now`: query `AtMost` this.
pub fn due_until(now: Timestamp) -> String {
    format!("{}#~", millis(now))
}

fn shard_of(record: &str) -> u32 {
    record
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % DUE_SHARDS
}

// Secondary index 2: a consultant's leads, and a lead's tasks.

pub fn owner_index(
    tenant: &TenantId,
    consultant: &ConsultantId,
    created: Timestamp,
    lead: &LeadId,
) -> IndexKey {
    IndexKey::new(
        owner_index_pk(tenant, consultant),
        format!("{}#{lead}", millis(created)),
    )
}

pub fn owner_index_pk(tenant: &TenantId, consultant: &ConsultantId) -> String {
    format!("T#{tenant}#OWNER#{consultant}")
}

/// A record's tasks: a lead's (`LTASKS`) or an appointment's (`ATASKS`).
pub fn record_tasks_index(
    tenant: &TenantId,
    about: &RecordRef,
    created: Timestamp,
    task: &TaskId,
) -> IndexKey {
    IndexKey::new(
        record_tasks_index_pk(tenant, about),
        format!("{}#{task}", millis(created)),
    )
}

pub fn record_tasks_index_pk(tenant: &TenantId, about: &RecordRef) -> String {
    match about {
        RecordRef::Lead(lead) => format!("T#{tenant}#LTASKS#{lead}"),
        RecordRef::Appointment(a) => format!("T#{tenant}#ATASKS#{a}"),
        RecordRef::Blast(b) => format!("T#{tenant}#BTASKS#{b}"),
        RecordRef::Deal(d) => format!("T#{tenant}#DTASKS#{d}"),
        RecordRef::Rule(r) => format!("T#{tenant}#RTASKS#{r}"),
    }
}

/// A patient's appointments, by start: their visits, for the blast's
/// last-visit filter (written now so that every appointment is indexed).
pub fn patient_appointments_index(
    tenant: &TenantId,
    contact: &ContactKey,
    start: Timestamp,
    id: &AppointmentId,
) -> IndexKey {
    IndexKey::new(
        patient_appointments_index_pk(tenant, contact),
        format!("{}#{id}", millis(start)),
    )
}

pub fn patient_appointments_index_pk(tenant: &TenantId, contact: &ContactKey) -> String {
    format!("T#{tenant}#PAPPTS#{}", contact.as_str())
}

/// A blast's own partition: the blast, its frozen audience (one item per
/// page), its timer and its test messages. Its recipients live in one
/// partition per page, so that sending spreads its writes.
pub fn blast_pk(tenant: &TenantId, blast: &BlastId) -> String {
    format!("T#{tenant}#BLAST#{blast}")
}

pub const BLAST_SK: &str = "BLAST";

pub fn blast(tenant: &TenantId, blast: &BlastId) -> Key {
    Key::new(blast_pk(tenant, blast), BLAST_SK)
}

/// Page `page` of a blast's frozen audience.
pub fn audience_page(tenant: &TenantId, blast: &BlastId, page: u32) -> Key {
    Key::new(blast_pk(tenant, blast), format!("AUD#{page:06}"))
}

/// A page's recipients are spread over this many partitions: a page is
/// sent at the provider's rate (up to 1,000 a second), and each recipient
/// takes about two write units there — more than one partition's 1,000 a
/// second (docs/scale.md).
pub const RECIPIENT_SHARDS: u32 = 8;

pub fn recipients_pk(tenant: &TenantId, blast: &BlastId, page: u32, shard: u32) -> String {
    format!("T#{tenant}#BLAST#{blast}#P{page:06}#S{shard}")
}

pub fn recipient(tenant: &TenantId, blast: &BlastId, page: u32, contact: &ContactKey) -> Key {
    Key::new(
        recipients_pk(tenant, blast, page, recipient_shard(contact)),
        format!("R#{}", contact.as_str()),
    )
}

/// The recipient partition a patient falls in, from their contact key (a digest).
fn recipient_shard(contact: &ContactKey) -> u32 {
    contact.as_str().bytes().fold(0u32, |hash, b| {
        hash.wrapping_mul(31).wrapping_add(u32::from(b))
    }) % RECIPIENT_SHARDS
}

/// A tenant's blasts, newest last.
pub fn blasts_index(tenant: &TenantId, created: Timestamp, blast: &BlastId) -> IndexKey {
    IndexKey::new(
        blasts_index_pk(tenant),
        format!("{}#{blast}", millis(created)),
    )
}

pub fn blasts_index_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#BLASTS")
}

/// A tenant's automation rules, current versions: one partition, read whole.
pub fn rules_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#RULES")
}

pub fn rule(tenant: &TenantId, rule: &RuleId) -> Key {
    Key::new(rules_pk(tenant), format!("R#{rule}"))
}

/// The revision of a tenant's rule set: bumped with every save, so a
/// process knows when its cached rules are stale.
pub fn rules_revision(tenant: &TenantId) -> Key {
    Key::new(rules_pk(tenant), "REV")
}

/// Every saved version of a rule, kept.
pub fn rule_version(tenant: &TenantId, rule: &RuleId, version: u64) -> Key {
    Key::new(
        format!("T#{tenant}#RULE#{rule}"),
        format!("V#{version:010}"),
    )
}

/// A rule's firings by due time: its pending ones, its last execution.
pub fn rule_firings_index(
    tenant: &TenantId,
    rule: &RuleId,
    due: Timestamp,
    firing: &str,
) -> IndexKey {
    IndexKey::new(
        rule_firings_index_pk(tenant, rule),
        format!("{}#{firing}", millis(due)),
    )
}

pub fn rule_firings_index_pk(tenant: &TenantId, rule: &RuleId) -> String {
    format!("T#{tenant}#RFIRE#{rule}")
}

/// An automation rule's firing for a record and occurrence, in the record's partition.
pub fn auto_firing(tenant: &TenantId, about: &RecordRef, rule: &RuleId, occurrence: &str) -> Key {
    Key::new(
        record_pk(tenant, about),
        format!("AUTO#{rule}#{occurrence}"),
    )
}

pub fn pipelines_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#PIPES")
}

pub fn pipeline(tenant: &TenantId, pipeline: &PipelineId) -> Key {
    Key::new(pipelines_pk(tenant), format!("P#{pipeline}"))
}

pub fn deal_pk(tenant: &TenantId, deal: &DealId) -> String {
    format!("T#{tenant}#D#{deal}")
}

pub fn deal(tenant: &TenantId, deal: &DealId) -> Key {
    Key::new(deal_pk(tenant, deal), "DEAL")
}

/// A pipeline's deals, newest first.
pub fn pipeline_deals_index(
    tenant: &TenantId,
    pipeline: &PipelineId,
    created: Timestamp,
    deal: &DealId,
) -> IndexKey {
    IndexKey::new(
        pipeline_deals_index_pk(tenant, pipeline),
        format!("{}#{deal}", millis(created)),
    )
}

pub fn pipeline_deals_index_pk(tenant: &TenantId, pipeline: &PipelineId) -> String {
    format!("T#{tenant}#PIPE#{pipeline}")
}

/// A patient's deals: what their message moves.
pub fn patient_deals_index(
    tenant: &TenantId,
    contact: &ContactKey,
    created: Timestamp,
    deal: &DealId,
) -> IndexKey {
    IndexKey::new(
        patient_deals_index_pk(tenant, contact),
        format!("{}#{deal}", millis(created)),
    )
}

pub fn patient_deals_index_pk(tenant: &TenantId, contact: &ContactKey) -> String {
    format!("T#{tenant}#PDEALS#{}", contact.as_str())
}
