//! The reminders benchmark (`make bench-reminders`, that is `cargo bench
//! --bench reminders`): 10,000 appointments whose reminders fall due in the
//! same minute, on the real server with the embedded store.
//!
//! Two phases, each a fresh server and data directory:
//! 1. **sandbox**: the reminders go to the sandbox channel, which has no
//!    rate: the time from due to sent is the engine's own (the sweep
//!    firing the steps, the outbox consumers delivering them).
//! 2. **sender**: they go as WhatsApp templates to a local server speaking
//!    the Cloud API, through one sender limited to `BENCH_SENDER_RATE`
//!    messages per second (500): the floor is appointments ÷ rate, and the
//!    measure is how close the sends come to it.
//!
//! Each phase books the appointments through the FHIR upsert, 32 at a time,
//! with their reminders (two hours before the start) all due at one
//! instant far enough ahead for the booking to finish first; then it waits
//! for every reminder to be recorded as sent and reads the ledger through
//! the staff API. Due → sent is `sent_at` minus that instant.
//!
//! Settings (environment): `BENCH_APPOINTMENTS` (10000),
//! `BENCH_SENDER_RATE` (500), `BENCH_CONCURRENCY` (32).

#[path = "support/server.rs"]
mod server;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use jiff::{SignedDuration, Timestamp};
use reqwest::Client;
use serde_json::{Value, json};
use server::{ServerProcess, commit, machine};

const TOKEN: &str = "bench-staff-token-0123456789";
/// The reminder goes this long before the start (the default journey's).
const BEFORE: SignedDuration = SignedDuration::from_hours(2);
/// How long all reminders may take to be sent.
const SEND_TIMEOUT: Duration = Duration::from_secs(900);

fn main() -> ExitCode {
    server::bench_main(Settings::from_env(), run)
}

struct Settings {
    appointments: usize,
    sender_rate: u32,
    concurrency: usize,
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        let number = |name: &str, default: usize| -> Result<usize, String> {
            match std::env::var(name) {
                Err(_) => Ok(default),
                Ok(v) => v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{name}={v} is not a positive number")),
            }
        };
        Ok(Settings {
            appointments: number("BENCH_APPOINTMENTS", 10_000)?,
            sender_rate: u32::try_from(number("BENCH_SENDER_RATE", 500)?)
                .map_err(|e| e.to_string())?,
            concurrency: number("BENCH_CONCURRENCY", 32)?,
        })
    }
}

/// What one phase measured.
struct Phase {
    label: String,
    booked_per_second: f64,
    /// Due → sent of every reminder, milliseconds, sorted.
    latencies: Vec<f64>,
    /// Sends per wall-clock second at the provider (sender phase).
    busiest_second: Option<u64>,
    cpu: Option<Duration>,
    peak_rss_kib: Option<u64>,
}

async fn run(s: &Settings) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("no temp dir: {e}"))?;
    eprintln!("phase 1: {} reminders to the sandbox", s.appointments);
    let sandbox = phase(s, &dir.path().join("sandbox"), None).await?;
    eprintln!(
        "phase 2: {} reminders through one WhatsApp sender at {}/s",
        s.appointments, s.sender_rate
    );
    let sender = phase(s, &dir.path().join("sender"), Some(s.sender_rate)).await?;
    Ok(report(s, &[sandbox, sender]))
}

