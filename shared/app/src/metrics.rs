//! The product's metrics, recorded through the `metrics` facade. The
//! process installs the exporter: CloudWatch Embedded Metric Format lines
//! in a function's log on AWS (namespace `Clinicflow`, the labels as
//! dimensions), a Prometheus `/metrics` page on the local server. With no
//! exporter installed (the use cases' tests), recording does nothing.
//!
//! Labels carry only channels, statuses, provider codes and queue names:
//! never a tenant's patient, a phone number or a message's text.

use std::time::Duration;

use clinicflow_core::message::Channel;
use jiff::{SignedDuration, Timestamp};

/// Every metric's name, as the exporters and the dashboard know it.
pub const NAMES: [&str; 9] = [
    LEADS_ACCEPTED,
    GREETINGS_SENT,
    SPEED_TO_LEAD,
    SLA_BREACHES,
    MESSAGES,
    PROVIDER_ERRORS,
    SEND_LATENCY,
    TIMER_LATENESS,
    QUEUE_AGE,
];

/// Leads created (a form post, a lead ad, a first message); repeat
/// contacts on an open lead are not counted again.
pub const LEADS_ACCEPTED: &str = "leads_accepted";
/// Greetings a provider accepted.
pub const GREETINGS_SENT: &str = "greetings_sent";
/// From the lead's creation to its greeting accepted by the provider, ms.
pub const SPEED_TO_LEAD: &str = "speed_to_lead_ms";
/// Leads nobody contacted within the SLA (the manager was warned).
pub const SLA_BREACHES: &str = "sla_breaches";
/// Messages settled or reported on, by `channel` and `status` (sent,
/// failed, delivered, read).
pub const MESSAGES: &str = "messages";
/// Provider answers that failed a send, by `channel` and `code`.
pub const PROVIDER_ERRORS: &str = "provider_errors";
/// One provider call, by `channel`, ms.
pub const SEND_LATENCY: &str = "send_latency_ms";
/// How long after its due time a timer was handled, ms.
pub const TIMER_LATENESS: &str = "timer_lateness_ms";
/// How long a queue message waited before a consumer received it, by
/// `queue`, ms.
pub const QUEUE_AGE: &str = "queue_age_ms";

pub fn lead_accepted() {
    metrics::counter!(LEADS_ACCEPTED).increment(1);
}

/// A greeting accepted at `now` for the lead created at `created`.
pub fn greeting_sent(created: Option<Timestamp>, now: Timestamp) {
    metrics::counter!(GREETINGS_SENT).increment(1);
    if let Some(created) = created {
        metrics::histogram!(SPEED_TO_LEAD).record(millis(now.duration_since(created)));
    }
}

pub fn sla_breached() {
    metrics::counter!(SLA_BREACHES).increment(1);
}

pub fn message(channel: Channel, status: &str) {
    metrics::counter!(MESSAGES, "channel" => channel.as_str(), "status" => status.to_owned())
        .increment(1);
}

pub fn provider_error(channel: Channel, code: &str) {
    // Codes are the providers' (131047, 30007, throttled…): a bounded set,
    // cut short in case a provider sends prose.
    let code: String = code.chars().take(32).collect();
    metrics::counter!(PROVIDER_ERRORS, "channel" => channel.as_str(), "code" => code).increment(1);
}

pub fn send_latency(channel: Channel, took: Duration) {
    metrics::histogram!(SEND_LATENCY, "channel" => channel.as_str())
        .record(took.as_secs_f64() * 1e3);
}

pub fn timer_late(due: Timestamp, now: Timestamp) {
    metrics::histogram!(TIMER_LATENESS).record(millis(now.duration_since(due)).max(0.0));
}

pub fn queue_age(queue: &str, age: Duration) {
    metrics::histogram!(QUEUE_AGE, "queue" => queue.to_owned()).record(age.as_secs_f64() * 1e3);
}

fn millis(d: SignedDuration) -> f64 {
    d.as_secs_f64() * 1e3
}
