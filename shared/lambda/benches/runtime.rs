//! The Lambda functions' cold start, memory and package size
//! (`make bench-lambda`).
//!
//! Each function's `bootstrap` (built with the `lambda-release` profile)
//! runs as a child process against a Lambda Runtime API served here on
//! loopback, the way the Lambda service runs it: environment variables
//! name the runtime API, the function and its resources, and the process
//! polls `/invocation/next` for one event at a time. The resources are the
//! template's, deployed into the AWS emulator (moto), so every event does
//! its real work over the AWS wire protocol. In one run it measures:
//!
//! - init: the time from spawning the process to its first
//!   `GET /invocation/next` (configuration read, SDK clients built),
//!   over `BENCH_COLD_STARTS` fresh processes (20) of each function,
//!   started in rounds of one per function, so that the machine's drift
//!   weighs on all of them and on the baseline alike, and the time the
//!   first event then takes;
//! - peak memory (VmHWM, the resident set's high-water mark) of one
//!   process that handles `BENCH_EVENTS` events (250), and how long each
//!   event took (most of it moto's). 250, not the 1,000 asked for: moto
//!   copies its tables on every transaction, and at 250 leads it already
//!   holds over 6 GB and takes seconds per assignment;
//! - the size of each function's arm64 zip from `make build`, when built.
//!
//! The baseline, measured in the same run, is the smallest Rust function
//! (`examples/hello.rs`: same runtime crate, same profile). The events
//! are real: a form post per new phone number for `intake`, a staff call
//! for `api`, the messages the intake and assignment put on the queues
//! for `assign` and `send` (one message per event), the schedule's event
//! for `sweep`, and the signed WhatsApp notification for `webhooks`.
//!
//! Prints a Markdown report on stdout; progress goes to stderr. Exits 0
//! whenever the measurement ran, targets met or not; 1 when it could not
//! run (a binary missing, a function failing at init).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use clinicflow_aws::emulator::{Deployment, Emulator};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The targets of the issue.
const INIT_TARGET: Duration = Duration::from_millis(10);
const RSS_TARGET_KIB: u64 = 32 * 1024;
const ZIP_TARGET_BYTES: u64 = 6 * 1024 * 1024;
/// How long one process may take to initialise, or to handle all its events.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);
const RUN_TIMEOUT: Duration = Duration::from_secs(900);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------------------
// The Lambda Runtime API, as the Lambda service serves it to a bootstrap.

#[derive(Default)]
struct Invocations {
    events: VecDeque<Value>,
    next_id: u64,
    handed_out: Vec<(String, Instant)>,
    first_poll: Option<Instant>,
    durations: Vec<Duration>,
    failures: Vec<String>,
    init_error: Option<String>,
}

#[derive(Default)]
struct RuntimeApi {
    state: Mutex<Invocations>,
    changed: Notify,
}

impl RuntimeApi {
    fn update<T>(&self, f: impl FnOnce(&mut Invocations) -> T) -> T {
        let out = f(&mut self.state.lock().unwrap());
        self.changed.notify_waiters();
        out
    }

    /// Waits until `done` holds of the state, or `timeout` passes.
    async fn wait_for(&self, timeout: Duration, done: impl Fn(&Invocations) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            if done(&self.state.lock().unwrap()) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return done(&self.state.lock().unwrap());
            }
        }
    }

    fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(self)
    }
}

