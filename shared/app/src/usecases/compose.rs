//! Building the records a use case writes: ledger messages from templates,
//! and the timers that keep pending work alive.

use std::collections::BTreeMap;

use clinicflow_channels::{instagram, whatsapp};
use clinicflow_core::answer::{Answer, Payload};
use clinicflow_core::contact::Reach;
use clinicflow_core::ids::{AppointmentId, Language, MessageId, RecordRef, RuleId};
use clinicflow_core::journey::Buttons;
use clinicflow_core::language;
use clinicflow_core::lead::Lead;
use clinicflow_core::locale;
use clinicflow_core::message::{self, Audience, Button, Channel, HandledVia, Message, Purpose};
use clinicflow_core::messaging::{self, Route, TemplateCall, Windows};
use clinicflow_core::template::TemplateKind;
use clinicflow_core::tenant::{Branch, Consultant, Manager, Tenant};
use clinicflow_core::timer::{Timer, TimerKind};
use jiff::Timestamp;

use crate::error::AppError;

/// The branch a lead belongs to (the default branch if it left the configuration).
pub fn branch_of<'t>(tenant: &'t Tenant, lead: &Lead) -> &'t Branch {
    tenant.branch_or_default(&lead.branch)
}

/// The warm "we received your request" message, naming the consultant and,
/// when they are off shift, when they will call (in the patient's time).
/// `windows`: when the patient last wrote on WhatsApp and Instagram.
pub fn greeting(
    tenant: &Tenant,
    lead: &Lead,
    consultant: &Consultant,
    windows: Windows,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let branch = branch_of(tenant, lead);
    let call_time = match consultant.shifts.next_open(&branch.time_zone, now) {
        Some(next) if next > now => {
            let zone = locale::patient_zone(None, &lead.reach, &branch.time_zone);
            locale::when(next, now, &zone, &lead.language)
        }
        _ => String::new(),
    };
    let vars = BTreeMap::from([
        ("first_name", lead.first_name().to_owned()),
        ("name", lead.name.clone().unwrap_or_default()),
        ("clinic", tenant.name.clone()),
        ("branch", branch.name.clone()),
        ("consultant", consultant.first_name().to_owned()),
        ("service", lead.service.clone().unwrap_or_default()),
        ("call_time", call_time),
    ]);
    compose(
        tenant,
        Draft {
            vars,
            ..Draft::new(
                tenant,
                message::greeting_id(&lead.id),
                lead,
                TemplateKind::Greeting,
                Audience::Patient,
                &lead.reach,
                &lead.language,
            )
            .window(windows)
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
    windows: Windows,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    compose(
        tenant,
        Draft {
            purpose,
            vars: BTreeMap::from([("text", text.to_owned())]),
            ..Draft::new(
                tenant,
                id,
                lead,
                TemplateKind::Reply,
                Audience::Patient,
                &lead.reach,
                &lead.language,
            )
            .window(windows)
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
            vars,
            ..Draft::new(
                tenant,
                message::sla_alert_id(&lead.id, lead.sla_cycle),
                lead,
                TemplateKind::SlaAlert,
                Audience::Manager(manager.id.clone()),
                &manager.reach,
                &tenant.default_language,
            )
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
            vars,
            ..Draft::new(
                tenant,
                id,
                lead,
                TemplateKind::InboundNotice,
                Audience::Consultant(consultant.id.clone()),
                &consultant.reach,
                &tenant.default_language,
            )
        },
        now,
    )
}

/// The question to a patient who wrote on WhatsApp or Instagram in no
/// language we could tell: the clinic's question in each language it
/// serves, one line each, and a reply button per language (WhatsApp allows
/// three, Instagram thirteen quick replies; with more, the options are
/// numbered in the text and answered by number or name). Free form on
/// `channel`, inside the window the patient's message opened; `None`
/// without an address there.
pub fn language_question(
    tenant: &Tenant,
    lead: &Lead,
    channel: Channel,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let Some(to) = lead.reach.address(channel) else {
        return Ok(None);
    };
    let vars = BTreeMap::from([("clinic", tenant.name.clone())]);
    let mut lines: Vec<String> = Vec::new();
    for language in &tenant.languages {
        let text = tenant
            .templates
            .render(
                TemplateKind::LanguageQuestion,
                language,
                &tenant.default_language,
                &vars,
            )
            .map_err(AppError::Internal)?
            .text;
        if !lines.contains(&text) {
            lines.push(text);
        }
    }
    let mut buttons: Vec<Button> = tenant
        .languages
        .iter()
        .map(|l| Button {
            payload: language::button_payload(l),
            title: language::native_name(l),
        })
        .collect();
    let most = match channel {
        Channel::Instagram => instagram::MAX_QUICK_REPLIES,
        _ => whatsapp::MAX_REPLY_BUTTONS,
    };
    if buttons.len() > most {
        lines.push(String::new());
        for (i, b) in buttons.iter().enumerate() {
            lines.push(format!("{} {}", i + 1, b.title));
        }
        buttons.clear();
    }
    let route = Route {
        channel,
        to: to.to_owned(),
    };
    Ok(Some(Message {
        buttons,
        ..Message::queued(
            MessageId::derived("language_question", &lead.id, None),
            tenant.id.clone(),
            RecordRef::Lead(lead.id.clone()),
            TemplateKind::LanguageQuestion,
            Audience::Patient,
            route,
            Purpose::Operational,
            tenant.default_language.clone(),
            lines.join("\n"),
            now,
        )
    }))
}

/// Everything a message is made from.
pub(crate) struct Draft<'a> {
    pub id: MessageId,
    pub about: RecordRef,
    /// The branch whose channel order a patient's message follows.
    pub branch: Option<&'a Branch>,
    pub kind: TemplateKind,
    pub audience: Audience,
    pub reach: &'a Reach,
    pub language: &'a Language,
    pub purpose: Purpose,
    /// When the recipient last wrote on WhatsApp and Instagram (patients only).
    pub windows: Windows,
    pub vars: BTreeMap<&'static str, String>,
    /// The one-tap answers the message offers, about this appointment version.
    pub answers: Option<(AppointmentId, u64, Buttons)>,
    pub expires_at: Option<Timestamp>,
    /// The rule and occurrence that sent it.
    pub fired: Option<(RuleId, String)>,
}

impl<'a> Draft<'a> {
    /// A draft about `lead`, in its branch.
    fn new(
        tenant: &'a Tenant,
        id: MessageId,
        lead: &Lead,
        kind: TemplateKind,
        audience: Audience,
        reach: &'a Reach,
        language: &'a Language,
    ) -> Draft<'a> {
        Draft {
            id,
            about: RecordRef::Lead(lead.id.clone()),
            branch: Some(branch_of(tenant, lead)),
            kind,
            audience,
            reach,
            language,
            purpose: Purpose::Operational,
            windows: Windows::default(),
            vars: BTreeMap::new(),
            answers: None,
            expires_at: None,
            fired: None,
        }
    }

    fn window(mut self, windows: Windows) -> Self {
        self.windows = windows;
        self
    }
}

