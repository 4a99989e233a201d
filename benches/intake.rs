//! The intake benchmark (`make bench`, that is `cargo bench --bench intake`).
//!
//! Over loopback HTTP, in one run, it measures:
//! - forms per second and request latency (p50/p99) of the real server's
//!   `POST /v1/forms/{form_id}/leads`, against a baseline server that only
//!   inserts one row per form into the same embedded store (same engine,
//!   same durability), driven in alternating rounds;
//! - the time from a form's POST to its greeting recorded as sent: at a
//!   steady pace, and for the leads of each load round (the backlog at
//!   saturation);
//! - how fast a signed WhatsApp webhook (a patient's message) is
//!   acknowledged, paced, against `GET /healthz` paced alike (the floor of
//!   an answer from this server), in alternating halves of one phase.
//!
//! The process plays two roles. By default it is the load generator: it
//! starts both servers as child processes, drives them and prints a
//! Markdown report on stdout (progress goes to stderr). With
//! `CLINICFLOW_BENCH_ROLE=baseline` and `CLINICFLOW_BENCH_DATA=<dir>` it is
//! the baseline server.
//!
//! Settings (environment): `BENCH_CONCURRENCY` connections (32),
//! `BENCH_SECONDS` measured per round (10), `BENCH_ROUNDS` per target (2),
//! `BENCH_PACED_RATE` leads per second in the paced phase (20, for 10 s).
//!
//! The exit status is 0 whenever the measurement ran, targets met or not,
//! and 1 when it could not run (a server did not start, a round had no
//! successful request).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use reqwest::Client;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

const ROLE_VAR: &str = "CLINICFLOW_BENCH_ROLE";
const DATA_VAR: &str = "CLINICFLOW_BENCH_DATA";

/// The bench tenant's staff token and form.
const TOKEN: &str = "bench-staff-token-0123456789";
const FORM: &str = "web";

/// Requests of this first part of each round are not recorded.
const WARM_UP: Duration = Duration::from_secs(2);
/// The paced phase lasts this long.
const PACED_SECONDS: u32 = 10;
/// How long the paced leads' greetings may take before they count as not sent.
const PACED_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the backlog of a load round may take to drain.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
/// How often the staff API is polled for greetings.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How far back each poll rereads the ledger before its last unsent greeting.
const SCAN_OVERLAP: jiff::SignedDuration = jiff::SignedDuration::from_secs(5);

#[path = "support/server.rs"]
mod server;

use server::{ServerProcess, commit, cpu_time};

fn main() -> ExitCode {
    if std::env::var(ROLE_VAR).as_deref() == Ok("baseline") {
        return baseline::main();
    }
    let result = Settings::from_env().and_then(|settings| {
        tokio::runtime::Runtime::new()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?
            .block_on(run(&settings))
    });
    match result {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("intake bench: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------
// Settings and the run
// ---------------------------------------------------------------------------

struct Settings {
    concurrency: usize,
    seconds: u64,
    rounds: usize,
    paced_rate: u32,
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        Ok(Settings {
            concurrency: env_number("BENCH_CONCURRENCY", 32)?,
            seconds: env_number("BENCH_SECONDS", 10)?,
            rounds: env_number("BENCH_ROUNDS", 2)?,
            paced_rate: env_number("BENCH_PACED_RATE", 20)?,
        })
    }
}

/// A positive number from the environment variable `name`, or `default`.
fn env_number<T: FromStr + PartialOrd + Default>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(raw) => match raw.trim().parse::<T>() {
            Ok(n) if n > T::default() => Ok(n),
            _ => Err(format!("{name}={raw} is not a positive number")),
        },
    }
}

async fn run(settings: &Settings) -> Result<String, String> {
    // Declared before the servers, so removed after they are stopped.
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let baseline = start_baseline(dir.path())?;
    let intake = start_intake(dir.path())?;
    eprintln!("baseline at {}, intake at {}", baseline.base, intake.base);
    let phones = Arc::new(Phones::default());

    let mut rounds = Vec::new();
    let mut greetings = Vec::new();
    for number in 1..=settings.rounds {
        rounds.push(load_round(Target::Baseline, number, &baseline, settings, &phones).await?);
        let round = load_round(Target::Intake, number, &intake, settings, &phones).await?;
        // The backlog drains before anything else runs, so that it takes
        // no CPU or disk from the next round.
        let case = format!("saturated, round {number}");
        greetings.push(greetings_of(&intake, &round, case, DRAIN_TIMEOUT).await?);
        rounds.push(round);
    }
    let paced = paced_phase(&intake, settings.paced_rate, &phones).await?;
    let case = format!("paced, {}/s", settings.paced_rate);
    greetings.insert(0, greetings_of(&intake, &paced, case, PACED_TIMEOUT).await?);
    let webhooks = webhook_phase(&intake, settings.paced_rate, &phones).await?;

    Ok(render(&Report {
        settings,
        data_dir: dir.path(),
        rounds: &rounds,
        paced: &paced,
        greetings: &greetings,
        webhooks: &webhooks,
        peak_rss: [
            ("intake server", intake.peak_rss_kib()),
            ("baseline server", baseline.peak_rss_kib()),
        ],
    }))
}

