//! Blasts: one message to a filtered set of patients (a doctor's sick
//! afternoon, a holiday closing), previewed before anything is sent.
//!
//! This module is the pure part: the clinic's blast templates and limits
//! (`[tenants.blasts]`), the audience filter, the preview's buckets (every
//! patient of the filter in exactly one: sent on a channel, deferred by
//! quiet hours, or excluded with its reason), the cost estimate, and what a
//! provider's error code means for a blast.
//!
//! - [`policy`]: templates, limits, prices; [`audience`]: the filter,
//!   the candidates, [`classify`], [`fingerprint`]; [`cost`]: the
//!   estimate; [`provider`]: what an error code does to a blast; here:
//!   the blast, its pages and recipients, and their exact counts.

mod audience;
mod cost;
mod policy;
mod provider;

pub use audience::{
    Bucket, Buckets, Candidate, Context, Exclusion, Filter, classify, fingerprint,
    missing_languages,
};
pub use cost::{Cost, CostLine};
pub use policy::{
    BlastPolicy, BlastTemplate, BlastTemplateConfig, BlastWhatsappConfig, BlastsConfig,
    PricesConfig, PurposePrice, VARIABLES, WhatsappCategory, build, purpose_str,
};
pub use provider::{Effect, effect, explain};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::contact::ContactKey;
use crate::ids::{BlastId, Language, MessageId, RecordRef};
use crate::message::{Channel, Purpose};
use crate::messaging::Route;

/// The state of one recipient of a blast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientState {
    /// Waiting for its turn (or for its quiet hours to end).
    Pending,
    /// Its message is in the ledger and being sent.
    InFlight,
    Sent,
    Delivered,
    Read,
    Failed,
    /// Not sent, for a reason of the patient (Meta's marketing cap, an opt-out).
    Skipped,
    Cancelled,
}

impl RecipientState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::InFlight => "in_flight",
            RecipientState::Sent => "sent",
            RecipientState::Delivered => "delivered",
            RecipientState::Read => "read",
            RecipientState::Failed => "failed",
            RecipientState::Skipped => "skipped",
            RecipientState::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, RecipientState::Pending | RecipientState::InFlight)
    }
}

/// Where a blast is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlastState {
    /// Counted and shown; nothing is sent until staff send it.
    Previewed,
    /// Sent at `send_at`.
    Scheduled,
    Sending,
    /// Stopped by staff or by the provider (`reason`); resumable.
    Paused,
    /// Stopped for good by staff: what was not sent never will be.
    Cancelled,
    /// Stopped for good by the provider (`reason`: a missing template).
    Failed,
    /// Every recipient has its outcome.
    Done,
}

impl BlastState {
    pub fn as_str(self) -> &'static str {
        match self {
            BlastState::Previewed => "previewed",
            BlastState::Scheduled => "scheduled",
            BlastState::Sending => "sending",
            BlastState::Paused => "paused",
            BlastState::Cancelled => "cancelled",
            BlastState::Failed => "failed",
            BlastState::Done => "done",
        }
    }

    /// Whether recipients still waiting will never be sent.
    pub fn is_stopped(self) -> bool {
        matches!(self, BlastState::Cancelled | BlastState::Failed)
    }
}

/// A rendered message of the preview's sample.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub channel: Channel,
    /// Masked.
    pub to: String,
    pub language: Language,
    pub text: String,
    /// The WhatsApp template it goes as, outside the 24-hour window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
}

/// A blast, from its preview on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Blast {
    pub id: BlastId,
    pub tenant: crate::ids::TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub template: String,
    pub purpose: Purpose,
    pub filter: Filter,
    pub state: BlastState,
    /// Why it paused or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub buckets: Buckets,
    /// Recipients (will be sent, now or later).
    pub planned: u32,
    /// Pages of the frozen audience, of `page_size` recipients each (the
    /// last one the rest).
    pub pages: u32,
    pub page_size: u32,
    /// WhatsApp templates it sends outside a window: its share of the daily limit.
    pub whatsapp_templates: u32,
    pub fingerprint: String,
    pub cost: Cost,
    pub sample: Vec<Sample>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When its first message (sent alone, before any other) got an answer
    /// that did not stop the blast: a template the provider does not have
    /// fails the blast on that one message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// Staff test sends so far.
    #[serde(default)]
    pub tests: u32,
}

