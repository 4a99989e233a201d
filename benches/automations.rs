//! The automations benchmark (`make bench-automations`, that is `cargo
//! bench --bench automations`): 50 rules over 100,000 leads and
//! appointments, on the embedded store, in this process with the local
//! server's own background workers (4 consumers per queue, a 1 s sweep).
//!
//! 1. **seed**: 50 rules saved (inactive), then half the records as leads
//!    posted through the form use case and half as appointments booked for
//!    them; the queues drain (assignment, journeys).
//! 2. **events, baseline**: one engine event per record (a call recorded on
//!    each lead, each appointment saved) queued in batches and drained with
//!    every rule inactive: the queue and the engine's "any active rule?".
//! 3. **events, 50 rules**: the rules activated (for what happens from
//!    now on), and the same events again: each read with its record, met
//!    by the 50 rules, the matching firings armed. Events per second =
//!    events ÷ time to drain, beside the baseline of step 2.
//! 4. **due → action**: `BENCH_DUE` external events posted over a few
//!    seconds to a rule with a one-minute delay; when all have fired, each
//!    firing's settle time minus its due time: p50, p99, max.
//!
//! Settings (environment): `BENCH_RECORDS` (100000), `BENCH_DUE` (10000),
//! `BENCH_CONCURRENCY` (32).

#[path = "support/server.rs"]
mod server;

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clinicflow_app::usecases::BookInput;
use clinicflow_app::work::Work;
use clinicflow_app::{App, keys};
use clinicflow_channels::meta_leads::MetaReader;
use clinicflow_channels::{Credentials, SandboxMessenger};
use clinicflow_core::automation::{Event, Firing, FiringState, RuleSpec};
use clinicflow_core::ids::{AppointmentId, LeadId, RecordRef, TenantId};
use clinicflow_core::lead::ContactKind;
use clinicflow_core::tenant::Tenant;
use clinicflow_embedded::{Database, EmbeddedQueue};
use clinicflow_ports::{Index, ItemStore, Query, QueueName, SortKey, SystemClock, UlidIds};
use futures_util::stream::{self, StreamExt};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use server::{commit, cpu_time, machine};

const CONFIG: &str = r#"
[[tenants]]
id = "bench"
name = "Bench Clinic"
default_language = "tr"
staff_tokens = ["bench-staff-token-0123456789"]
sla = { first_contact = "8h", reassign_after = "16h" }

[tenants.appointments]
send_hours = "00:00-24:00"

[tenants.journeys.appointment_confirmation]
enabled = false
[tenants.journeys.appointment_nudge]
enabled = false
[tenants.journeys.appointment_reminder]
enabled = false

[tenants.blasts.templates.reminder]
purpose = "operational"
text = { tr = "Merhaba {{ first_name }}, randevunuz yaklaşıyor." }

[[tenants.managers]]
id = "selin"
name = "Selin Kaya"
phone = "+90 532 000 00 01"

[[tenants.branches]]
id = "kadikoy"
name = "Kadıköy"
time_zone = "Europe/Istanbul"
phone_region = "TR"
opening_hours = ["daily 00:00-24:00"]

[[tenants.consultants]]
id = "elif"
name = "Elif Demir"
branch = "kadikoy"
languages = ["tr"]
shifts = ["daily 00:00-24:00"]

[[tenants.consultants]]
id = "can"
name = "Can Yılmaz"
branch = "kadikoy"
languages = ["tr"]
shifts = ["daily 00:00-24:00"]

[[tenants.practitioners]]
id = "dr-1"
name = "Dr. Bir"
branch = "kadikoy"
languages = ["tr"]

[[tenants.practitioners]]
id = "dr-2"
name = "Dr. İki"
branch = "kadikoy"
languages = ["tr"]

[[tenants.practitioners]]
id = "dr-3"
name = "Dr. Üç"
branch = "kadikoy"
languages = ["tr"]

[[tenants.services]]
id = "implant"
name = "İmplant"

[[tenants.forms]]
id = "web"
"#;

struct Settings {
    records: usize,
    due: usize,
    concurrency: usize,
}

fn number(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => v
            .parse()
            .map_err(|_| format!("{name}: `{v}` is not a number")),
    }
}

