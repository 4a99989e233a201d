//! What every Clinicflow Lambda function shares. A function's `main` picks
//! one of [`serve_http`], [`serve_queue`] or [`serve_schedule`]; each reads
//! its configuration from the environment and builds its adapters once per
//! cold start, then hands every event to the shared use cases.
//!
//! - [`env`]: the environment variables, checked at init.
//! - [`wiring`]: adapters and the `App`.
//! - [`handlers`]: SQS batches (with partial failures) and the schedule.

pub mod env;
pub mod handlers;
pub mod wiring;

use std::sync::Arc;

use axum::Router;
use clinicflow_app::App;
use lambda_runtime::{Error, LambdaEvent, service_fn};

pub use lambda_runtime::Error as LambdaError;

/// Serves HTTP routes (API Gateway HTTP API) from `routes`.
pub async fn serve_http(routes: fn(Arc<App>) -> Router) -> Result<(), Error> {
    let app = init().await?;
    lambda_http::run(routes(app)).await
}

/// Consumes an SQS queue, reporting only the failed messages.
pub async fn serve_queue() -> Result<(), Error> {
    let app = init().await?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| {
            let app = app.clone();
            async move { Ok::<_, Error>(handlers::queue_batch(&app, event.payload).await) }
        },
    ))
    .await
}

/// Sweeps due timers on each scheduled event.
pub async fn serve_schedule() -> Result<(), Error> {
    let app = init().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let app = app.clone();
        async move { handlers::scheduled(&app, event.payload).await }
    }))
    .await
}

async fn init() -> Result<Arc<App>, Error> {
    init_logging();
    let env = env::Env::from_process()?;
    let sdk = clinicflow_aws::sdk_config().await;
    let variables = |name: &str| std::env::var(name).ok();
    Ok(wiring::app(
        &env.config,
        &sdk,
        &env.resources,
        None,
        &variables,
        Arc::new(clinicflow_ports::SystemClock),
    )
    .await?)
}

/// JSON logs to CloudWatch; `CLINICFLOW_LOG` sets the filter.
fn init_logging() {
    let filter = std::env::var("CLINICFLOW_LOG").unwrap_or_else(|_| "info".to_owned());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into()),
        )
        .without_time()
        .init();
}
