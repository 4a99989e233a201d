//! A ledger message as the sender hands it to a provider.

#![allow(dead_code, clippy::unwrap_used)]

use clinicflow_core::ids::{Language, LeadId, MessageId, RecordRef, TenantId};
use clinicflow_core::message::{Audience, Channel, Message, MessageStatus, Purpose};
use clinicflow_core::messaging::TemplateCall;
use clinicflow_core::template::TemplateKind;

/// A greeting being sent on `channel` to `to`, as `template` if given.
pub fn message(channel: Channel, to: &str, template: Option<TemplateCall>) -> Message {
    let now = jiff::Timestamp::now();
    Message {
        id: MessageId::new("greeting.01JTEST").unwrap(),
        tenant: TenantId::new("demo").unwrap(),
        about: RecordRef::Lead(LeadId::new("01JTEST").unwrap()),
        kind: TemplateKind::Greeting,
        audience: Audience::Patient,
        channel,
        to: to.to_owned(),
        purpose: Purpose::Operational,
        language: Language::parse("tr").unwrap(),
        body: "Merhaba Ayşe, Elif sizi arayacak.".to_owned(),
        status: MessageStatus::Sending,
        attempts: 1,
        created_at: now,
        updated_at: now,
        lease_until: None,
        sent_at: None,
        provider: None,
        provider_id: None,
        error: None,
        whatsapp_template: template.clone(),
        template,
        subject: Some("Test Clinic".to_owned()),
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
