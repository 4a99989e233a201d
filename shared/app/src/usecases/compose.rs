//! Building the records a use case writes: ledger messages from templates,
//! and the timers that keep pending work alive.

use std::collections::BTreeMap;

use clinicflow_core::contact::Reach;
use clinicflow_core::ids::{Language, MessageId};
use clinicflow_core::lead::Lead;
use clinicflow_core::message::{
    self, Audience, Channel, HandledVia, Message, MessageStatus, Purpose,
};
use clinicflow_core::messaging::{self, Route};
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
/// `window_from`: the patient's last WhatsApp message, if any.
pub fn greeting(
    tenant: &Tenant,
    lead: &Lead,
    consultant: &Consultant,
    window_from: Option<Timestamp>,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let vars = BTreeMap::from([
        ("first_name", lead.first_name().to_owned()),
        ("name", lead.name.clone().unwrap_or_default()),
        ("clinic", tenant.name.clone()),
        ("branch", branch_of(tenant, lead).name.clone()),
        ("consultant", consultant.first_name().to_owned()),
        ("service", lead.service.clone().unwrap_or_default()),
    ]);
    compose(
        tenant,
        Draft {
            id: message::greeting_id(&lead.id),
            lead,
            kind: TemplateKind::Greeting,
            audience: Audience::Patient,
            reach: &lead.reach,
            language: &lead.language,
            purpose: Purpose::Operational,
            window_from,
            vars,
        },
        now,
    )
}

/// A consultant's own words to the patient of `lead`.
pub fn reply(
    tenant: &Tenant,
    lead: &Lead,
    id: MessageId,
    text: &str,
    purpose: Purpose,
    window_from: Option<Timestamp>,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    compose(
        tenant,
        Draft {
            id,
            lead,
            kind: TemplateKind::Reply,
            audience: Audience::Patient,
            reach: &lead.reach,
            language: &lead.language,
            purpose,
            window_from,
            vars: BTreeMap::from([("text", text.to_owned())]),
        },
        now,
    )
}

/// The branch manager's warning that a lead waited too long.
pub fn sla_alert(
    tenant: &Tenant,
    lead: &Lead,
    manager: &Manager,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
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
    compose(
        tenant,
        Draft {
            id: message::sla_alert_id(&lead.id, lead.sla_cycle),
            lead,
            kind: TemplateKind::SlaAlert,
            audience: Audience::Manager(manager.id.clone()),
            reach: &manager.reach,
            language: &tenant.default_language,
            purpose: Purpose::Operational,
            window_from: None,
            vars,
        },
        now,
    )
}

/// The owner's notice that the patient of `lead` wrote in on `channel`.
pub fn inbound_notice(
    tenant: &Tenant,
    lead: &Lead,
    consultant: &Consultant,
    channel: Channel,
    id: MessageId,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let patient = lead.first_name();
    let vars = BTreeMap::from([
        ("consultant", consultant.first_name().to_owned()),
        (
            "patient",
            if patient.is_empty() { "-" } else { patient }.to_owned(),
        ),
        ("channel", channel.title().to_owned()),
        ("lead_id", lead.id.to_string()),
    ]);
    compose(
        tenant,
        Draft {
            id,
            lead,
            kind: TemplateKind::InboundNotice,
            audience: Audience::Consultant(consultant.id.clone()),
            reach: &consultant.reach,
            language: &tenant.default_language,
            purpose: Purpose::Operational,
            window_from: None,
            vars,
        },
        now,
    )
}

/// Everything a message is made from.
struct Draft<'a> {
    id: MessageId,
    lead: &'a Lead,
    kind: TemplateKind,
    audience: Audience,
    reach: &'a Reach,
    language: &'a Language,
    purpose: Purpose,
    /// When the recipient last wrote on WhatsApp (patients only).
    window_from: Option<Timestamp>,
    vars: BTreeMap<&'static str, String>,
}

/// Renders a draft and routes it: the first of the tenant's channels for
/// its kind that reaches the recipient and can carry the message now (on
/// WhatsApp: free-form inside the 24-hour window, the kind's approved
/// template outside it), with the later ones kept as fallbacks. `None`
/// when no channel can.
fn compose(tenant: &Tenant, d: Draft<'_>, now: Timestamp) -> Result<Option<Message>, AppError> {
    let rendered = tenant
        .templates
        .render(d.kind, d.language, &tenant.default_language, &d.vars)
        .map_err(AppError::Internal)?;
    let approved = tenant
        .messaging
        .whatsapp_templates
        .get(&d.kind)
        .map(|t| t.call(&rendered.language, &d.vars));
    // A branch with its own order uses it for its patients.
    let branch_order = match d.audience {
        Audience::Patient => branch_of(tenant, d.lead).channels.as_deref(),
        _ => None,
    };
    let routes = match branch_order {
        Some(order) => messaging::routes_in(order, d.reach),
        None => tenant.messaging.routing.routes(d.kind, d.reach),
    };
    let open = messaging::window_open(d.window_from, now);
    let Some((route, format, fallbacks)) = messaging::pick(routes, open, approved.as_ref()) else {
        return Ok(None);
    };
    Ok(Some(Message {
        id: d.id,
        tenant: d.lead.tenant.clone(),
        lead: d.lead.id.clone(),
        kind: d.kind,
        audience: d.audience,
        channel: route.channel,
        to: route.to,
        purpose: d.purpose,
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
        template: format,
        whatsapp_template: approved,
        subject: Some(tenant.name.clone()),
        fallbacks,
        previous: None,
        handled: None,
    }))
}

/// The next attempt after `failed`: for a fallback, on its first fallback
/// route that can carry it now; for a resend, on its own route again (then
/// the fallbacks). Same text, linked to the failed one. `None` when no
/// route can carry it now.
pub fn follow_up(
    failed: &Message,
    via: HandledVia,
    window_from: Option<Timestamp>,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let open = messaging::window_open(window_from, now);
    let mut routes = Vec::new();
    if via != HandledVia::Fallback {
        routes.push(Route {
            channel: failed.channel,
            to: failed.to.clone(),
        });
    }
    routes.extend(failed.fallbacks.iter().cloned());
    let approved = failed.whatsapp_template.as_ref();
    let Some((route, format, fallbacks)) = messaging::pick(routes, open, approved) else {
        return Ok(None);
    };
    let id = message::follow_up_id(&failed.id, via)
        .map_err(|e| AppError::Conflict(format!("cannot follow up: {e}")))?;
    let next = Message {
        id,
        channel: route.channel,
        template: format,
        to: route.to,
        fallbacks,
        previous: Some(failed.id.clone()),
        ..failed.clone()
    };
    Ok(Some(next.requeued(now)))
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
