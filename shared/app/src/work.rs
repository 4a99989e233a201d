//! The messages that cross function boundaries through the queues.

use clinicflow_core::automation::Event;
use clinicflow_core::calcom::CalcomWrite;
use clinicflow_core::contact::ContactKey;
use clinicflow_core::ids::{AppointmentId, BlastId, LeadId, MessageId, RecordRef, TenantId};
use clinicflow_core::inbound::Inbound;
use clinicflow_ports::{QueueName, Write};
use serde::{Deserialize, Serialize};

use crate::usecases::Reply;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "work", rename_all = "snake_case")]
pub enum Work {
    /// Assign a new lead and greet the patient. `contact` is the lead's
    /// contact key (a pseudonym), so that the assignment reads the lead and
    /// the patient's record in one request; messages queued before it was
    /// carried have none.
    Assign {
        tenant: TenantId,
        lead: LeadId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact: Option<ContactKey>,
    },
    /// Deliver one ledger message (of a lead or an appointment).
    Deliver {
        tenant: TenantId,
        #[serde(flatten)]
        about: RecordRef,
        message: MessageId,
    },
    /// Handle what a provider's webhook reported.
    Inbound { tenant: TenantId, inbound: Inbound },
    /// Apply what a clinic's Cal.com reported.
    Calcom {
        tenant: TenantId,
        write: CalcomWrite,
    },
    /// Apply a patient's answer given on a signed link's page; `key` names
    /// the answer (it is applied once).
    Answer {
        tenant: TenantId,
        appointment: AppointmentId,
        version: u64,
        reply: Reply,
        key: String,
    },
    /// Events of one record for the automation rules: arm their firings.
    /// `depth` counts the firings that led to them.
    Automation {
        tenant: TenantId,
        #[serde(flatten)]
        about: RecordRef,
        events: Vec<Event>,
        at: jiff::Timestamp,
        #[serde(default)]
        depth: u8,
    },
    /// Send one page of a blast's frozen audience.
    BlastPage {
        tenant: TenantId,
        blast: BlastId,
        page: u32,
    },
}

impl Work {
    pub fn queue(&self) -> QueueName {
        match self {
            // What arrives from outside rides the leads queue: new leads,
            // inbound messages (which may create a lead), a scheduler's
            // bookings and patients' answers on the link page.
            Work::Assign { .. }
            | Work::Inbound { .. }
            | Work::Calcom { .. }
            | Work::Answer { .. }
            | Work::Automation { .. } => QueueName::Leads,
            Work::Deliver { .. } => QueueName::Outbox,
            Work::BlastPage { .. } => QueueName::Blast,
        }
    }

    pub fn to_body(&self) -> String {
        // Strings, numbers and timestamps always serialise.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The outbox write that queues this work when its transaction commits.
    pub fn enqueue(&self) -> Write {
        Write::Enqueue {
            queue: self.queue(),
            body: self.to_body(),
        }
    }

    pub fn parse(body: &str) -> Result<Work, String> {
        serde_json::from_str(body).map_err(|e| format!("not a work message: {e}"))
    }
}