/// Renders a draft and routes it: the first of the tenant's channels for
/// its kind that reaches the recipient and can carry the message now (on
/// WhatsApp: free-form inside the 24-hour window, the kind's approved
/// template outside it — or always, when the template has a validity
/// period, so that it applies), with the later ones kept as fallbacks.
/// `None` when no channel can.
pub(crate) fn compose(
    tenant: &Tenant,
    d: Draft<'_>,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let rendered = tenant
        .templates
        .render(d.kind, d.language, &tenant.default_language, &d.vars)
        .map_err(AppError::Internal)?;
    let template = tenant.messaging.whatsapp_templates.get(&d.kind);
    let payload = |button: &str| match (&d.answers, Answer::parse(button), button.parse::<u8>()) {
        (Some((appointment, version, _)), Some(answer), _) => {
            Payload::answer(appointment, *version, answer)
        }
        (Some((appointment, _, _)), None, Ok(score)) => Payload::score(appointment, score),
        _ => button.to_owned(),
    };
    let approved = template.map(|t| TemplateCall {
        buttons: t.buttons.iter().map(|b| payload(b)).collect(),
        ..t.call(&rendered.language, &d.vars)
    });
    // A branch with its own order uses it for its patients.
    let branch_order = match d.audience {
        Audience::Patient => d.branch.and_then(|b| b.channels.as_deref()),
        _ => None,
    };
    let routes = match branch_order {
        Some(order) => messaging::routes_in(order, d.reach),
        None => tenant.messaging.routing.routes(d.kind, d.reach),
    };
    let windows = d.windows.for_template(template);
    let Some((route, format, fallbacks)) =
        messaging::pick(routes, &windows, now, approved.as_ref())
    else {
        return Ok(None);
    };
    let buttons = match &d.answers {
        Some((appointment, version, Buttons::Answer)) => Answer::ALL
            .iter()
            .map(|a| Button {
                payload: Payload::answer(appointment, *version, *a),
                title: a.title(&rendered.language).to_owned(),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(Some(Message {
        template: format,
        whatsapp_template: approved,
        subject: Some(tenant.name.clone()),
        fallbacks,
        buttons,
        expires_at: d.expires_at,
        rule: d.fired.as_ref().map(|(rule, _)| rule.clone()),
        occurrence: d.fired.map(|(_, occurrence)| occurrence),
        ..Message::queued(
            d.id,
            tenant.id.clone(),
            d.about,
            d.kind,
            d.audience,
            route,
            d.purpose,
            rendered.language,
            rendered.text,
            now,
        )
    }))
}

/// The next attempt after `failed`: for a fallback, on its first fallback
/// route that can carry it now; for a resend, on its own route again (then
/// the fallbacks). Same text, linked to the failed one. `None` when no
/// route can carry it now.
pub fn follow_up(
    failed: &Message,
    via: HandledVia,
    windows: Windows,
    now: Timestamp,
) -> Result<Option<Message>, AppError> {
    let mut routes = Vec::new();
    if via != HandledVia::Fallback {
        routes.push(Route {
            channel: failed.channel,
            to: failed.to.clone(),
        });
    }
    routes.extend(failed.fallbacks.iter().cloned());
    let approved = failed.whatsapp_template.as_ref();
    let Some((route, format, fallbacks)) = messaging::pick(routes, &windows, now, approved) else {
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
        message: Some(message.id.clone()),
        ..Timer::new(
            message.tenant.clone(),
            message.about.clone(),
            TimerKind::Deliver,
            due_at,
        )
    }
}

/// The warn and reassign timers of the SLA cycle that starts at `start`.
pub fn sla_timers(tenant: &Tenant, lead: &Lead, start: Timestamp) -> [Timer; 2] {
    let deadlines = tenant.sla.deadlines(branch_of(tenant, lead), start);
    let timer = |kind, due_at| Timer {
        cycle: lead.sla_cycle,
        ..Timer::new(
            lead.tenant.clone(),
            RecordRef::Lead(lead.id.clone()),
            kind,
            due_at,
        )
    };
    [
        timer(TimerKind::SlaWarn, deadlines.warn_at),
        timer(TimerKind::SlaReassign, deadlines.reassign_at),
    ]
}
