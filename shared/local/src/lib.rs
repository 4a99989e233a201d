//! Clinicflow on one machine: every function in one process, with the
//! embedded durable store and queue. `clinicflow` (the binary) calls [`main`].
//!
//! - [`settings`]: the `[local]` section of the configuration file.
//! - [`env`]: credentials' variables, from the process and `.env`.
//! - [`workers`]: queue consumers and the timer sweep.
//! - [`server`]: wiring the adapters into an `App` and serving it.
//! - [`demo`]: the demo clinic's appointments, fed at first start.

pub mod demo;
pub mod env;
pub mod metrics;
pub mod server;
pub mod settings;
pub mod workers;

use std::path::PathBuf;
use std::process::ExitCode;

/// The configuration used when `CLINICFLOW_CONFIG` is not set.
pub const DEFAULT_CONFIG: &str = "config/demo.toml";

/// Runs the server until SIGINT or SIGTERM. Configuration problems are
/// printed and the process exits with status 2 without starting.
pub async fn main() -> ExitCode {
    // Log lines are written by a thread of their own, off the request path;
    // the guard flushes what is pending when the server stops.
    let (writer, _flush_on_exit) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stderr());
    init_logging(writer);
    let config = std::env::var_os("CLINICFLOW_CONFIG")
        .map_or_else(|| PathBuf::from(DEFAULT_CONFIG), PathBuf::from);
    match server::run(&config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ (server::StartError::Config(_) | server::StartError::Credentials(_))) => {
            eprintln!("{e}");
            eprintln!(
                "Clinicflow did not start. Fix the configuration, or set CLINICFLOW_CONFIG to another file."
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("Clinicflow stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `CLINICFLOW_LOG` (or `RUST_LOG`) sets the filter
/// ([`clinicflow_app::config::log_filter`]).
fn init_logging(writer: tracing_appender::non_blocking::NonBlocking) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("CLINICFLOW_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .finish()
        .with(clinicflow_app::config::log_filter(filter.as_deref()))
        .init();
}