/// Hands out the next event; with none left, holds the poll open (a
/// sandbox with no work is frozen, and this one is stopped).
async fn next(State(api): State<Arc<RuntimeApi>>) -> (HeaderMap, String) {
    let (id, event) = loop {
        let changed = api.changed.notified();
        let (first, taken) = {
            let mut s = api.state.lock().unwrap();
            let first = s.first_poll.is_none();
            s.first_poll.get_or_insert_with(Instant::now);
            let taken = s.events.pop_front().map(|event| {
                s.next_id += 1;
                let id = format!("bench-{:06}", s.next_id);
                s.handed_out.push((id.clone(), Instant::now()));
                (id, event)
            });
            (first, taken)
        };
        if first {
            api.changed.notify_waiters();
        }
        match taken {
            Some(taken) => break taken,
            // Only the runtime API's own changes wake this poll; with no
            // events left, it waits until the process is stopped.
            None => changed.await,
        }
    };
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        + 10_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        headers.insert(name, HeaderValue::from_str(&value).unwrap());
    };
    set("lambda-runtime-aws-request-id", id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:bench".to_owned(),
    );
    set(
        "lambda-runtime-trace-id",
        "Root=1-67a1b2c3-0123456789abcdef01234567;Sampled=0".to_owned(),
    );
    set("content-type", "application/json".to_owned());
    (headers, event.to_string())
}

fn finish(api: &RuntimeApi, id: &str, failure: Option<String>) {
    api.update(|s| {
        if let Some(at) = s
            .handed_out
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, at)| *at)
        {
            s.durations.push(at.elapsed());
        }
        if let Some(failure) = failure {
            s.failures.push(failure);
        }
    });
}

/// A response is a failure when it is an HTTP error or a batch with
/// failed items: every event of the run is meant to succeed.
async fn response(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let http_error = value["statusCode"].as_u64().is_some_and(|s| s >= 400);
    let batch_failures = value["batchItemFailures"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    let failure = (http_error || batch_failures).then(|| value.to_string());
    finish(&api, &id, failure);
    StatusCode::ACCEPTED
}

async fn error(
    State(api): State<Arc<RuntimeApi>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    finish(&api, &id, Some(String::from_utf8_lossy(&body).into_owned()));
    StatusCode::ACCEPTED
}

async fn init_error(State(api): State<Arc<RuntimeApi>>, body: Bytes) -> StatusCode {
    api.update(|s| s.init_error = Some(String::from_utf8_lossy(&body).into_owned()));
    StatusCode::ACCEPTED
}

async fn serve(api: Arc<RuntimeApi>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, api.router()).await.unwrap();
    });
    (addr, task)
}

// ---------------------------------------------------------------------------
// One function's processes.

struct Function {
    name: &'static str,
    binary: PathBuf,
    zip: PathBuf,
}

impl Function {
    fn new(name: &'static str, binary: PathBuf) -> Function {
        Function {
            name,
            binary,
            zip: repo().join(format!("target/lambda/{name}/bootstrap.zip")),
        }
    }