fn main() -> ExitCode {
    let settings = (|| {
        Ok::<_, String>(Settings {
            records: number("BENCH_RECORDS", 100_000)?,
            due: number("BENCH_DUE", 10_000)?,
            concurrency: number("BENCH_CONCURRENCY", 32)?,
        })
    })();
    server::bench_main(settings, run)
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The 50 rules: touches, lead times, appointment times and statuses,
/// idle leads, external triggers (`bench-due` fires a minute after its event).
fn rules() -> Vec<(String, RuleSpec)> {
    let mut rules = Vec::new();
    let task = |title: &str| json!([{ "type": "create_task", "assignee": { "role": "responsible" }, "title": title }]);
    let kinds = ["call", "message", "visit", "note"];
    for i in 0..10 {
        rules.push((format!("touch-{i}"), json!({
            "name": format!("Touch {i}"), "subject": "lead",
            "trigger": { "kind": "touch_recorded", "touch_type": kinds[i % 4] },
            "conditions": { "all": [{ "field": "lead.branch", "op": "eq", "value": "kadikoy" }],
                            "any": [{ "field": "lead.source", "op": "in", "value": ["web_form", "whatsapp"] }] },
            "delay": { "for": format!("{}h", 24 * (i + 1)) },
            "actions": task("Follow up")
        })));
        rules.push((format!("lead-time-{i}"), json!({
            "name": format!("Lead day {i}"), "subject": "lead",
            "trigger": { "kind": "time", "anchor": "lead.created_at", "offset": format!("{}h", 24 * (i + 2)), "at_local": "10:00" },
            "conditions": { "all": [{ "field": "lead.stage", "op": "in", "value": ["new", "contacted"] }] },
            "actions": task("Still open")
        })));
        let mut actions = task("Call to confirm");
        if i < 2 {
            actions = json!([{ "type": "send_message", "template": "reminder" }]);
        }
        rules.push((format!("appt-time-{i}"), json!({
            "name": format!("Before the visit {i}"), "subject": "appointment",
            "trigger": { "kind": "time", "anchor": "appointment.starts_at", "offset": format!("-{}h", i + 1) },
            "conditions": { "all": [
                { "field": "appointment.practitioner", "op": "in", "value": ["dr-1", "dr-2", "dr-3"] },
                { "field": "appointment.status", "op": "eq", "value": "booked" }] },
            "actions": actions
        })));
        let statuses = ["noshow", "cancelled", "fulfilled", "arrived", "booked"];
        rules.push((
            format!("appt-status-{i}"),
            json!({
                "name": format!("Status {i}"), "subject": "appointment",
                "trigger": { "kind": "appointment_status", "status": statuses[i % 5] },
                "delay": { "for": format!("{}h", i + 1) },
                "actions": task("After the status")
            }),
        ));
    }
    for i in 0..5 {
        rules.push((format!("idle-{i}"), json!({
            "name": format!("Idle {i}"), "subject": "lead",
            "trigger": { "kind": "idle", "pipeline": "leads", "stage": "new", "for": format!("{}h", 24 * (i + 1)) },
            "actions": [{ "type": "create_task", "assignee": { "role": "supervisor" }, "title": "Waiting" }]
        })));
        let code = if i == 0 {
            "bench-due".to_owned()
        } else {
            format!("bench-{i}")
        };
        rules.push((
            format!("external-{i}"),
            json!({
                "name": format!("External {i}"), "subject": "lead",
                "trigger": { "kind": "external", "code": code },
                "delay": { "for": "1m" },
                "actions": task("External")
            }),
        ));
    }
    rules
        .into_iter()
        .map(|(id, v)| {
            (
                id,
                serde_json::from_value(v).unwrap_or_else(|e| panic!("bench rule: {e}")),
            )
        })
        .collect()
}

async fn drained(queue: &EmbeddedQueue) -> Result<(), String> {
    loop {
        let stats = queue.stats().await.map_err(err)?;
        let busy: u64 = stats
            .iter()
            .filter(|(q, _)| **q != QueueName::Blast)
            .map(|(_, s)| s.visible + s.in_flight)
            .sum();
        if busy == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every firing of `rule`, read through its index.
async fn firings(
    store: &dyn ItemStore,
    tenant: &TenantId,
    rule: &str,
) -> Result<Vec<Firing>, String> {
    let rule = clinicflow_core::ids::RuleId::new(rule)?;
    let mut query = Query {
        index: Index::Gsi1,
        pk: keys::rule_firings_index_pk(tenant, &rule),
        sk: SortKey::All,
        descending: false,
        limit: 1000,
        after: None,
    };
    let mut all = Vec::new();
    loop {
        let page = store.query(&query).await.map_err(err)?;
        for item in &page.items {
            all.push(serde_json::from_str(&item.body).map_err(err)?);
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(all),
        }
    }
}

async fn armed(store: &dyn ItemStore, tenant: &TenantId) -> Result<usize, String> {
    let mut n = 0;
    for (id, _) in rules() {
        n += firings(store, tenant, &id).await?.len();
    }
    Ok(n)
}

/// Queues one engine event per record and waits for the queues to drain;
/// the events per second.
async fn events(
    app: &App,
    queue: &EmbeddedQueue,
    tenant: &TenantId,
    leads: &[LeadId],
    appointments: &[AppointmentId],
) -> Result<(usize, Duration), String> {
    let now = Timestamp::now();
    let mut works = Vec::with_capacity(leads.len() + appointments.len());
    for (i, lead) in leads.iter().enumerate() {
        works.push(
            Work::Automation {
                tenant: tenant.clone(),
                about: RecordRef::Lead(lead.clone()),
                events: vec![Event::TouchRecorded {
                    touch_type: ContactKind::Call,
                    id: format!("bench-touch-{}-{i}", now.as_millisecond()),
                }],
                at: now,
                depth: 0,
            }
            .enqueue(),
        );
    }
    for a in appointments {
        works.push(
            Work::Automation {
                tenant: tenant.clone(),
                about: RecordRef::Appointment(a.clone()),
                events: vec![Event::Saved],
                at: now,
                depth: 0,
            }
            .enqueue(),
        );
    }
    let n = works.len();
    let started = Instant::now();
    for batch in works.chunks(100) {
        app.store.write(batch.to_vec()).await.map_err(err)?;
    }
    drained(queue).await?;
    Ok((n, started.elapsed()))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

async fn run(s: &Settings) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(err)?;
    let db = Database::open(dir.path()).map_err(err)?;
    let queue = db.queue();
    let config: clinicflow_app::config::Config<serde::de::IgnoredAny> =
        clinicflow_app::config::parse(CONFIG).map_err(|e| format!("{e:?}"))?;
    let directory = Arc::new(config.directory);
    let http = clinicflow_channels::http::client()?;
    let over = |store: Arc<dyn ItemStore>| {
        let credentials = Arc::new(Credentials::default());
        let leads = MetaReader::new(http.clone(), directory.clone(), credentials.clone());
        Arc::new(App::new(
            directory.clone(),
            store.clone(),
            Arc::new(SandboxMessenger::new(store)),
            Arc::new(leads),
            credentials,
            Arc::new(SystemClock),
            Arc::new(UlidIds::default()),
            clinicflow_app::Tuning::default(),
        ))
    };
    let app = over(Arc::new(db.store()));
    let background = over(Arc::new(db.background_store()));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = clinicflow_local::workers::start(
        background,
        db.background_store(),
        queue.clone(),
        4,
        Duration::from_secs(30),
        Duration::from_secs(1),
        stopped,
    )
    .map_err(err)?;
    let tenant: Arc<Tenant> = app.directory.tenants().next().ok_or("no tenant")?.clone();

    // 1. Seed.
    for (id, spec) in rules() {
        app.create_rule(&tenant, Some(&id), spec)
            .await
            .map_err(err)?;
    }
    let half = s.records / 2;
    let started = Instant::now();
    let posted = AtomicUsize::new(0);
    let leads: Vec<LeadId> = stream::iter(0..half)
        .map(|i| {
            let app = app.clone();
            let posted = &posted;
            async move {
                let fields = vec![
                    ("phone".to_owned(), format!("+9053{:08}", 10_000_000 + i)),
                    ("name".to_owned(), "Ayşe Kaya".to_owned()),
                ];
                let id = app.submit_form("web", &fields).await.map_err(err)?;
                posted.fetch_add(1, Ordering::Relaxed);
                LeadId::new(id.id()).map_err(err)
            }
        })
        .buffer_unordered(s.concurrency)
        .collect::<Vec<Result<LeadId, String>>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let leads_secs = started.elapsed();
    let base = Timestamp::now();
    let started = Instant::now();
    let appointments: Vec<AppointmentId> = stream::iter(leads.iter().enumerate())
        .map(|(i, lead)| {
            let app = app.clone();
            let tenant = tenant.clone();
            async move {
                let start = base
                    + SignedDuration::from_mins(120 + 30 * i64::try_from(i % 600).unwrap_or(0))
                    + SignedDuration::from_hours(24 * i64::try_from(i / 600 % 14).unwrap_or(0));
                let a = app
                    .book_appointment(
                        &tenant,
                        BookInput {
                            lead: lead.to_string(),
                            practitioner: format!("dr-{}", 1 + i % 3),
                            service: "implant".into(),
                            start: start.to_string(),
                            end: None,
                            minutes: Some(30),
                            branch: None,
                            by: None,
                        },
                    )
                    .await
                    .map_err(err)?;
                Ok::<_, String>(a.id)
            }
        })
        .buffer_unordered(s.concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let booking_secs = started.elapsed();
    drained(&queue).await?;
    let seeded_secs = leads_secs + booking_secs;

    // 2. Events with every rule inactive: the baseline.
    let cpu0 = cpu_time("self");
    let (n, baseline) = events(&app, &queue, &tenant.id, &leads, &appointments).await?;
    let cpu1 = cpu_time("self");

    // 3. The 50 rules active, the same events again.
    for (id, _) in rules() {
        app.set_rule_active(&tenant, &id, None, true, false, None)
            .await
            .map_err(err)?;
    }
    let (_, active) = events(&app, &queue, &tenant.id, &leads, &appointments).await?;
    let cpu2 = cpu_time("self");
    let armed_after = armed(app.store.as_ref(), &tenant.id).await?;

    // 4. Due → action: external events a minute before their firing.
    let started = Instant::now();
    stream::iter(leads.iter().take(s.due))
        .map(|lead| {
            let app = app.clone();
            let tenant = tenant.clone();
            async move {
                app.external_trigger(&tenant, "bench-due", &RecordRef::Lead(lead.clone()))
                    .await
                    .map_err(err)
            }
        })
        .buffer_unordered(s.concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let posting = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    let fired = loop {
        let all = firings(app.store.as_ref(), &tenant.id, "external-0").await?;
        let done: Vec<Firing> = all
            .into_iter()
            .filter(|f| f.state == FiringState::Fired)
            .collect();
        if done.len() >= s.due || Instant::now() > deadline {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut lags: Vec<f64> = fired
        .iter()
        .filter_map(|f| {
            f.settled_at
                .map(|at| at.duration_since(f.delay.due).as_secs_f64())
        })
        .collect();
    lags.sort_by(f64::total_cmp);

    let _ = stop.send(true);
    let _ = tokio::task::spawn_blocking(move || workers.join()).await;

    let mut out = String::new();
    let cpu = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.1}", (b - a).as_secs_f64()),
        _ => "-".into(),
    };
    let _ = writeln!(out, "# Automations benchmark\n");
    if let Some(c) = commit() {
        let _ = writeln!(out, "- Commit: {c}");
    }
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(
        out,
        "- {} leads posted ({:.0}/s) and {} appointments booked for them ({:.0}/s) with 50 rules saved; embedded store, 4 consumers per queue, 1 s sweep, in one process",
        leads.len(),
        leads.len() as f64 / leads_secs.as_secs_f64(),
        appointments.len(),
        appointments.len() as f64 / booking_secs.as_secs_f64(),
    );
    let _ = writeln!(out, "- Seeding took {:.1} s\n", seeded_secs.as_secs_f64());
    let _ = writeln!(
        out,
        "| events through the engine | events | seconds | events/s | CPU s |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| baseline: every rule inactive | {n} | {:.1} | {:.0} | {} |",
        baseline.as_secs_f64(),
        n as f64 / baseline.as_secs_f64(),
        cpu(cpu0, cpu1)
    );
    let _ = writeln!(
        out,
        "| 50 active rules | {n} | {:.1} | {:.0} | {} |",
        active.as_secs_f64(),
        n as f64 / active.as_secs_f64(),
        cpu(cpu1, cpu2)
    );
    let _ = writeln!(out, "\nFirings armed by the second pass: {armed_after}\n");
    let _ = writeln!(
        out,
        "| due → action | firings | posted in s | p50 s | p99 s | max s |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        out,
        "| external event + 1 min delay → task | {} | {:.1} | {:.2} | {:.2} | {:.2} |",
        lags.len(),
        posting.as_secs_f64(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or_default()
    );
    let _ = writeln!(out, "\nPeak RSS: {} MiB", peak_rss_mib());
    Ok(out)
}
