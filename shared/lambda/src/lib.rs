//! What every Clinicflow Lambda function shares. A function's `main` picks
//! one of [`serve_http`], [`serve_queue`] or [`serve_schedule`]; each reads
//! its configuration from the environment and builds its adapters once per
//! cold start, then hands every event to the shared use cases.
//!
//! The mains run tokio with one worker thread: `main`'s own thread runs
//! init and then the runtime's loop, the worker the tasks spawned (the
//! warm-up, the connections). An execution environment handles one event
//! at a time and a 128 MB function gets a fraction of a CPU, so a worker
//! per CPU (tokio's default) only costs the cold start threads to start
//! (docs/benchmarks.md); with none at all (the current-thread runtime) the
//! warm-up could not overlap init, and the first event would wait longer
//! for it.
//!
//! - [`env`]: the environment variables, checked at init.
//! - [`wiring`]: adapters and the `App`.
//! - [`handlers`]: SQS batches (with partial failures) and the schedule.
//! - [`metrics`]: the product's metrics as Embedded Metric Format log lines.
//! - [`warm_up`]: the connections a cold start opens before its first event.

pub mod env;
pub mod handlers;
pub mod metrics;
pub mod warm_up;
pub mod wiring;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use clinicflow_app::App;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use tracing::info;
use warm_up::WarmUp;

pub use lambda_runtime::Error as LambdaError;

/// Serves HTTP routes (API Gateway HTTP API) from `routes`.
pub async fn serve_http(routes: fn(Arc<App>) -> Router) -> Result<(), Error> {
    let (app, warm_up) = init().await?;
    let routes = routes(app).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let warm_up = warm_up.clone();
            async move { invocation(&warm_up, next.run(request)).await }
        },
    ));
    lambda_http::run(routes).await
}

/// Consumes an SQS queue, reporting only the failed messages.
pub async fn serve_queue() -> Result<(), Error> {
    let (app, warm_up) = init().await?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| {
            let (app, warm_up) = (app.clone(), warm_up.clone());
            async move {
                let batch = handlers::queue_batch(&app, event.payload);
                Ok::<_, Error>(invocation(&warm_up, batch).await)
            }
        },
    ))
    .await
}

/// Sweeps due timers on each scheduled event.
pub async fn serve_schedule() -> Result<(), Error> {
    let (app, warm_up) = init().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (app, warm_up) = (app.clone(), warm_up.clone());
        async move { invocation(&warm_up, handlers::scheduled(&app, event.payload)).await }
    }))
    .await
}

/// One event's work: after the cold start's warm-up (at once after the
/// first), and followed by its metrics in the log.
async fn invocation<T>(warm_up: &WarmUp, work: impl Future<Output = T>) -> T {
    warm_up.finished().await;
    let out = work.await;
    metrics::flush();
    out
}

/// Everything a first event needs, and nothing it does not: the
/// environment, the SDK's configuration, the tenants' configuration (with
/// their regions' phone plans and their templates checked), the
/// providers' credentials and clients. The connections to DynamoDB and the
/// function's queue open in the background ([`warm_up`]). Logs how long
/// each step took (`init`), for the bench and for CloudWatch.
async fn init() -> Result<(Arc<App>, Arc<WarmUp>), Error> {
    let started = Instant::now();
    init_logging();
    metrics::install();
    let env = env::Env::from_process()?;
    let logging_env = started.elapsed();

    let step = Instant::now();
    let sdk =
        match clinicflow_aws::lambda_sdk_config(|name| std::env::var(name).ok(), env.aws_trust) {
            Some(sdk) => sdk,
            None => clinicflow_aws::sdk_config(env.aws_trust).await,
        };
    let store = Arc::new(env.resources.store(&sdk, None));
    let queue = warm_up::queue(std::env::var(warm_up::QUEUE_VARIABLE).ok().as_deref());
    let warm_up = WarmUp::start(store.clone(), queue);
    let sdk_ms = step.elapsed();

    let step = Instant::now();
    let config = wiring::load_config(&env.config)?;
    let config_ms = step.elapsed();

    let step = Instant::now();
    let variables = |name: &str| std::env::var(name).ok();
    let app = wiring::build(
        config,
        store,
        &sdk,
        &variables,
        Arc::new(clinicflow_ports::SystemClock),
    )
    .await?;
    let providers_ms = step.elapsed();
    info!(
        logging_env_ms = warm_up::millis(logging_env),
        sdk_ms = warm_up::millis(sdk_ms),
        config_ms = warm_up::millis(config_ms),
        providers_ms = warm_up::millis(providers_ms),
        total_ms = warm_up::millis(started.elapsed()),
        "init"
    );
    Ok((app, warm_up))
}

/// JSON logs to CloudWatch; `CLINICFLOW_LOG` sets the filter
/// ([`clinicflow_app::config::log_filter`]).
fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = std::env::var("CLINICFLOW_LOG").ok();
    tracing_subscriber::fmt()
        .json()
        .without_time()
        .finish()
        .with(clinicflow_app::config::log_filter(filter.as_deref()))
        .init();
}