// ---------------------------------------------------------------------------
// The servers
// ---------------------------------------------------------------------------

/// This program again, as the baseline server.
fn start_baseline(dir: &Path) -> Result<ServerProcess, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut command = Command::new(exe);
    command
        .env(ROLE_VAR, "baseline")
        .env(DATA_VAR, dir.join("baseline-data"));
    ServerProcess::spawn("baseline", command, &dir.join("baseline.log"))
}

/// The real server, with the bench configuration.
fn start_intake(dir: &Path) -> Result<ServerProcess, String> {
    let config = dir.join("clinicflow.toml");
    fs::write(&config, bench_config(&dir.join("intake-data")))
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_clinicflow"));
    command
        .env("BENCH_WHATSAPP_APP_SECRET", APP_SECRET)
        .env("CLINICFLOW_CONFIG", &config)
        .env("CLINICFLOW_LOG", "info")
        .env_remove("RUST_LOG")
        .env_remove("PORT");
    ServerProcess::spawn("intake", command, &dir.join("intake.log"))
}

/// One clinic open around the clock, three consultants always on shift,
/// and an SLA long enough that no escalation runs during the bench.
/// Everything else (workers, timings) is the default.
fn bench_config(data_dir: &Path) -> String {
    format!(
        r#"[local]
port = 0
data_dir = '{data}'

[[tenants]]
id = "bench"
name = "Bench Clinic"
default_language = "tr"
staff_tokens = ["{TOKEN}"]
sla = {{ first_contact = "1h", reassign_after = "2h" }}

[[tenants.managers]]
id = "manager"
name = "Selin Kaya"
phone = "+90 532 000 00 01"

[[tenants.branches]]
id = "main"
name = "Main"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["daily 00:00-24:00"]

[[tenants.consultants]]
id = "ayse"
name = "Ayşe Demir"
branch = "main"
languages = ["tr", "en"]
shifts = ["daily 00:00-24:00"]

[[tenants.consultants]]
id = "can"
name = "Can Yılmaz"
branch = "main"
languages = ["tr"]
shifts = ["daily 00:00-24:00"]

[[tenants.consultants]]
id = "elif"
name = "Elif Şahin"
branch = "main"
languages = ["tr", "en"]
shifts = ["daily 00:00-24:00"]

[[tenants.forms]]
id = "{FORM}"

# WhatsApp only receives here (its webhooks are measured); greetings go by
# SMS, which has no provider: the sandbox.
[tenants.messaging]
order = ["sms"]

[tenants.whatsapp]
phone_number_id = "{PHONE_NUMBER_ID}"
access_token = "env:BENCH_WHATSAPP_APP_SECRET"
app_secret = "env:BENCH_WHATSAPP_APP_SECRET"
verify_token = "env:BENCH_WHATSAPP_APP_SECRET"
"#,
        data = data_dir.display()
    )
}

// ---------------------------------------------------------------------------
// Webhook acknowledgement
// ---------------------------------------------------------------------------

const APP_SECRET: &str = "bench-app-secret";
const PHONE_NUMBER_ID: &str = "106540352242922";

/// Request latencies of one kind of call in the webhook phase.
#[derive(Default)]
struct Latencies {
    sorted: Vec<Duration>,
    errors: usize,
}

