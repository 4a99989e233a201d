//! The blast benchmark (`make bench-blast`, that is `cargo bench --bench
//! blast`): a blast to 100,000 patients on the real server with the
//! embedded store, sent as WhatsApp templates to a local server that
//! speaks the Cloud API's send endpoint and enforces a cap per wall-clock
//! second, answering WhatsApp's 130429 ("rate limit hit") above it.
//!
//! One phase per cap (`BENCH_BLAST_CAPS`, "80,1000"), each a fresh server
//! and data directory configured with the cap as its sender's rate:
//! 1. book the patients' appointments through the FHIR upsert;
//! 2. preview the blast (the audience counted and explained) and send it;
//! 3. wait until the blast is done; then read what the provider saw.
//!
//! Measured: the rate reached at the provider (accepted sends ÷ the time
//! from the first to the last), as a share of the cap; the 130429 answers
//! as a share of all calls; duplicates (a patient who got two); the
//! preview's and send's time; the server's CPU and peak memory.
//!
//! Settings (environment): `BENCH_BLAST_RECIPIENTS` (100000),
//! `BENCH_BLAST_CAPS` ("80,1000"), `BENCH_CONCURRENCY` (32).

#[path = "support/server.rs"]
mod server;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jiff::{SignedDuration, Timestamp};
use reqwest::Client;
use serde_json::{Value, json};
use server::{ServerProcess, commit, machine};

const TOKEN: &str = "bench-staff-token-0123456789";
/// How long a blast may take, at most, past its floor (recipients ÷ cap).
const SLACK: Duration = Duration::from_secs(600);

fn main() -> ExitCode {
    server::bench_main(Settings::from_env(), run)
}

struct Settings {
    recipients: usize,
    caps: Vec<u32>,
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
        let caps = std::env::var("BENCH_BLAST_CAPS").unwrap_or_else(|_| "80,1000".into());
        let caps = caps
            .split(',')
            .map(|c| {
                c.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("BENCH_BLAST_CAPS: {c} is not a positive number"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Settings {
            recipients: number("BENCH_BLAST_RECIPIENTS", 100_000)?,
            caps,
            concurrency: number("BENCH_CONCURRENCY", 32)?,
        })
    }
}

/// What the local Graph API saw.
#[derive(Default)]
struct Provider {
    cap: u64,
    /// Accepted sends per wall-clock second.
    per_second: Mutex<BTreeMap<i64, u64>>,
    /// Sends accepted per recipient.
    per_recipient: Mutex<BTreeMap<String, u32>>,
    calls: AtomicU64,
    throttled: AtomicU64,
    first: Mutex<Option<Instant>>,
    last: Mutex<Option<Instant>>,
}

async fn messages(State(p): State<Arc<Provider>>, Json(body): Json<Value>) -> Response {
    p.calls.fetch_add(1, Ordering::Relaxed);
    let second = Timestamp::now().as_second();
    let n = {
        let mut counts = p.per_second.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(second).or_default();
        if *count >= p.cap {
            None
        } else {
            *count += 1;
            Some(*count)
        }
    };
    let Some(n) = n else {
        p.throttled.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": {
                "message": "(#130429) Rate limit hit",
                "type": "OAuthException",
                "code": 130429,
                "error_data": { "messaging_product": "whatsapp", "details": "Cloud API message throughput has been reached." },
                "fbtrace_id": "Bench"
            }})),
        )
            .into_response();
    };
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    *p.per_recipient
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(to.clone())
        .or_default() += 1;
    let now = Instant::now();
    p.first
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert(now);
    *p.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{ "input": to, "wa_id": to }],
        "messages": [{ "id": format!("wamid.BLAST{second}{n}") }]
    }))
    .into_response()
}

async fn graph_api(cap: u32) -> Result<(String, Arc<Provider>), String> {
    let provider = Arc::new(Provider {
        cap: u64::from(cap),
        ..Provider::default()
    });
    let app = axum::Router::new()
        .route("/v23.0/{number}/messages", post(messages))
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind the local Graph API: {e}"))?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((base, provider))
}

