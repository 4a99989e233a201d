//! The message ledger: every outbound message, recorded before it is sent
//! under an id derived from its intent, moving only forward through its
//! states (queued → sending → sent → delivered → read, or failed).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::contact::{ContactKey, Email, InstagramId};
use crate::ids::{
    BlastId, ConsultantId, Language, LeadId, ManagerId, MessageId, RecordRef, RuleId, TenantId,
};
use crate::messaging::{Route, TemplateCall};
use crate::template::TemplateKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Whatsapp,
    Email,
    /// Instagram direct messages, to someone who wrote to the clinic's
    /// professional account (inside their 24-hour window).
    Instagram,
    /// A signed HTTP POST to the clinic's own system (its scheduler): never
    /// a way to reach a person, so never in a channel order.
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
            Channel::Email => "email",
            Channel::Instagram => "instagram",
            Channel::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        [
            Channel::Sms,
            Channel::Whatsapp,
            Channel::Email,
            Channel::Instagram,
            Channel::Webhook,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// How staff and patients call it.
    pub fn title(self) -> &'static str {
        match self {
            Channel::Sms => "SMS",
            Channel::Whatsapp => "WhatsApp",
            Channel::Email => "e-mail",
            Channel::Instagram => "Instagram",
            Channel::Webhook => "webhook",
        }
    }
}

/// Operational messages (about the patient's own request or appointment)
/// go out without marketing consent; promotional ones never without it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Operational,
    Promotional,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sending,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sending => "sending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Read => "read",
            MessageStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        use MessageStatus::*;
        [Queued, Sending, Sent, Delivered, Read, Failed]
            .into_iter()
            .find(|st| st.as_str() == s)
    }

    /// Whether the provider has taken the message (or refused it for good).
    pub fn is_settled(self) -> bool {
        !matches!(self, MessageStatus::Queued | MessageStatus::Sending)
    }

    /// Statuses only move forward: a late `delivered` never overwrites
    /// `read`, and `failed` is final. A retry puts `sending` back to `queued`.
    pub fn can_become(self, next: MessageStatus) -> bool {
        use MessageStatus::*;
        match (self, next) {
            (Failed, _) => false,
            (Sending, Queued) => true,
            (_, Failed) => !matches!(self, Delivered | Read),
            _ => next > self,
        }
    }
}

/// Who a message is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Audience {
    Patient,
    Manager(ManagerId),
    Consultant(ConsultantId),
    /// The clinic's own scheduler (a callback).
    Scheduler,
}

/// Why a message failed, in the provider's words and ours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub reason: String,
}

/// How staff dealt with a failed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandledVia {
    /// Sent again (the new attempt is linked).
    Resent,
    /// A different message went out on another channel automatically.
    Fallback,
    Call,
    Email,
    /// Any other way, described in the note.
    Other,
}

impl HandledVia {
    pub fn as_str(self) -> &'static str {
        match self {
            HandledVia::Resent => "resent",
            HandledVia::Fallback => "fallback",
            HandledVia::Call => "call",
            HandledVia::Email => "email",
            HandledVia::Other => "other",
        }
    }
}

/// A failed message taken care of: how, when, and the attempt that followed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handled {
    pub via: HandledVia,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<MessageId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub tenant: TenantId,
    /// The lead or appointment the message is about; it lives in its partition.
    #[serde(flatten)]
    pub about: RecordRef,
    pub kind: TemplateKind,
    pub audience: Audience,
    pub channel: Channel,
    /// E.164 phone number or e-mail address.
    pub to: String,
    pub purpose: Purpose,
    pub language: Language,
    pub body: String,
    pub status: MessageStatus,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// While `sending`: until when the sender that claimed it holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
    /// Sent as this approved template (WhatsApp outside the 24-hour
    /// window) instead of the free-form `body`; decided when queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateCall>,
    /// The kind's approved WhatsApp template, filled in: what a resend or a
    /// fallback on WhatsApp uses should the window be closed by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_template: Option<TemplateCall>,
    /// The e-mail subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The channels left to try, in order, if this one fails for good.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<Route>,
    /// The failed attempt this message follows (a resend or a fallback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<MessageId>,
    /// For a failed message: how staff (or a fallback) dealt with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handled: Option<Handled>,
    /// One-tap answers, sent as reply buttons on WhatsApp inside the
    /// 24-hour window (a template's buttons carry them outside it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    /// After this it is of no use (a reminder after the visit): not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// For a message a rule sent: the rule, and the occurrence it was for
    /// (an appointment's start, say): checked again before sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<String>,
    /// The automation firing that wrote it (rule, record, occurrence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firing: Option<String>,
    /// For a blast's message: the blast and the recipient it is for.
    /// (Not `blast`: a blast's test message is about the blast, `"blast": id`.)
    #[serde(
        default,
        rename = "blast_mark",
        skip_serializing_if = "Option::is_none"
    )]
    pub blast: Option<BlastMark>,
}

