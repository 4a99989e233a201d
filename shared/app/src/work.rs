//! The messages that cross function boundaries through the queues.

use clinicflow_core::ids::{LeadId, MessageId, TenantId};
use clinicflow_core::inbound::Inbound;
use clinicflow_ports::{QueueName, Write};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "work", rename_all = "snake_case", deny_unknown_fields)]
pub enum Work {
    /// Assign a new lead and greet the patient.
    Assign { tenant: TenantId, lead: LeadId },
    /// Deliver one ledger message.
    Deliver {
        tenant: TenantId,
        lead: LeadId,
        message: MessageId,
    },
    /// Handle what a provider's webhook reported.
    Inbound { tenant: TenantId, inbound: Inbound },
}

impl Work {
    pub fn queue(&self) -> QueueName {
        match self {
            // Inbound events ride the leads queue: like new leads, they are
            // the patient reaching out, and they may create a lead.
            Work::Assign { .. } | Work::Inbound { .. } => QueueName::Leads,
            Work::Deliver { .. } => QueueName::Outbox,
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