    /// The process as Lambda starts it: the runtime API at `runtime`, the
    /// template's variables, credentials in the environment.
    fn spawn(&self, runtime: SocketAddr, emulator: &str, deployment: &Deployment) -> Child {
        let resources = &deployment.resources;
        // As the template sets it: the queue each function sends to first.
        let warm_up_queue = match self.name {
            "send" | "blast" => "outbox",
            _ => "leads",
        };
        Command::new(&self.binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", runtime.to_string())
            .env(
                "AWS_LAMBDA_FUNCTION_NAME",
                format!("clinicflow-{}", self.name),
            )
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIDBENCHMARK")
            .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
            .env("AWS_SESSION_TOKEN", "bench-session")
            .env("AWS_ENDPOINT_URL", emulator)
            .env("TABLE_NAME", &resources.table)
            .env("LEADS_QUEUE_URL", &resources.leads_queue_url)
            .env("OUTBOX_QUEUE_URL", &resources.outbox_queue_url)
            .env("BLAST_QUEUE_URL", &resources.blast_queue_url)
            .env("EVENT_BUS_NAME", &resources.event_bus)
            .env("CLINICFLOW_CONFIG", config())
            .env("DEMO_WHATSAPP_TOKEN", "bench-token")
            .env("DEMO_WHATSAPP_APP_SECRET", "sample-app-secret")
            .env("DEMO_WHATSAPP_VERIFY_TOKEN", "bench-verify")
            .env("CLINICFLOW_LOG", "info")
            .env("WARM_UP_QUEUE", warm_up_queue)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.binary.display()))
    }

    /// One fresh process: the time from spawn to its first poll, the
    /// steps the function's `init` log line names, and how long the first
    /// event took (`first`, handed to the process).
    async fn cold_start(
        &self,
        first: &Value,
        emulator: &str,
        deployment: &Deployment,
    ) -> Result<ColdStart, String> {
        let api = Arc::new(RuntimeApi::default());
        api.update(|s| s.events = VecDeque::from([first.clone()]));
        let (addr, server) = serve(api.clone()).await;
        let started = Instant::now();
        let mut child = self.spawn(addr, emulator, deployment);
        let handled = api
            .wait_for(INIT_TIMEOUT, |s| {
                !s.durations.is_empty() || s.init_error.is_some()
            })
            .await;
        let _ = child.kill();
        let log = child_log(&mut child);
        let _ = child.wait();
        server.abort();
        let state = api.state.lock().unwrap();
        match (&state.init_error, state.first_poll) {
            (Some(error), _) => Err(format!("{}: init error: {error}", self.name)),
            (None, Some(at)) if handled => Ok(ColdStart {
                init: at.duration_since(started),
                first_event: state.durations[0],
                steps: log_fields(&log, "init"),
                warm_up: log_fields(&log, "warm-up"),
            }),
            _ => Err(format!(
                "{}: no event handled within {INIT_TIMEOUT:?}",
                self.name
            )),
        }
    }

    /// One process handling `events`, one at a time.
    async fn run(
        &self,
        events: Vec<Value>,
        emulator: &str,
        deployment: &Deployment,
    ) -> Result<Run, String> {
        let count = events.len();
        let api = Arc::new(RuntimeApi::default());
        api.update(|s| s.events = events.into());
        let (addr, server) = serve(api.clone()).await;
        let mut child = self.spawn(addr, emulator, deployment);
        // Drained, so that the function never blocks on a full pipe.
        if let Some(mut out) = child.stdout.take() {
            std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        }
        let done = api
            .wait_for(RUN_TIMEOUT, |s| {
                s.durations.len() == count || s.init_error.is_some()
            })
            .await;
        let peak_rss_kib = peak_rss_kib(child.id());
        let _ = child.kill();
        let _ = child.wait();
        server.abort();
        let state = api.state.lock().unwrap();
        if let Some(error) = &state.init_error {
            return Err(format!("{}: init error: {error}", self.name));
        }
        if !done {
            return Err(format!(
                "{}: {} of {count} events handled within {RUN_TIMEOUT:?}",
                self.name,
                state.durations.len()
            ));
        }
        Ok(Run {
            events: count,
            durations: state.durations.clone(),
            failures: state.failures.clone(),
            peak_rss_kib: peak_rss_kib.ok_or_else(|| format!("{}: no VmHWM", self.name))?,
        })
    }
}

/// One cold start: init as the runtime API saw it, the first event's
/// time, and the numbers of the function's own `init` and `warm-up` lines.
struct ColdStart {
    init: Duration,
    first_event: Duration,
    steps: Vec<(String, f64)>,
    warm_up: Vec<(String, f64)>,
}

/// What a killed child wrote to stdout.
fn child_log(child: &mut Child) -> String {
    let mut log = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut out, &mut log);
    }
    log
}

/// The numeric fields (`…_ms`) of the JSON log line whose message is `message`.
fn log_fields(log: &str, message: &str) -> Vec<(String, f64)> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| line["fields"]["message"] == message)
        .and_then(|line| line["fields"].as_object().cloned())
        .map(|fields| {
            fields
                .into_iter()
                .filter_map(|(k, v)| Some((k.strip_suffix("_ms")?.to_owned(), v.as_f64()?)))
                .collect()
        })
        .unwrap_or_default()
}