/// What ties a blast's message to its recipient: the blast, the page of
/// its audience the patient is on, and the patient.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlastMark {
    pub blast: BlastId,
    pub page: u32,
    pub contact: ContactKey,
}

/// A reply button: what it says, and the payload a tap sends back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub payload: String,
    pub title: String,
}

impl Message {
    /// A new message queued at `now` on `route`, with no delivery state yet
    /// and nothing else set (no template, fallbacks, buttons…).
    #[allow(clippy::too_many_arguments)]
    pub fn queued(
        id: MessageId,
        tenant: TenantId,
        about: RecordRef,
        kind: TemplateKind,
        audience: Audience,
        route: Route,
        purpose: Purpose,
        language: Language,
        body: String,
        now: Timestamp,
    ) -> Message {
        Message {
            id,
            tenant,
            about,
            kind,
            audience,
            channel: route.channel,
            to: route.to,
            purpose,
            language,
            body,
            status: MessageStatus::Queued,
            attempts: 0,
            created_at: now,
            updated_at: now,
            lease_until: None,
            sent_at: None,
            provider: None,
            provider_id: None,
            error: None,
            template: None,
            whatsapp_template: None,
            subject: None,
            fallbacks: Vec::new(),
            previous: None,
            handled: None,
            buttons: Vec::new(),
            expires_at: None,
            rule: None,
            occurrence: None,
            firing: None,
            blast: None,
        }
    }

    /// This message as a new attempt queued at `now`: its delivery state
    /// (status, attempts, lease, receipt, error, handling) starts over.
    pub fn requeued(mut self, now: Timestamp) -> Message {
        self.status = MessageStatus::Queued;
        self.attempts = 0;
        self.created_at = now;
        self.updated_at = now;
        self.lease_until = None;
        self.sent_at = None;
        self.provider = None;
        self.provider_id = None;
        self.error = None;
        self.handled = None;
        self
    }

    /// The recipient as logs may show it: masked.
    pub fn masked_recipient(&self) -> String {
        mask(self.channel, &self.to)
    }
}

/// An address on `channel` as logs and previews may show it: a phone
/// number with its first three and last two characters, an e-mail by
/// its mask; the clinic's own endpoint in full (it is no patient data).
pub fn mask(channel: Channel, to: &str) -> String {
    match channel {
        Channel::Webhook => to.to_owned(),
        Channel::Email => Email::parse(to).map_or_else(|_| "***".to_owned(), |e| e.masked()),
        Channel::Instagram => {
            InstagramId::parse(to).map_or_else(|_| "***".to_owned(), |id| id.masked())
        }
        Channel::Sms | Channel::Whatsapp => {
            let keep = to.len().saturating_sub(2);
            let tail = to.get(keep..).unwrap_or_default();
            let head = to.get(..3.min(keep)).unwrap_or_default();
            format!(
                "{head}{}{tail}",
                "*".repeat(to.len().saturating_sub(head.len() + tail.len()))
            )
        }
    }
}

/// The id of the one greeting a lead gets.
pub fn greeting_id(lead: &LeadId) -> MessageId {
    MessageId::derived("greeting", lead, None)
}

/// The id of the attempt that follows the failed message `id`: `{id}-r`
/// for a resend, `{id}-f` for a fallback. A failed message is handled
/// once, so it has one follow-up, and a repeated request finds it.
pub fn follow_up_id(id: &MessageId, via: HandledVia) -> Result<MessageId, String> {
    let suffix = if via == HandledVia::Fallback {
        "f"
    } else {
        "r"
    };
    MessageId::new(format!("{id}-{suffix}"))
}

/// The id of the manager alert of one SLA cycle.
pub fn sla_alert_id(lead: &LeadId, cycle: u32) -> MessageId {
    MessageId::derived("sla_alert", lead, Some(cycle))
}

#[cfg(test)]
mod tests {
    use super::MessageStatus::*;

    #[test]
    fn statuses_only_move_forward() {
        assert!(Queued.can_become(Sending));
        assert!(Sending.can_become(Sent));
        assert!(Sending.can_become(Queued));
        assert!(Sent.can_become(Delivered));
        assert!(Sent.can_become(Read));
        assert!(Delivered.can_become(Read));
        assert!(Sent.can_become(Failed));
        assert!(!Read.can_become(Delivered));
        assert!(!Delivered.can_become(Sent));
        assert!(!Read.can_become(Failed));
        assert!(!Failed.can_become(Sent));
        assert!(!Sent.can_become(Queued));
        assert!(!Sent.can_become(Sent));
    }
}