/// The webhook phase: `rate` calls a second for `PACED_SECONDS`, half of
/// them signed WhatsApp notifications (a new patient's message each, so
/// each makes a lead behind the queue), half `GET /healthz`, interleaved.
async fn webhook_phase(
    server: &ServerProcess,
    rate: u32,
    phones: &Arc<Phones>,
) -> Result<[Latencies; 2], String> {
    eprintln!("webhooks: {rate} calls/s for {PACED_SECONDS} s");
    let client = client()?;
    let webhook_url = server.url("/webhooks/whatsapp/bench");
    let health_url = server.url("/healthz");
    let period = (Duration::from_secs(1) / rate).max(Duration::from_micros(1));
    let mut ticker = tokio::time::interval(period);
    let mut tasks = Vec::new();
    for i in 0..rate.saturating_mul(PACED_SECONDS) {
        ticker.tick().await;
        let client = client.clone();
        let request = if i % 2 == 0 {
            let (body, signature) = signed_notification(&phones.next(), i);
            client
                .post(&webhook_url)
                .header(CONTENT_TYPE, "application/json")
                .header("x-hub-signature-256", signature)
                .body(body)
        } else {
            client.get(&health_url)
        };
        tasks.push(tokio::spawn(async move {
            let began = Instant::now();
            let ok = request.send().await.is_ok_and(|r| r.status().is_success());
            (i % 2, began.elapsed(), ok)
        }));
    }
    let mut out = [Latencies::default(), Latencies::default()];
    for task in tasks {
        let (kind, latency, ok) = task
            .await
            .map_err(|e| format!("a webhook call failed: {e}"))?;
        let slot = &mut out[kind as usize];
        if ok {
            slot.sorted.push(latency);
        } else {
            slot.errors += 1;
        }
    }
    for slot in &mut out {
        slot.sorted.sort_unstable();
    }
    if out[0].sorted.is_empty() {
        return Err("no webhook was acknowledged".into());
    }
    Ok(out)
}

/// A WhatsApp notification of a text from `phone`, and its signature.
fn signed_notification(phone: &str, n: u32) -> (String, String) {
    use hmac::{KeyInit, Mac};
    let body = serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
            "contacts": [{ "profile": { "name": "Bench" }, "wa_id": phone.trim_start_matches('+') }],
            "messages": [{
                "from": phone.trim_start_matches('+'),
                "id": format!("wamid.BENCH{n}"),
                "timestamp": Timestamp::now().as_second().to_string(),
                "type": "text",
                "text": { "body": "Merhaba, bilgi almak istiyorum" }
            }]
        }}]}]
    })
    .to_string();
    let signature = hmac::Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes())
        .map(|mut mac| {
            mac.update(body.as_bytes());
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        })
        .unwrap_or_default();
    (body, signature)
}

// ---------------------------------------------------------------------------
// The baseline server
// ---------------------------------------------------------------------------

/// The least a form endpoint on this store can do: read the urlencoded
/// body into pairs and insert one row, durably, through the item-store
/// port; no validation, no pipeline.
mod baseline {
    use std::net::Ipv4Addr;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::sync::Arc;

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Json, Response};
    use axum::routing::post;
    use clinicflow_embedded::{Database, EmbeddedStore};
    use clinicflow_ports::{Condition, Item, ItemStore, Key, Write};

    use super::DATA_VAR;

    pub fn main() -> ExitCode {
        let Some(dir) = std::env::var_os(DATA_VAR) else {
            eprintln!("the baseline server needs {DATA_VAR}=<data dir>");
            return ExitCode::from(2);
        };
        let result = tokio::runtime::Runtime::new()
            .map_err(|e| format!("cannot start the async runtime: {e}"))
            .and_then(|runtime| runtime.block_on(serve(PathBuf::from(dir))));
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("baseline server: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn serve(dir: PathBuf) -> Result<(), String> {
        let db = Database::open(&dir).map_err(|e| e.to_string())?;
        let router = Router::new()
            .route("/baseline", post(insert_one))
            .with_state(Arc::new(db.store()));
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| format!("cannot listen: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        println!("Listening on http://{addr}");
        axum::serve(listener, router)
            .await
            .map_err(|e| e.to_string())
    }

    async fn insert_one(State(store): State<Arc<EmbeddedStore>>, body: Bytes) -> Response {
        let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
            return (StatusCode::BAD_REQUEST, "the body is not form data").into_response();
        };
        let Ok(body) = serde_json::to_string(&fields) else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        let id = ulid::Ulid::generate().to_string();
        let item = Item {
            key: Key::new("BENCH#baseline", id.clone()),
            version: 1,
            gsi1: None,
            gsi2: None,
            expires_at: None,
            body,
        };
        let put = Write::Put {
            item,
            condition: Condition::Absent,
        };
        match store.write(vec![put]).await {
            Ok(()) => (
                StatusCode::ACCEPTED,
                Json(serde_json::json!({ "id": id, "status": "accepted" })),
            )
                .into_response(),
            Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
        }
    }
}

// ---------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Baseline,
    Intake,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Baseline => "baseline",
            Target::Intake => "intake",
        }
    }

    fn url(self, server: &ServerProcess) -> String {
        match self {
            Target::Baseline => server.url("/baseline"),
            Target::Intake => server.url(&format!("/v1/forms/{FORM}/leads")),
        }
    }
}