struct Run {
    events: usize,
    durations: Vec<Duration>,
    failures: Vec<String>,
    peak_rss_kib: u64,
}

/// The resident set's high-water mark of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---------------------------------------------------------------------------
// The events.

/// The demo clinic with the WhatsApp number the webhook sample was signed
/// for (`events/webhooks-demo-whatsapp.toml`), written where the
/// functions read it.
fn config() -> PathBuf {
    let path = repo().join("target/lambda-bench/clinicflow.toml");
    let demo = std::fs::read_to_string(repo().join("config/demo.toml")).unwrap();
    let whatsapp =
        std::fs::read_to_string(repo().join("events/webhooks-demo-whatsapp.toml")).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("{demo}\n{whatsapp}")).unwrap();
    path
}

fn sample(file: &str) -> Value {
    let path = repo().join("events").join(file);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// `n` form posts, each from a new phone number.
fn form_posts(n: usize) -> Vec<Value> {
    let template = sample("intake-form-post.json");
    (0..n)
        .map(|i| {
            let mut event = template.clone();
            let body = serde_urlencoded::to_string([
                ("name", format!("Bench Patient {i}")),
                ("phone", format!("+90532{:07}", 1_000_000 + i)),
                ("service", "implant".to_owned()),
                ("utm_source", "instagram".to_owned()),
            ])
            .unwrap();
            event["headers"]
                .as_object_mut()
                .unwrap()
                .remove("content-length");
            event["body"] = json!(body);
            event["isBase64Encoded"] = json!(false);
            event
        })
        .collect()
}

/// The sample event a function is handed (`events/`), for those whose
/// events the bench does not make: a staff call for `api`, a page of a
/// blast that is not there for `blast` (the function's own cost), the
/// signed WhatsApp notification for `webhooks`, the schedule's event for
/// `sweep` (and the baseline, which ignores it).
fn sample_file(function: &str) -> &'static str {
    match function {
        "api" => "api-list-leads.json",
        "blast" => "blast-sqs-batch.json",
        "webhooks" => "webhooks-whatsapp-message.json",
        _ => "sweep-schedule.json",
    }
}

fn repeated(file: &str, n: usize) -> Vec<Value> {
    vec![sample(file); n]
}

/// Up to `n` messages of `queue`, each as an SQS event of one record.
async fn queued(sqs: &aws_sdk_sqs::Client, queue: &str, n: usize) -> Vec<Value> {
    let template = sample("assign-sqs-batch.json")["Records"][0].clone();
    let mut seen = HashSet::new();
    let mut events = Vec::new();
    let mut empty_polls = 0;
    while events.len() < n && empty_polls < 3 {
        let out = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .visibility_timeout(3600)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty_polls += 1;
        }
        for message in messages {
            let id = message.message_id.unwrap_or_default();
            if !seen.insert(id.clone()) {
                continue;
            }
            let mut record = template.clone();
            record["messageId"] = json!(id);
            record["receiptHandle"] = json!(message.receipt_handle);
            record["body"] = json!(message.body);
            events.push(json!({ "Records": [record] }));
        }
    }
    events.truncate(n);
    events
}

// ---------------------------------------------------------------------------
// The report.

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / (1024.0 * 1024.0))
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

struct Row {
    name: &'static str,
    starts: Vec<ColdStart>,
    run: Run,
    zip: Option<u64>,
    binary: u64,
}

