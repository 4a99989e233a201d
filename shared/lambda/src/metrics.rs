//! The product's metrics (`clinicflow_app::metrics`) on AWS: CloudWatch
//! Embedded Metric Format, one JSON document per invocation in the
//! function's log (namespace `Clinicflow`, labels as dimensions), which
//! CloudWatch turns into metrics without an API call.

use std::sync::OnceLock;

use metrics_cloudwatch_embedded::Collector;
use tracing::warn;

/// The namespace of the product's metrics (the template's alarms and
/// dashboard read it).
pub const NAMESPACE: &str = "Clinicflow";

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();

/// Installs the recorder (once per process).
pub fn install() {
    if COLLECTOR.get().is_some() {
        return;
    }
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .init()
    {
        Ok(collector) => {
            let _ = COLLECTOR.set(collector);
        }
        Err(e) => warn!(error = %e, "metrics recorder not installed"),
    }
}

/// Writes what the invocation recorded to the log, and starts afresh.
pub fn flush() {
    if let Err(e) = flush_to(std::io::stdout().lock()) {
        warn!(error = %e, "metrics not written");
    }
}

/// Writes what was recorded since the last flush to `out`, as Embedded
/// Metric Format documents, one JSON object per line.
pub fn flush_to(out: impl std::io::Write) -> std::io::Result<()> {
    match COLLECTOR.get() {
        Some(collector) => collector.flush(out),
        None => Ok(()),
    }
}