/// A local server speaking the WhatsApp Cloud API's send endpoint; counts
/// sends per wall-clock second.
async fn graph_api() -> Result<(String, Arc<Mutex<Vec<i64>>>), String> {
    let seconds = Arc::new(Mutex::new(Vec::new()));
    let seen = seconds.clone();
    let counter = Arc::new(AtomicU64::new(0));
    let app = Router::new().route(
        "/v23.0/{number}/messages",
        post(move || {
            let seen = seen.clone();
            let n = counter.fetch_add(1, Ordering::Relaxed);
            async move {
                seen.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Timestamp::now().as_second());
                axum::Json(json!({
                    "messaging_product": "whatsapp",
                    "contacts": [{ "input": "x", "wa_id": "x" }],
                    "messages": [{ "id": format!("wamid.BENCH{n}") }]
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind the fake Graph API: {e}"))?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, seconds))
}

fn config(data_dir: &Path, graph: Option<(&str, u32)>) -> String {
    let whatsapp = match graph {
        None => String::new(),
        Some((base, rate)) => format!(
            r#"
[tenants.messaging]
order = ["whatsapp"]

[tenants.whatsapp]
phone_number_id = "106540352242922"
access_token = "env:BENCH_WA_TOKEN"
app_secret = "env:BENCH_WA_TOKEN"
verify_token = "env:BENCH_WA_TOKEN"
api_url = "{base}/v23.0"
messages_per_second = {rate}

[tenants.whatsapp.templates.appointment_reminder]
name = "appt_reminder_v1"
params = ["time", "branch"]
ttl = "30m"
"#
        ),
    };
    format!(
        r#"[local]
port = 0
data_dir = '{data}'

[[tenants]]
id = "bench"
name = "Bench Clinic"
default_language = "tr"
staff_tokens = ["{TOKEN}"]
{whatsapp}
[tenants.appointments]
send_hours = "00:00-24:00"
max_per_day = 10

[tenants.journeys.appointment_confirmation]
enabled = false
[tenants.journeys.appointment_nudge]
enabled = false

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
languages = ["tr"]
shifts = ["daily 00:00-24:00"]

[[tenants.practitioners]]
id = "dr-a"
name = "Dr. Ada Kaya"
branch = "main"

[[tenants.services]]
id = "consult"
name = "Muayene"
"#,
        data = data_dir.display()
    )
}

async fn phase(s: &Settings, dir: &Path, rate: Option<u32>) -> Result<Phase, String> {
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let graph = match rate {
        Some(_) => Some(graph_api().await?),
        None => None,
    };
    let config = dir.join("clinicflow.toml");
    let graph_config = graph
        .as_ref()
        .zip(rate)
        .map(|((base, _), r)| (base.as_str(), r));
    fs::write(&config, self::config(&dir.join("data"), graph_config)).map_err(|e| e.to_string())?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_clinicflow"));
    command
        .env("CLINICFLOW_CONFIG", &config)
        .env("CLINICFLOW_LOG", "info")
        .env("BENCH_WA_TOKEN", "bench-token")
        .env_remove("RUST_LOG")
        .env_remove("PORT");
    let log = dir.join("server.log");
    let server = ServerProcess::spawn("clinicflow", command, &log)?;
    let client = client()?;

    // Book: every reminder due at one instant, far enough ahead.
    let n = s.appointments;
    // Booking runs at a few thousand per second: a second per thousand, and margin.
    let lead = SignedDuration::from_secs(15 + (n as i64) / 1000);
    let due = Timestamp::now() + lead;
    let start = due + BEFORE;
    let began = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..s.concurrency {
        let (client, next, url) = (
            client.clone(),
            next.clone(),
            server.url("/fhir/Appointment"),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n as u64 {
                    return Ok::<(), String>(());
                }
                book(&client, &url, i, start).await?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let booking = began.elapsed();
    if Timestamp::now() >= due {
        return Err(format!(
            "booking took {booking:?}, past the reminders' due time: lower BENCH_APPOINTMENTS"
        ));
    }
    eprintln!(
        "  booked {n} in {:.1} s; reminders due in {:.1} s",
        booking.as_secs_f64(),
        (due - Timestamp::now()).as_secs_f64()
    );

    // Wait for every reminder to be sent, by the server's log.
    let deadline = Instant::now() + SEND_TIMEOUT;
    loop {
        let sent = fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("message sent")
            .count();
        if sent >= n {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {sent} of {n} reminders sent in {SEND_TIMEOUT:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let cpu = server.cpu_time();
    let peak_rss_kib = server.peak_rss_kib();

    // The ledger, through the staff API.
    let mut latencies = Vec::with_capacity(n);
    let mut path = "/v1/messages?limit=200".to_owned();
    loop {
        let page: Value = client
            .get(server.url(&path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        for m in page["items"].as_array().into_iter().flatten() {
            if m["kind"] != "appointment_reminder" {
                continue;
            }
            let sent: Timestamp = m["sent_at"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| format!("a reminder not sent: {m}"))?;
            latencies.push(sent.duration_since(due).as_secs_f64() * 1000.0);
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/messages?limit=200&cursor={next}"),
            None => break,
        }
    }
    if latencies.len() != n {
        return Err(format!(
            "{} reminders in the ledger, {n} expected",
            latencies.len()
        ));
    }
    latencies.sort_by(f64::total_cmp);
    let busiest_second = graph.map(|(_, seconds)| {
        let seconds = seconds.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts = std::collections::BTreeMap::<i64, u64>::new();
        for s in seconds.iter() {
            *counts.entry(*s).or_default() += 1;
        }
        counts.values().copied().max().unwrap_or(0)
    });
    Ok(Phase {
        label: match rate {
            None => "sandbox (no rate)".to_owned(),
            Some(r) => format!("WhatsApp sender at {r}/s"),
        },
        booked_per_second: n as f64 / booking.as_secs_f64(),
        latencies,
        busiest_second,
        cpu,
        peak_rss_kib,
    })
}

async fn book(client: &Client, url: &str, i: u64, start: Timestamp) -> Result<(), String> {
    let body = json!({
        "resourceType": "Appointment",
        "identifier": [{ "system": "https://mis.bench", "value": format!("R-{i}") }],
        "status": "booked",
        "serviceType": [{ "coding": [{ "code": "consult" }] }],
        "start": start.to_string(),
        "end": (start + SignedDuration::from_mins(30)).to_string(),
        "contained": [{ "resourceType": "Patient", "id": "p", "name": [{ "text": "Bench Patient" }],
                        "telecom": [{ "system": "phone", "value": format!("+90532{:07}", i) }] }],
        "participant": [
            { "actor": { "reference": "#p" } },
            { "actor": { "reference": "Practitioner/dr-a" } }
        ]
    });
    let response = client
        .put(format!("{url}?identifier=https://mis.bench|R-{i}"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/fhir+json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("booking failed: {e}"))?;
    if response.status() != 201 {
        return Err(format!("booking answered {}", response.status()));
    }
    Ok(())
}

fn client() -> Result<Client, String> {
    server::client(Duration::from_secs(60))
}

fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(s: &Settings, phases: &[Phase]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Reminders benchmark\n");
    if let Some(commit) = commit() {
        let _ = writeln!(out, "- Commit: {commit}");
    }
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(
        out,
        "- {} appointments booked through `PUT /fhir/Appointment` ({} at a time), every reminder due at one instant; default workers (4 per queue), 1 s timer tick, `info` logging\n",
        s.appointments, s.concurrency
    );
    let _ = writeln!(
        out,
        "| phase | booked/s | due → sent p50 s | p99 s | max s | reminders/s (n ÷ max) | floor (n ÷ rate) s | busiest second at the provider | server CPU s | peak RSS MiB |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in phases {
        let max = p.latencies.last().copied().unwrap_or(f64::NAN) / 1000.0;
        let floor = if p.label.starts_with("WhatsApp") {
            format!("{:.1}", s.appointments as f64 / f64::from(s.sender_rate))
        } else {
            "-".to_owned()
        };
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {floor} | {} | {} | {} |",
            p.label,
            p.booked_per_second,
            nearest_rank(&p.latencies, 50.0) / 1000.0,
            nearest_rank(&p.latencies, 99.0) / 1000.0,
            max,
            s.appointments as f64 / max,
            p.busiest_second
                .map_or_else(|| "-".to_owned(), |b| b.to_string()),
            p.cpu
                .map_or_else(|| "-".to_owned(), |c| format!("{:.1}", c.as_secs_f64())),
            p.peak_rss_kib
                .map_or_else(|| "-".to_owned(), |k| format!("{:.0}", k as f64 / 1024.0)),
        );
    }
    out
}
