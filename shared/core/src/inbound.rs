//! What providers tell us, in our terms: a patient's message, or the fate
//! of one of ours. Webhook payloads are parsed into these (by the channel
//! adapters) before anything is stored.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::calls::Call;
use crate::contact::{ContactKey, InstagramId, PhoneNumber, Reach, Region};
use crate::lead_ads::{LeadAd, LeadNotice};
use crate::message::{Channel, Failure, MessageStatus};

/// One event from a provider; its `provider_id` makes it idempotent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Inbound {
    /// A patient wrote to the clinic.
    Message(InboundMessage),
    /// A provider reports what became of a message we sent.
    Status(StatusUpdate),
    /// A patient filled a lead form inside an ad.
    LeadAd(LeadAd),
    /// A network names a lead whose answers it holds (Meta).
    LeadNotice(LeadNotice),
    /// The switchboard reported a call.
    Call(Call),
}

impl Inbound {
    /// The provider's id of the event: the message's, or the message's and
    /// the status's (a message has one event per status).
    pub fn event_id(&self) -> String {
        match self {
            Inbound::Message(m) => format!("{}:{}", m.provider, m.provider_id),
            Inbound::Status(s) => {
                format!("{}:{}:{}", s.provider, s.provider_id, s.status.as_str())
            }
            Inbound::LeadAd(l) => format!("{}:lead:{}", l.network.as_str(), l.lead_id),
            // The same as the lead's once read: handled once either way.
            Inbound::LeadNotice(n) => format!("{}:lead:{}", n.network.as_str(), n.lead_id),
            Inbound::Call(c) => format!("call:{}", c.id),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub provider: String,
    pub provider_id: String,
    pub channel: Channel,
    /// The sender's address on the channel as the provider gives it: a
    /// phone number (E.164, or WhatsApp's digits without `+`), or on
    /// Instagram their Instagram-scoped id.
    pub from: String,
    /// The sender's profile name, when the provider shares it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The text (or a caption); empty for media without one.
    pub text: String,
    pub at: Timestamp,
    /// The ad that started the conversation (click-to-WhatsApp ads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<String>,
    /// The payload of the button the patient tapped (a template's quick
    /// reply, or an interactive reply button's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The provider's id of our message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl InboundMessage {
    /// Who wrote, and the key that identifies them: their phone number
    /// (a national one read in `region`), or the Instagram account they
    /// wrote from. `None` when the address does not read.
    pub fn sender(&self, region: Region) -> Option<(Reach, ContactKey)> {
        match self.channel {
            Channel::Instagram => InstagramId::parse(&self.from).ok().map(Reach::by_instagram),
            _ => PhoneNumber::parse(&self.from, region)
                .ok()
                .map(Reach::by_phone),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub provider: String,
    /// The provider's id of our message (returned when we sent it).
    pub provider_id: String,
    pub status: MessageStatus,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Failure>,
}

/// A campaign reference code in a click-to-chat prefilled text, such as
/// `Merhaba! (ref: IG-IMPLANT-11)`: the code after `ref:`, or after `#`
/// when the text ends with a `#CODE` word.
pub fn reference_code(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let code = if let Some(at) = lower.find("ref:") {
        text.get(at + 4..)?.trim_start()
    } else {
        text.split_whitespace().last()?.strip_prefix('#')?
    };
    let code: String = code
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let code = code.trim_end_matches('.');
    (!code.is_empty() && code.len() <= 64).then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::reference_code;

    #[test]
    fn reference_codes_come_from_prefilled_texts() {
        assert_eq!(
            reference_code("Merhaba! Bilgi almak istiyorum (ref: IG-IMPLANT-11)").as_deref(),
            Some("IG-IMPLANT-11")
        );
        assert_eq!(
            reference_code("Hello REF:fb_spring.").as_deref(),
            Some("fb_spring")
        );
        assert_eq!(
            reference_code("Hi there #GADS-42").as_deref(),
            Some("GADS-42")
        );
        assert_eq!(reference_code("Hi there"), None);
        assert_eq!(reference_code("ref: !!"), None);
    }
}
