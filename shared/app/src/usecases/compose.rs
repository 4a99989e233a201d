//! Building the records a use case writes: ledger messages from templates,
//! and the timers that keep pending work alive.

use std::collections::BTreeMap;

use clinicflow_core::ids::MessageId;
use clinicflow_core::lead::Lead;
use clinicflow_core::message::{self, Audience, Channel, Message, MessageStatus, Purpose};
use clinicflow_core::template::TemplateKind;
use clinicflow_core::tenant::{Branch, Consultant, Manager, Tenant};
use clinicflow_core::timer::{Timer, TimerKind};
use jiff::Timestamp;

use crate::error::AppError;

/// The branch a lead belongs to (the default branch if it left the configuration).
pub fn branch_of<'t>(tenant: &'t Tenant, lead: &Lead) -> &'t Branch {
    tenant
        .branch(&lead.branch)
        .unwrap_or_else(|| tenant.default_branch())
}

/// The warm "we received your request" message, naming the consultant.
pub fn greeting(
    tenant: &Tenant,
    lead: &Lead,
    consultant: &Consultant,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let Some((channel, to)) = Channel::for_reach(&lead.reach) else {
        return Ok(None);
    };
    let vars = BTreeMap::from([
        ("first_name", lead.first_name().to_owned()),
        ("name", lead.name.clone().unwrap_or_default()),
        ("clinic", tenant.name.clone()),
        ("branch", branch_of(tenant, lead).name.clone()),
        ("consultant", consultant.first_name().to_owned()),
        ("service", lead.service.clone().unwrap_or_default()),
    ]);
    let rendered = tenant
        .templates
        .render(
            TemplateKind::Greeting,
            &lead.language,
            &tenant.default_language,
            &vars,
        )
        .map_err(AppError::Internal)?;
    Ok(Some(new_message(
        message::greeting_id(&lead.id),
        lead,
        TemplateKind::Greeting,
        Audience::Patient,
        (channel, to),
        rendered,
        now,
    )))
}

/// The branch manager's warning that a lead waited too long.
pub fn sla_alert(
    tenant: &Tenant,
    lead: &Lead,
    manager: &Manager,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let Some(address) = Channel::for_reach(&manager.reach) else {
        return Ok(None);
    };
    let owner = lead
        .owner
        .as_ref()
        .and_then(|o| tenant.consultant(&o.consultant))
        .map_or_else(|| "-".to_owned(), |c| c.name.clone());
    let vars = BTreeMap::from([
        (
            "manager",
            manager
                .name
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
        ("consultant", owner),
        ("branch", branch_of(tenant, lead).name.clone()),
        ("lead_id", lead.id.to_string()),
        ("service", lead.service.clone().unwrap_or_default()),
        // The SLA is counted in opening hours: the lead waited this long
        // while the branch was open.
        (
            "waited_minutes",
            tenant.sla.first_contact.as_mins().to_string(),
        ),
    ]);
    let rendered = tenant
        .templates
        .render(
            TemplateKind::SlaAlert,
            &tenant.default_language,
            &tenant.default_language,
            &vars,
        )
        .map_err(AppError::Internal)?;
    Ok(Some(new_message(
        message::sla_alert_id(&lead.id, lead.sla_cycle),
        lead,
        TemplateKind::SlaAlert,
        Audience::Manager(manager.id.clone()),
        address,
        rendered,
        now,
    )))
}

fn new_message(
    id: MessageId,
    lead: &Lead,
    kind: TemplateKind,
    audience: Audience,
    (channel, to): (Channel, String),
    rendered: clinicflow_core::template::Rendered,
    now: Timestamp,
) -> Message {
    Message {
        id,
        tenant: lead.tenant.clone(),
        lead: lead.id.clone(),
        kind,
        audience,
        channel,
        to,
        purpose: Purpose::Operational,
        language: rendered.language,
        body: rendered.text,
        status: MessageStatus::Queued,
        attempts: 0,
        created_at: now,
        updated_at: now,
        lease_until: None,
        sent_at: None,
        provider: None,
        provider_id: None,
        error: None,
    }
}

/// The timer that delivers `message` if its queue message never arrives.
pub fn deliver_timer(message: &Message, due_at: Timestamp) -> Timer {
    Timer {
        tenant: message.tenant.clone(),
        lead: message.lead.clone(),
        kind: TimerKind::Deliver,
        due_at,
        cycle: 0,
        message: Some(message.id.clone()),
        attempts: 0,
    }
}

/// The warn and reassign timers of the SLA cycle that starts at `start`.
pub fn sla_timers(tenant: &Tenant, lead: &Lead, start: Timestamp) -> [Timer; 2] {
    let deadlines = tenant.sla.deadlines(branch_of(tenant, lead), start);
    let timer = |kind, due_at| Timer {
        tenant: lead.tenant.clone(),
        lead: lead.id.clone(),
        kind,
        due_at,
        cycle: lead.sla_cycle,
        message: None,
        attempts: 0,
    };
    [
        timer(TimerKind::SlaWarn, deadlines.warn_at),
        timer(TimerKind::SlaReassign, deadlines.reassign_at),
    ]
}