/// Distinct Turkish mobile numbers, so that every form creates a lead.
#[derive(Default)]
struct Phones(AtomicU64);

impl Phones {
    fn next(&self) -> String {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        format!("+9053{:08}", n % 100_000_000)
    }
}

/// A form as a browser posts it: the same bytes to both targets.
fn form_body(phone: &str) -> String {
    serde_urlencoded::to_string([
        ("name", "Ayşe Yılmaz"),
        ("phone", phone),
        ("service", "implant"),
        ("message", "Fiyat bilgisi alabilir miyim?"),
        ("utm_source", "instagram"),
        ("utm_medium", "paid"),
        ("utm_campaign", "spring"),
        ("landing_page", "https://clinic.example/implant"),
    ])
    .unwrap_or_default()
}

fn client() -> Result<Client, String> {
    server::client(Duration::from_secs(30))
}

#[derive(Deserialize)]
struct Accepted {
    id: String,
}

/// Posts one form; the id answered with a 202, or what went wrong.
async fn post_form(client: &Client, url: &str, body: String) -> Result<String, String> {
    let response = client
        .post(url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    if status != reqwest::StatusCode::ACCEPTED {
        let text = response.text().await.unwrap_or_default();
        return Err(format!(
            "HTTP {status}: {}",
            text.chars().take(300).collect::<String>()
        ));
    }
    let accepted: Accepted = response
        .json()
        .await
        .map_err(|e| format!("unreadable answer: {e}"))?;
    Ok(accepted.id)
}

/// An accepted form: the id it was answered with, and the wall-clock time
/// just before it was posted.
struct Posted {
    lead: String,
    at: Timestamp,
    /// Posted in the measured window (not in the warm-up).
    recorded: bool,
}

/// What a connection (or a whole phase) saw.
#[derive(Default)]
struct Tally {
    /// Latencies of the recorded successes.
    latencies: Vec<Duration>,
    /// Every success, warm-up included.
    posted: Vec<Posted>,
    /// Recorded failures.
    errors: usize,
    first_error: Option<String>,
}

impl Tally {
    fn record(
        &mut self,
        at: Timestamp,
        latency: Duration,
        outcome: Result<String, String>,
        recorded: bool,
    ) {
        match outcome {
            Ok(lead) => {
                if recorded {
                    self.latencies.push(latency);
                }
                self.posted.push(Posted { lead, at, recorded });
            }
            Err(e) => {
                if recorded {
                    self.errors += 1;
                }
                self.first_error.get_or_insert(e);
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.posted.extend(other.posted);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn successes(&self) -> usize {
        self.latencies.len()
    }
}

/// A load round (or the paced phase) against one target.
struct Round {
    target: Target,
    number: usize,
    tally: Tally,
    /// The measured window, from the end of the warm-up to the last answer.
    window: Duration,
    server_cpu: Option<Duration>,
    bench_cpu: Option<Duration>,
    /// A little before the first post: greetings created since belong to this round.
    since: Timestamp,
    /// When the load stopped: the last answer of a load round, the last
    /// post of the paced phase.
    load_stopped: Timestamp,
}

impl Round {
    fn forms_per_second(&self) -> f64 {
        self.tally.successes() as f64 / self.window.as_secs_f64()
    }

    /// CPU time over the measured window, in cores.
    fn cores(&self, cpu: Option<Duration>) -> Option<f64> {
        cpu.map(|cpu| cpu.as_secs_f64() / self.window.as_secs_f64())
    }

    /// A percentile of the request latencies.
    fn percentile(&self, p: f64) -> Option<Duration> {
        let mut latencies = self.tally.latencies.clone();
        latencies.sort_unstable();
        percentile(&latencies, p)
    }

    fn label(&self) -> String {
        match self.number {
            0 => "paced".to_owned(),
            n => format!("{} round {n}", self.target.name()),
        }
    }
}

/// `concurrency` connections post forms back to back for the warm-up and
/// then `seconds` more; only the second part is recorded.
async fn load_round(
    target: Target,
    number: usize,
    server: &ServerProcess,
    settings: &Settings,
    phones: &Arc<Phones>,
) -> Result<Round, String> {
    eprintln!(
        "round {number}: {} ({} connections)",
        target.name(),
        settings.concurrency
    );
    let url = target.url(server);
    let since = margin_before(Timestamp::now());
    let start = Instant::now() + WARM_UP;
    let end = start + Duration::from_secs(settings.seconds);
    let mut tasks = Vec::with_capacity(settings.concurrency);
    for _ in 0..settings.concurrency {
        let (client, url, phones) = (client()?, url.clone(), phones.clone());
        tasks.push(tokio::spawn(async move {
            connection(&client, &url, &phones, start, end).await
        }));
    }
    tokio::time::sleep_until(start.into()).await;
    let (server_cpu0, bench_cpu0) = (server.cpu_time(), cpu_time("self"));
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(
            task.await
                .map_err(|e| format!("a connection task failed: {e}"))?,
        );
    }
    let window = start.elapsed();
    let load_stopped = Timestamp::now();
    let round = Round {
        target,
        number,
        server_cpu: cpu_delta(server_cpu0, server.cpu_time()),
        bench_cpu: cpu_delta(bench_cpu0, cpu_time("self")),
        tally,
        window,
        since,
        load_stopped,
    };
    check_round(&round)?;
    Ok(round)
}

/// One connection: posts forms back to back until `end`, recording from `start`.
async fn connection(
    client: &Client,
    url: &str,
    phones: &Phones,
    start: Instant,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    loop {
        let began = Instant::now();
        if began >= end {
            return tally;
        }
        let at = Timestamp::now();
        let outcome = post_form(client, url, form_body(&phones.next())).await;
        tally.record(at, began.elapsed(), outcome, began >= start);
    }
}

/// Posts `rate` leads per second for [`PACED_SECONDS`], each on its own
/// schedule whatever the previous one's latency; all are recorded.
async fn paced_phase(
    server: &ServerProcess,
    rate: u32,
    phones: &Arc<Phones>,
) -> Result<Round, String> {
    eprintln!("paced: {rate} leads/s for {PACED_SECONDS} s");
    let client = client()?;
    let url = Target::Intake.url(server);
    let since = margin_before(Timestamp::now());
    let period = (Duration::from_secs(1) / rate).max(Duration::from_micros(1));
    let mut ticker = tokio::time::interval(period);
    let started = Instant::now();
    let (server_cpu0, bench_cpu0) = (server.cpu_time(), cpu_time("self"));
    let mut tasks = Vec::new();
    for _ in 0..rate.saturating_mul(PACED_SECONDS) {
        ticker.tick().await;
        let (client, url, body) = (client.clone(), url.clone(), form_body(&phones.next()));
        tasks.push(tokio::spawn(async move {
            let (at, began) = (Timestamp::now(), Instant::now());
            let outcome = post_form(&client, &url, body).await;
            (at, began.elapsed(), outcome)
        }));
    }
    let load_stopped = Timestamp::now();
    let mut tally = Tally::default();
    for task in tasks {
        let (at, latency, outcome) = task
            .await
            .map_err(|e| format!("a paced post failed: {e}"))?;
        tally.record(at, latency, outcome, true);
    }
    let round = Round {
        target: Target::Intake,
        number: 0,
        window: started.elapsed(),
        server_cpu: cpu_delta(server_cpu0, server.cpu_time()),
        bench_cpu: cpu_delta(bench_cpu0, cpu_time("self")),
        tally,
        since,
        load_stopped,
    };
    check_round(&round)?;
    Ok(round)
}

/// A round without one success means the bench could not run.
fn check_round(round: &Round) -> Result<(), String> {
    if round.tally.successes() > 0 {
        return Ok(());
    }
    Err(format!(
        "no {} request succeeded ({} errors); first error: {}",
        round.target.name(),
        round.tally.errors,
        round.tally.first_error.as_deref().unwrap_or("none")
    ))
}

fn cpu_delta(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    after?.checked_sub(before?)
}

/// One second before `t`: message timestamps are compared with the
/// bench's clock, and a margin costs nothing.
fn margin_before(t: Timestamp) -> Timestamp {
    t.checked_sub(jiff::SignedDuration::from_secs(1))
        .unwrap_or(t)
}

// ---------------------------------------------------------------------------
// Greetings
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct MessagePage {
    items: Vec<MessageView>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct MessageView {
    lead: String,
    kind: String,
    created_at: Timestamp,
    sent_at: Option<Timestamp>,
}

/// Waits for the greetings of the leads `round` created, and measures them.
async fn greetings_of(
    server: &ServerProcess,
    round: &Round,
    case: String,
    timeout: Duration,
) -> Result<GreetingLatency, String> {
    eprintln!("  waiting for the greetings ({case})");
    let sent = wait_for_greetings(server, &round.tally.posted, round.since, timeout).await?;
    Ok(GreetingLatency::new(case, round, &sent))
}

/// Polls the staff API until every lead of `posted` has its greeting sent,
/// or `timeout` passes; answers lead → when its greeting was sent.
async fn wait_for_greetings(
    server: &ServerProcess,
    posted: &[Posted],
    since: Timestamp,
    timeout: Duration,
) -> Result<HashMap<String, Timestamp>, String> {
    let client = client()?;
    let deadline = Instant::now() + timeout;
    let mut sent = HashMap::new();
    let mut since = since;
    loop {
        let scan = scan_greetings(&client, server, since).await?;
        sent.extend(scan.sent);
        let done = posted.iter().all(|p| sent.contains_key(&p.lead));
        if done || Instant::now() >= deadline {
            return Ok(sent);
        }
        // Every greeting older than the oldest one still unsent is recorded:
        // the next pass reads from there on (less an overlap for messages
        // stamped before, but committed after, this pass), which keeps the
        // polling cheap for the server while it drains.
        if let Some(from) = scan.oldest_unsent.or(scan.newest) {
            let from = from.checked_sub(SCAN_OVERLAP).unwrap_or(from);
            since = since.max(from);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// What one pass over the newest greetings found.
struct GreetingScan {
    /// Lead → when its greeting was sent.
    sent: HashMap<String, Timestamp>,
    /// Creation time of the oldest greeting not sent yet.
    oldest_unsent: Option<Timestamp>,
    /// Creation time of the newest greeting.
    newest: Option<Timestamp>,
}

/// Reads the greetings created since `since`: the message ledger newest
/// first, stopping at older messages.
async fn scan_greetings(
    client: &Client,
    server: &ServerProcess,
    since: Timestamp,
) -> Result<GreetingScan, String> {
    let mut scan = GreetingScan {
        sent: HashMap::new(),
        oldest_unsent: None,
        newest: None,
    };
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "200".to_owned())];
        query.extend(cursor.take().map(|c| ("cursor", c)));
        let query = serde_urlencoded::to_string(&query).unwrap_or_default();
        let page: MessagePage = client
            .get(server.url(&format!("/v1/messages?{query}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("cannot list messages: {e}"))?
            .json()
            .await
            .map_err(|e| format!("cannot read the message list: {e}"))?;
        let mut reached_older = false;
        for message in page.items {
            if message.created_at < since {
                reached_older = true;
                continue;
            }
            if message.kind != "greeting" {
                continue;
            }
            scan.newest = scan.newest.max(Some(message.created_at));
            match message.sent_at {
                Some(sent_at) => {
                    scan.sent.insert(message.lead, sent_at);
                }
                None => {
                    let oldest = scan.oldest_unsent.get_or_insert(message.created_at);
                    *oldest = (*oldest).min(message.created_at);
                }
            }
        }
        match page.next {
            Some(next) if !reached_older => cursor = Some(next),
            _ => return Ok(scan),
        }
    }
}

/// POST-start → greeting-sent latencies of the recorded leads of a phase.
struct GreetingLatency {
    case: String,
    /// Sorted.
    latencies: Vec<Duration>,
    not_sent: usize,
    /// From the end of the load to the last greeting of the phase (warm-up included).
    drained_after: Option<Duration>,
    /// Greetings sent per second from the phase's first post to its last
    /// greeting: at saturation, what the whole pipeline sustains.
    pipeline_rate: Option<f64>,
}

impl GreetingLatency {
    fn new(case: String, round: &Round, sent: &HashMap<String, Timestamp>) -> GreetingLatency {
        let posted = &round.tally.posted;
        let mut latencies = Vec::new();
        let mut not_sent = 0;
        for p in posted.iter().filter(|p| p.recorded) {
            match sent.get(&p.lead) {
                Some(sent_at) => latencies.push(elapsed(p.at, *sent_at)),
                None => not_sent += 1,
            }
        }
        latencies.sort_unstable();
        let sent_at: Vec<Timestamp> = posted
            .iter()
            .filter_map(|p| sent.get(&p.lead))
            .copied()
            .collect();
        let first_post = posted.iter().map(|p| p.at).min();
        let last_greeting = sent_at.iter().max().copied();
        let pipeline_rate = first_post.zip(last_greeting).map(|(first, last)| {
            sent_at.len() as f64 / elapsed(first, last).as_secs_f64().max(f64::EPSILON)
        });
        GreetingLatency {
            case,
            latencies,
            not_sent,
            drained_after: last_greeting.map(|last| elapsed(round.load_stopped, last)),
            pipeline_rate,
        }
    }
}

/// From `from` to `to`, zero if `to` is earlier.
fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or(Duration::ZERO)
}

// ---------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted samples.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

// ---------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------

struct Report<'a> {
    settings: &'a Settings,
    data_dir: &'a Path,
    rounds: &'a [Round],
    paced: &'a Round,
    /// The paced phase first, then one per intake round.
    greetings: &'a [GreetingLatency],
    /// Signed WhatsApp webhooks, then `GET /healthz`.
    webhooks: &'a [Latencies; 2],
    peak_rss: [(&'static str, Option<u64>); 2],
}

/// What the table shows of one target over all its rounds: the medians.
struct Summary {
    forms_per_second: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
    errors: usize,
}

fn summarise(rounds: &[Round], target: Target) -> Summary {
    let of_target = || rounds.iter().filter(move |r| r.target == target);
    Summary {
        forms_per_second: median(of_target().map(Round::forms_per_second).collect()),
        p50: median(
            of_target()
                .filter_map(|r| r.percentile(50.0))
                .map(millis)
                .collect(),
        ),
        p99: median(
            of_target()
                .filter_map(|r| r.percentile(99.0))
                .map(millis)
                .collect(),
        ),
        errors: of_target().map(|r| r.tally.errors).sum(),
    }
}

fn render(report: &Report) -> String {
    let mut out = String::new();
    render_setup(&mut out, report.settings, report.data_dir);
    let ratio = render_load(&mut out, report);
    render_greetings(&mut out, report);
    render_webhooks(&mut out, report);
    render_other(&mut out, report);
    render_targets(&mut out, report, ratio);
    out
}

fn render_setup(out: &mut String, s: &Settings, data_dir: &Path) {
    let _ = writeln!(out, "# Intake benchmark\n");
    let _ = writeln!(
        out,
        "- Commit: {}",
        commit().unwrap_or_else(|| "unknown".into())
    );
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(out, "- Data: {}", storage(data_dir));
    let _ = writeln!(
        out,
        "- Load: {} connections per target (HTTP/1.1 keep-alive, one client each), \
         {} s measured after a {} s warm-up, {} rounds per target, baseline and intake alternating",
        s.concurrency,
        s.seconds,
        WARM_UP.as_secs(),
        s.rounds
    );
    let _ = writeln!(
        out,
        "- Paced: {} leads/s for {PACED_SECONDS} s, after the load rounds\n",
        s.paced_rate
    );
}

/// The throughput table; answers the intake/baseline ratio of the medians.
fn render_load(out: &mut String, report: &Report) -> Option<f64> {
    let _ = writeln!(out, "## Throughput and request latency\n");
    let _ = writeln!(
        out,
        "| target | forms/s | p50 ms | p99 ms | errors | server CPU (cores) | bench CPU (cores) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|");
    for round in report.rounds {
        let _ = writeln!(
            out,
            "| {} round {} | {:.0} | {} | {} | {} | {} | {} |",
            round.target.name(),
            round.number,
            round.forms_per_second(),
            ms(round.percentile(50.0)),
            ms(round.percentile(99.0)),
            round.tally.errors,
            fixed(round.cores(round.server_cpu), 2),
            fixed(round.cores(round.bench_cpu), 2),
        );
    }
    let baseline = summarise(report.rounds, Target::Baseline);
    let intake = summarise(report.rounds, Target::Intake);
    for (target, summary) in [(Target::Baseline, &baseline), (Target::Intake, &intake)] {
        let _ = writeln!(
            out,
            "| **{} median** | **{}** | {} | {} | {} | | |",
            target.name(),
            fixed(summary.forms_per_second, 0),
            fixed(summary.p50, 1),
            fixed(summary.p99, 1),
            summary.errors,
        );
    }
    let ratio = intake
        .forms_per_second
        .zip(baseline.forms_per_second)
        .map(|(intake, baseline)| intake / baseline);
    let _ = writeln!(
        out,
        "\nIntake/baseline throughput (medians): **{}**\n",
        fixed(ratio, 2)
    );
    for round in report.rounds.iter().chain([report.paced]) {
        if let Some(e) = &round.tally.first_error {
            let _ = writeln!(out, "First error, {}: `{e}`\n", round.label());
        }
    }
    ratio
}

fn render_greetings(out: &mut String, report: &Report) {
    let _ = writeln!(out, "## Form POST → greeting sent\n");
    let _ = writeln!(
        out,
        "| case | leads | p50 ms | p99 ms | max ms | not sent | last greeting after the load stopped | greetings/s, first post → last greeting |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for g in report.greetings {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            g.case,
            g.latencies.len() + g.not_sent,
            ms(percentile(&g.latencies, 50.0)),
            ms(percentile(&g.latencies, 99.0)),
            ms(g.latencies.last().copied()),
            g.not_sent,
            g.drained_after
                .map_or_else(|| "–".into(), |d| format!("{:.1} s", d.as_secs_f64())),
            fixed(g.pipeline_rate, 0),
        );
    }
    let paced = report.paced;
    let _ = writeln!(
        out,
        "\nPaced requests: p50 {} ms, p99 {} ms, {} errors; server CPU {} cores.\n",
        ms(paced.percentile(50.0)),
        ms(paced.percentile(99.0)),
        paced.tally.errors,
        fixed(paced.cores(paced.server_cpu), 2),
    );
}

fn render_webhooks(out: &mut String, report: &Report) {
    let rate = report.settings.paced_rate;
    let _ = writeln!(out, "## Webhook acknowledgement\n");
    let _ = writeln!(
        out,
        "{rate} calls/s for {PACED_SECONDS} s, alternating: a signed WhatsApp notification (a new patient's message; verified, queued, answered) and `GET /healthz` (the floor).\n"
    );
    let _ = writeln!(
        out,
        "| call | answered | p50 ms | p99 ms | max ms | errors |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, l) in ["webhook (POST, signed)", "baseline: GET /healthz"]
        .iter()
        .zip(report.webhooks.iter())
    {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {} | {} | {} |",
            l.sorted.len(),
            ms(percentile(&l.sorted, 50.0)),
            ms(percentile(&l.sorted, 99.0)),
            ms(l.sorted.last().copied()),
            l.errors
        );
    }
    let _ = writeln!(out);
}

fn render_other(out: &mut String, report: &Report) {
    let leads: usize = report
        .rounds
        .iter()
        .filter(|r| r.target == Target::Intake)
        .chain([report.paced])
        .map(|r| r.tally.posted.len())
        .sum();
    let errors: usize = report
        .rounds
        .iter()
        .chain([report.paced])
        .map(|r| r.tally.errors)
        .sum();
    let _ = writeln!(out, "## Other\n");
    let _ = writeln!(out, "- Leads created (warm-ups included): {leads}");
    let _ = writeln!(out, "- Errors (all phases): {errors}");
    let rss: Vec<String> = report
        .peak_rss
        .iter()
        .map(|(name, kib)| format!("{name} {}", mib(*kib)))
        .collect();
    let _ = writeln!(out, "- Peak RSS: {}\n", rss.join(", "));
}

fn render_targets(out: &mut String, report: &Report, ratio: Option<f64>) {
    let paced = report.greetings.first();
    let paced_p99 = paced.and_then(|g| percentile(&g.latencies, 99.0));
    let throughput_met = ratio.is_some_and(|r| r >= 0.5);
    let greeting_met = paced.is_some_and(|g| g.not_sent == 0)
        && paced_p99.is_some_and(|p| p < Duration::from_secs(1));
    let _ = writeln!(out, "## Targets\n");
    let _ = writeln!(
        out,
        "- Intake throughput ≥ 0.5 × baseline: **{}** ({})",
        verdict(throughput_met),
        fixed(ratio, 2)
    );
    let _ = writeln!(
        out,
        "- Paced greeting p99 < 1000 ms: **{}** ({} ms)",
        verdict(greeting_met),
        ms(paced_p99)
    );
    let webhook_p99 = percentile(&report.webhooks[0].sorted, 99.0);
    let _ = writeln!(
        out,
        "- Webhook acknowledged, p99 < 300 ms: **{}** ({} ms)",
        verdict(webhook_p99.is_some_and(|p| p < Duration::from_millis(300))),
        ms(webhook_p99)
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "PASS" } else { "FAIL" }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn ms(d: Option<Duration>) -> String {
    fixed(d.map(millis), 1)
}

fn fixed(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{v:.decimals$}"))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "unknown".into(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

/// CPUs, CPU model and kernel.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = fs::read_to_string("/proc/version")
        .ok()
        .map(|v| v.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown kernel".into());
    format!("{cpus} CPUs, {model}, {kernel}")
}

/// The file system holding `dir` (both servers' data): fsync dominates.
fn storage(dir: &Path) -> String {
    let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
    // The mount with the longest mount point that contains `dir`.
    let mount = mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (device, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            dir.starts_with(point)
                .then_some((point.len(), device, kind))
        })
        .max_by_key(|(len, _, _)| *len);
    match mount {
        Some((_, device, kind)) => format!("{} ({kind} on {device})", dir.display()),
        None => dir.display().to_string(),
    }
}
