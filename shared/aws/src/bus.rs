//! Domain events on an EventBridge bus, for the clinic's own consumers.

use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// The `source` of every event Clinicflow publishes.
pub const SOURCE: &str = "clinicflow";

/// EventBridge's limit on entries per `PutEvents`.
pub const BATCH: usize = 10;

#[derive(Debug, thiserror::Error)]
#[error("event bus unavailable: {0}")]
pub struct BusError(String);

#[derive(Clone, Debug)]
pub struct EventBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBus {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: String) -> Self {
        EventBus { client, bus }
    }

    /// Publishes `(detail_type, detail)` pairs, ten per request.
    pub async fn publish(&self, events: &[(String, String)]) -> Result<(), BusError> {
        for chunk in events.chunks(BATCH) {
            let entries = chunk
                .iter()
                .map(|(detail_type, detail)| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(SOURCE)
                        .detail_type(detail_type)
                        .detail(detail)
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    BusError(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())
                })?;
            if out.failed_entry_count() > 0 {
                return Err(BusError(format!(
                    "{} of {} events refused",
                    out.failed_entry_count(),
                    chunk.len()
                )));
            }
        }
        Ok(())
    }
}