fn report(rows: &[Row], cold_starts: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| function | zip (arm64) MiB | binary (x86_64) MiB | init p50 ms | init p90 ms | init max ms | first event p50 ms | peak RSS MiB | events | failed | event p50 ms | event p99 ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let mut inits: Vec<Duration> = row.starts.iter().map(|s| s.init).collect();
        inits.sort();
        let mut firsts: Vec<Duration> = row.starts.iter().map(|s| s.first_event).collect();
        firsts.sort();
        let mut events = row.run.durations.clone();
        events.sort();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
            row.name,
            row.zip.map(mib).unwrap_or_else(|| "— (make build)".into()),
            mib(row.binary),
            ms(percentile(&inits, 50.0)),
            ms(percentile(&inits, 90.0)),
            ms(percentile(&inits, 100.0)),
            ms(percentile(&firsts, 50.0)),
            row.run.peak_rss_kib as f64 / 1024.0,
            row.run.events,
            row.run.failures.len(),
            ms(percentile(&events, 50.0)),
            ms(percentile(&events, 99.0)),
        );
    }
    let functions = || rows.iter().filter(|r| r.name != "hello (baseline)");
    let _ = writeln!(out);
    let _ = write!(out, "{}", steps_report(rows));
    let worst_init = functions()
        .map(|r| {
            let mut inits: Vec<Duration> = r.starts.iter().map(|s| s.init).collect();
            inits.sort();
            percentile(&inits, 50.0)
        })
        .max()
        .unwrap_or_default();
    let worst_rss = functions().map(|r| r.run.peak_rss_kib).max().unwrap_or(0);
    let zips: Vec<u64> = functions().filter_map(|r| r.zip).collect();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- init (median of {cold_starts} cold starts, worst function): {} ms — target < {} ms: {}",
        ms(worst_init),
        INIT_TARGET.as_millis(),
        verdict(worst_init < INIT_TARGET)
    );
    let _ = writeln!(
        out,
        "- peak RSS (worst function): {:.1} MiB — target < 32 MiB: {}",
        worst_rss as f64 / 1024.0,
        verdict(worst_rss < RSS_TARGET_KIB)
    );
    match zips.iter().max() {
        Some(&zip) if zips.len() == functions().count() => {
            let _ = writeln!(
                out,
                "- zip (largest): {} MiB — target < 6 MiB: {}",
                mib(zip),
                verdict(zip < ZIP_TARGET_BYTES)
            );
        }
        _ => {
            let _ = writeln!(out, "- zip: not measured; run `make build` first");
        }
    }
    for row in rows {
        if let Some(first) = row.run.failures.first() {
            let _ = writeln!(
                out,
                "- {}: {} events failed; the first: {first}",
                row.name,
                row.run.failures.len()
            );
        }
    }
    out
}

/// Where init goes: the medians of the steps each function's `init` line
/// names, what lies outside them (exec, loading, the async runtime, the
/// first poll), and the warm-up that runs on past init.
fn steps_report(rows: &[Row]) -> String {
    const STEPS: [&str; 5] = ["logging_env", "sdk", "config", "providers", "total"];
    let median = |values: Vec<f64>| -> Option<f64> {
        let mut values = values;
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied()
    };
    let field = |fields: &[(String, f64)], name: &str| {
        fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    };
    let cell = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| function | logging + env ms | SDK config + warm-up started ms | tenants' config ms | providers ms | init() total ms | outside init() ms | warm-up DynamoDB ms | warm-up SQS ms |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for row in rows.iter().filter(|r| r.name != "hello (baseline)") {
        let steps: Vec<Option<f64>> = STEPS
            .iter()
            .map(|step| {
                median(
                    row.starts
                        .iter()
                        .filter_map(|s| field(&s.steps, step))
                        .collect(),
                )
            })
            .collect();
        let outside = median(
            row.starts
                .iter()
                .filter_map(|s| Some(s.init.as_secs_f64() * 1e3 - field(&s.steps, "total")?))
                .collect(),
        );
        let warm = |name: &str| {
            median(
                row.starts
                    .iter()
                    .filter_map(|s| field(&s.warm_up, name))
                    .collect(),
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            cell(steps[0]),
            cell(steps[1]),
            cell(steps[2]),
            cell(steps[3]),
            cell(steps[4]),
            cell(outside),
            cell(warm("dynamodb")),
            cell(warm("sqs")),
        );
    }
    out
}

// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match runtime.block_on(measure()) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            eprintln!("bench-lambda: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn measure() -> Result<String, String> {
    let cold_starts = setting("BENCH_COLD_STARTS", 20);
    let events = setting("BENCH_EVENTS", 250);
    let build = repo().join("target/lambda-release");
    let functions = [
        Function::new("hello (baseline)", build.join("examples/hello")),
        Function::new("intake", build.join("intake")),
        Function::new("api", build.join("api")),
        Function::new("assign", build.join("assign")),
        Function::new("send", build.join("send")),
        Function::new("blast", build.join("blast")),
        Function::new("sweep", build.join("sweep")),
        // Last: its events go to the leads queue, which assign reads above.
        Function::new("webhooks", build.join("webhooks")),
    ];
    for function in &functions {
        if !function.binary.exists() {
            return Err(format!(
                "{} not found: build with `cargo build --profile lambda-release` (make bench-lambda does)",
                function.binary.display()
            ));
        }
    }
    let emulator = Emulator::start();
    let deployment = emulator.deploy("bench").await;
    let sqs = aws_sdk_sqs::Client::new(&emulator.sdk_config());
    let resources = &deployment.resources;
    let endpoint = emulator.endpoint();

    // The event every cold start of a function handles: a sample, or for
    // assign the message intake queues for a form post and for send the
    // one assign then queues — so that post goes through both first.
    let named = |name| functions.iter().find(|f| f.name == name).expect(name);
    let post = form_posts(1).remove(0);
    named("intake")
        .run(vec![post.clone()], endpoint, &deployment)
        .await?;
    let assignment = queued(&sqs, &resources.leads_queue_url, 1).await;
    named("assign")
        .run(assignment.clone(), endpoint, &deployment)
        .await?;
    let delivery = queued(&sqs, &resources.outbox_queue_url, 1).await;
    let firsts = functions.iter().map(|function| match function.name {
        "intake" => Ok(post.clone()),
        "assign" => assignment.first().cloned().ok_or("intake queued nothing"),
        "send" => delivery.first().cloned().ok_or("assign queued nothing"),
        name => Ok(sample(sample_file(name))),
    });
    let firsts: Vec<Value> = firsts.collect::<Result<_, _>>()?;

    // The cold starts, interleaved: each round starts one fresh process of
    // every function, the baseline's included, so that the machine's
    // drift through the run weighs on all of them alike.
    let mut starts: Vec<Vec<ColdStart>> = functions.iter().map(|_| Vec::new()).collect();
    for round in 1..=cold_starts {
        eprintln!("cold starts: round {round} of {cold_starts}");
        for ((function, first), starts) in functions.iter().zip(&firsts).zip(&mut starts) {
            starts.push(function.cold_start(first, endpoint, &deployment).await?);
        }
    }

    // Then each function's run, in this order: intake's fills the leads
    // queue that assign reads, and assign's the outbox that send reads.
    // What the cold starts queued is set aside first, so that the runs
    // handle fresh work, not their first events' echoes.
    for queue in [&resources.leads_queue_url, &resources.outbox_queue_url] {
        queued(&sqs, queue, usize::MAX).await;
    }
    let mut rows = Vec::new();
    for (function, starts) in functions.into_iter().zip(starts) {
        let work = match function.name {
            "intake" => form_posts(events),
            "assign" => queued(&sqs, &resources.leads_queue_url, events).await,
            "send" => queued(&sqs, &resources.outbox_queue_url, events).await,
            name => repeated(sample_file(name), events),
        };
        eprintln!("{}: {} events", function.name, work.len());
        let run = function.run(work, endpoint, &deployment).await?;
        rows.push(Row {
            name: function.name,
            starts,
            run,
            zip: std::fs::metadata(&function.zip).ok().map(|m| m.len()),
            binary: std::fs::metadata(&function.binary).map_or(0, |m| m.len()),
        });
    }
    Ok(report(&rows, cold_starts))
}