fn config(data_dir: &Path, graph: &str, cap: u32) -> String {
    format!(
        r#"[local]
port = 0
data_dir = '{data}'

[[tenants]]
id = "bench"
name = "Bench Clinic"
default_language = "tr"
staff_tokens = ["{TOKEN}"]

[tenants.messaging]
order = ["whatsapp"]

[tenants.whatsapp]
phone_number_id = "106540352242922"
access_token = "env:BENCH_WA_TOKEN"
app_secret = "env:BENCH_WA_TOKEN"
verify_token = "env:BENCH_WA_TOKEN"
api_url = "{graph}/v23.0"
messages_per_second = {cap}

[tenants.appointments]
send_hours = "00:00-24:00"
[tenants.journeys.appointment_confirmation]
enabled = false
[tenants.journeys.appointment_nudge]
enabled = false
[tenants.journeys.appointment_reminder]
enabled = false

[tenants.blasts.templates.doctor_out]
purpose = "operational"
text.tr = "Merhaba {{{{ first_name }}}}, {{{{ practitioner }}}} {{{{ date }}}} {{{{ time }}}} randevunuza gelemiyor."
whatsapp = {{ name = "doctor_out_v1", category = "utility", params = ["first_name", "practitioner", "date", "time"] }}

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

/// What one phase measured.
struct Phase {
    cap: u32,
    booked_per_second: f64,
    preview: Duration,
    send: Duration,
    sent: u64,
    /// From the first accepted send to the last.
    span: Duration,
    calls: u64,
    throttled: u64,
    duplicates: u64,
    busiest_second: u64,
    cpu: Option<Duration>,
    peak_rss_kib: Option<u64>,
}

async fn run(s: &Settings) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("no temp dir: {e}"))?;
    let mut phases = Vec::new();
    for cap in &s.caps {
        eprintln!("phase: {} recipients at {cap}/s", s.recipients);
        phases.push(phase(s, &dir.path().join(format!("cap{cap}")), *cap).await?);
    }
    Ok(report(s, &phases))
}