/// One member of the frozen audience who gets the message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Planned {
    pub contact: ContactKey,
    #[serde(flatten)]
    pub about: RecordRef,
    pub language: Language,
    pub route: Route,
    /// On WhatsApp outside the window: as the approved template.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub template: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// The channels to try next if this one fails for good.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<Route>,
    /// The patient's time zone (IANA): their quiet hours are checked
    /// again when the message goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

/// A page of the frozen audience.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudiencePage {
    pub page: u32,
    pub recipients: Vec<Planned>,
}

/// A recipient's record: its state, kept in step with its ledger message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    #[serde(flatten)]
    pub planned: Planned,
    pub state: RecipientState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageId>,
    /// The provider's code and our words, for failed and skipped ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The provider's id of the message sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The patient replied within 72 hours (or to this very message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replied_at: Option<Timestamp>,
    /// The patient booked or moved an appointment within 7 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebooked_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl Blast {
    /// How many recipients page `page` holds.
    pub fn page_len(&self, page: u32) -> usize {
        let before = u64::from(page) * u64::from(self.page_size);
        let left = u64::from(self.planned).saturating_sub(before);
        usize::try_from(left.min(u64::from(self.page_size))).unwrap_or(0)
    }
}

impl Recipient {
    /// A recipient nothing has happened to yet.
    pub fn pending(planned: Planned, at: Timestamp) -> Recipient {
        Recipient {
            planned,
            state: RecipientState::Pending,
            message: None,
            code: None,
            reason: None,
            provider_id: None,
            replied_at: None,
            rebooked_at: None,
            updated_at: at,
        }
    }
}

/// How long after a blast message a reply is counted as its outcome.
pub const REPLY_WINDOW: SignedDuration = SignedDuration::from_hours(72);
/// How long after a blast message a booking or move is counted as its outcome.
pub const BOOKING_WINDOW: SignedDuration = SignedDuration::from_hours(24 * 7);

/// The last blast message a patient got: what a reply or booking is
/// attributed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastBlast {
    pub blast: BlastId,
    pub page: u32,
    pub at: Timestamp,
}

/// Exact counts of a blast's recipients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub planned: u32,
    pub pending: u32,
    pub in_flight: u32,
    /// Sent, whatever happened after (delivered and read are among them).
    pub sent: u32,
    pub delivered: u32,
    pub read: u32,
    pub failed: u32,
    pub skipped: u32,
    pub cancelled: u32,
    pub replied: u32,
    pub rebooked: u32,
}

impl Progress {
    /// Counts one recipient's record: its state, and whether the patient
    /// replied or booked since.
    pub fn count(&mut self, state: RecipientState, replied: bool, rebooked: bool) {
        match state {
            RecipientState::Pending => self.pending += 1,
            RecipientState::InFlight => self.in_flight += 1,
            RecipientState::Sent => self.sent += 1,
            RecipientState::Delivered => {
                self.sent += 1;
                self.delivered += 1;
            }
            RecipientState::Read => {
                self.sent += 1;
                self.delivered += 1;
                self.read += 1;
            }
            RecipientState::Failed => self.failed += 1,
            RecipientState::Skipped => self.skipped += 1,
            RecipientState::Cancelled => self.cancelled += 1,
        }
        self.replied += u32::from(replied);
        self.rebooked += u32::from(rebooked);
    }

    /// The counts of every record, completed with the recipients that have
    /// none yet (pending, or cancelled in a stopped blast).
    pub fn close(mut self, blast: &Blast) -> Progress {
        let seen =
            self.pending + self.in_flight + self.sent + self.failed + self.skipped + self.cancelled;
        self.planned = blast.planned;
        self.pending += blast.planned.saturating_sub(seen);
        if blast.state.is_stopped() {
            self.cancelled += self.pending;
            self.pending = 0;
        }
        self
    }

    /// Whether every recipient has its outcome.
    pub fn finished(&self) -> bool {
        self.pending == 0 && self.in_flight == 0
    }
}

/// The id of a blast's one message to a patient.
pub fn message_id(blast: &BlastId, contact: &ContactKey) -> Result<MessageId, String> {
    MessageId::new(format!("blast-{blast}-{}", contact.as_str()))
}

#[cfg(test)]
mod tests;
