//! The messages that cross function boundaries through the queues.

use clinicflow_core::ids::{LeadId, MessageId, TenantId};
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
}

impl Work {
    pub fn queue(&self) -> QueueName {
        match self {
            Work::Assign { .. } => QueueName::Leads,
            Work::Deliver { .. } => QueueName::Outbox,
        }
    }

    pub fn to_body(&self) -> String {
        // A struct of strings always serialises.
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
