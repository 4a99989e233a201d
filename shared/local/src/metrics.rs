//! The local server's metrics page: the product's metrics
//! (`clinicflow_app::metrics`) in Prometheus' text format at
//! `GET /metrics`, on a port of its own (`[local] metrics_port`), apart
//! from the API: it counts every tenant's work, so it is for whoever runs
//! the server, not for a clinic's staff.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tracing::warn;

/// How often histograms drop what they no longer summarise.
const UPKEEP: Duration = Duration::from_secs(5);

/// The process's recorder, installed at the first call.
pub fn recorder() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| warn!(error = %e, "metrics recorder not installed"))
                .ok()?;
            let upkeep = handle.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(UPKEEP).await;
                    upkeep.run_upkeep();
                }
            });
            Some(handle)
        })
        .clone()
}

/// Serves `GET /metrics` on `listener` until the process ends.
pub fn serve(listener: TcpListener, handle: PrometheusHandle) -> std::io::Result<SocketAddr> {
    let addr = listener.local_addr()?;
    let routes = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [("content-type", "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, routes).await {
            warn!(error = %e, "metrics page stopped");
        }
    });
    Ok(addr)
}