async fn phase(s: &Settings, dir: &Path, cap: u32) -> Result<Phase, String> {
    fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let (graph, provider) = graph_api(cap).await?;
    let config = dir.join("clinicflow.toml");
    fs::write(&config, self::config(&dir.join("data"), &graph, cap)).map_err(|e| e.to_string())?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_clinicflow"));
    command
        .env("CLINICFLOW_CONFIG", &config)
        .env("CLINICFLOW_LOG", "warn")
        .env("BENCH_WA_TOKEN", "bench-token")
        .env_remove("RUST_LOG")
        .env_remove("PORT");
    let server = ServerProcess::spawn("clinicflow", command, &dir.join("server.log"))?;
    let client = client()?;

    // The audience: everyone booked with Dr. Ada on one afternoon.
    let n = s.recipients;
    let day = Timestamp::now() + SignedDuration::from_hours(72);
    let zone = jiff::tz::TimeZone::get("Europe/Istanbul").map_err(|e| e.to_string())?;
    let date = zone.to_datetime(day).date();
    let start = zone
        .to_timestamp(date.at(14, 0, 0, 0))
        .map_err(|e| e.to_string())?;
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
    eprintln!("  booked {n} in {:.1} s", booking.as_secs_f64());

    let began = Instant::now();
    let preview: Value = client
        .post(server.url("/v1/blasts"))
        .bearer_auth(TOKEN)
        .json(&json!({ "template": "doctor_out", "purpose": "operational",
                       "filter": { "date": date.to_string(), "part": "afternoon", "practitioner": "dr-a" } }))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let preview_time = began.elapsed();
    if preview["planned"].as_u64() != Some(n as u64) {
        return Err(format!(
            "the preview planned {}, not {n}",
            preview["planned"]
        ));
    }
    let id = preview["id"]
        .as_str()
        .ok_or("a preview without an id")?
        .to_owned();
    let began = Instant::now();
    let sent = client
        .post(server.url(&format!("/v1/blasts/{id}/send")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if sent.status() != 202 {
        return Err(format!("the send answered {}", sent.status()));
    }
    let send_time = began.elapsed();
    eprintln!(
        "  previewed in {:.1} s, sent in {:.1} s; waiting for the blast",
        preview_time.as_secs_f64(),
        send_time.as_secs_f64()
    );
    let deadline = Instant::now() + Duration::from_secs(n as u64 / u64::from(cap)) + SLACK;
    let progress = loop {
        let b: Value = client
            .get(server.url(&format!("/v1/blasts/{id}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if b["state"] == "done" {
            break b["progress"].clone();
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the blast did not finish in time: {}",
                b["progress"]
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let cpu = server.cpu_time();
    let peak_rss_kib = server.peak_rss_kib();
    let per_recipient = provider
        .per_recipient
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let duplicates = per_recipient.values().map(|c| u64::from(c - 1)).sum();
    let span = match (
        *provider.first.lock().unwrap_or_else(|e| e.into_inner()),
        *provider.last.lock().unwrap_or_else(|e| e.into_inner()),
    ) {
        (Some(a), Some(b)) => b - a,
        _ => Duration::ZERO,
    };
    let busiest_second = provider
        .per_second
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .copied()
        .max()
        .unwrap_or(0);
    Ok(Phase {
        cap,
        booked_per_second: n as f64 / booking.as_secs_f64(),
        preview: preview_time,
        send: send_time,
        sent: progress["sent"].as_u64().unwrap_or(0),
        span,
        calls: provider.calls.load(Ordering::Relaxed),
        throttled: provider.throttled.load(Ordering::Relaxed),
        duplicates,
        busiest_second,
        cpu,
        peak_rss_kib,
    })
}

async fn book(client: &Client, url: &str, i: u64, start: Timestamp) -> Result<(), String> {
    let at = start + SignedDuration::from_mins((i % 16) as i64 * 15);
    let body = json!({
        "resourceType": "Appointment",
        "identifier": [{ "system": "https://mis.bench", "value": format!("B-{i}") }],
        "status": "booked",
        "serviceType": [{ "coding": [{ "code": "consult" }] }],
        "start": at.to_string(),
        "end": (at + SignedDuration::from_mins(15)).to_string(),
        "contained": [{ "resourceType": "Patient", "id": "p", "name": [{ "text": "Bench Patient" }],
                        "telecom": [{ "system": "phone", "value": format!("+90532{:07}", i) }] }],
        "participant": [
            { "actor": { "reference": "#p" } },
            { "actor": { "reference": "Practitioner/dr-a" } }
        ]
    });
    let response = client
        .put(format!("{url}?identifier=https://mis.bench|B-{i}"))
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
    server::client(Duration::from_secs(600))
}

fn report(s: &Settings, phases: &[Phase]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Blast benchmark\n");
    if let Some(commit) = commit() {
        let _ = writeln!(out, "- Commit: {commit}");
    }
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(
        out,
        "- {} patients booked through `PUT /fhir/Appointment` ({} at a time), one blast to all of them as WhatsApp templates; the local Graph API answers 130429 above its cap per wall-clock second; default workers, `warn` logging\n",
        s.recipients, s.concurrency
    );
    let _ = writeln!(
        out,
        "| cap /s | booked/s | preview s | send s | sent | first → last send s | rate reached /s | of the cap | calls | 130429 | of calls | duplicates | busiest second | server CPU s | peak RSS MiB |"
    );
    let _ = writeln!(
        out,
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for p in phases {
        let rate = p.sent as f64 / p.span.as_secs_f64().max(0.001);
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.1} | {:.1} | {} | {:.1} | {:.1} | {:.1}% | {} | {} | {:.2}% | {} | {} | {} | {} |",
            p.cap,
            p.booked_per_second,
            p.preview.as_secs_f64(),
            p.send.as_secs_f64(),
            p.sent,
            p.span.as_secs_f64(),
            rate,
            100.0 * rate / f64::from(p.cap),
            p.calls,
            p.throttled,
            100.0 * p.throttled as f64 / (p.calls.max(1)) as f64,
            p.duplicates,
            p.busiest_second,
            p.cpu
                .map_or("-".into(), |c| format!("{:.1}", c.as_secs_f64())),
            p.peak_rss_kib
                .map_or("-".into(), |k| format!("{:.0}", k as f64 / 1024.0)),
        );
    }
    out
}
