//! Crash safety: the server is killed with SIGKILL while requests are in
//! flight, queue work is pending and SLA timers are armed. After a restart
//! every accepted lead exists, every piece of work completes, and no
//! message reaches anyone twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clinicflow_embedded::Database;
use clinicflow_ports::{ItemStore, Query, QueueName};
use common::*;

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_nothing_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // SLA warnings after 3 s; no reassignment during the test.
    let mut server = Server::start(dir.path(), &config(&data, "3s", "1h"));

    // Kill while bursts are in flight, each time a little later into the
    // work that follows, so that kills land before, during and after the
    // assignments and the deliveries.
    let mut accepted = BTreeSet::new();
    let mut caught_pending = false;
    for round in 0..5u64 {
        let answered = Arc::new(AtomicUsize::new(0));
        let posts: Vec<_> = (0..60)
            .map(|i| {
                let url = server.url("/v1/forms/web/leads");
                let answered = answered.clone();
                let phone = format!("+90532{round}{i:06}");
                tokio::spawn(async move {
                    let r = client()
                        .post(url)
                        .form(&[("phone", phone.as_str()), ("name", "Crash Test")])
                        .send()
                        .await;
                    answered.fetch_add(1, Ordering::SeqCst);
                    match r {
                        Ok(r) if r.status() == 202 => {
                            let body: serde_json::Value = r.json().await.ok()?;
                            body["id"].as_str().map(str::to_owned)
                        }
                        _ => None,
                    }
                })
            })
            .collect();
        while answered.load(Ordering::SeqCst) < 30 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(round * round * 15)).await;
        server.kill9();
        for post in posts {
            if let Some(id) = post.await.unwrap() {
                accepted.insert(id);
            }
        }
        let pending = pending_work(&data).await;
        eprintln!(
            "round {round}: {} leads accepted so far, {pending} queue messages pending at the kill",
            accepted.len()
        );
        caught_pending |= pending > 0;
        server = Server::restart(dir.path());
    }
    assert!(
        caught_pending,
        "no kill caught queue work in flight; the test proved nothing"
    );
    assert!(!accepted.is_empty());

    // Every accepted lead survived and gets its owner and one greeting.
    for id in &accepted {
        eventually(
            &server,
            "every lead greeted after the restart",
            WAIT,
            || async {
                let lead = lead(&server, id).await;
                let greeted = messages_of(&lead, "greeting")
                    .iter()
                    .any(|m| m["status"] == "sent");
                (lead["owner"].is_object() && greeted).then_some(())
            },
        )
        .await;
    }

    // Kill again while the SLA warnings are due, then let them all fire.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    server.kill9();
    server = Server::restart(dir.path());
    for id in &accepted {
        eventually(
            &server,
            "every SLA warning after the second restart",
            WAIT,
            || async {
                let lead = lead(&server, id).await;
                let warned = messages_of(&lead, "sla_alert")
                    .iter()
                    .any(|m| m["status"] == "sent");
                (warned && lead["tasks"].as_array().is_some_and(|t| t.len() == 1)).then_some(())
            },
        )
        .await;
    }

    // The ledger: exactly one greeting and one warning per lead, all sent.
    let listed = all_leads(&server).await;
    assert!(accepted.is_subset(&listed), "an accepted lead is missing");
    let mut sent = BTreeSet::new();
    for id in &listed {
        let lead = lead(&server, id).await;
        assert_eq!(messages_of(&lead, "greeting").len(), 1, "{lead}");
        for m in lead["messages"].as_array().unwrap() {
            assert_eq!(m["status"], "sent", "{m}");
            assert!(sent.insert(m["id"].as_str().unwrap().to_owned()));
        }
    }
    drop(server);

    // The channel's side: each message delivered exactly once, across every
    // run of the server, as its delivery log lines and its records say.
    let mut deliveries: BTreeMap<String, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                if line.contains("sandbox: message delivered") {
                    let id = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("message_id="))
                        .unwrap()
                        .to_owned();
                    *deliveries.entry(id).or_default() += 1;
                }
            }
        }
    }
    let twice: Vec<_> = deliveries.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    let logged: BTreeSet<String> = deliveries.into_keys().collect();
    let unknown: Vec<_> = logged.difference(&sent).collect();
    assert!(
        unknown.is_empty(),
        "delivered but not in the ledger: {unknown:?}"
    );
    // A kill between the channel's durable record and its log line loses
    // the line, so completeness is checked against the records.
    let recorded = sandbox_records(&data).await;
    let missing: Vec<_> = sent.difference(&recorded).collect();
    let extra: Vec<_> = recorded.difference(&sent).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "ledger and channel disagree: missing {missing:?}, extra {extra:?}"
    );
}

/// The ids of the messages the sandbox channel recorded as delivered.
async fn sandbox_records(data: &Path) -> BTreeSet<String> {
    let db = Database::open(data).unwrap();
    let store = db.store();
    let mut ids = BTreeSet::new();
    for partition in clinicflow_channels::sandbox::SandboxMessenger::partitions("clinic") {
        let mut query = Query::partition(partition);
        loop {
            let page = store.query(&query).await.unwrap();
            ids.extend(page.items.iter().map(|i| i.key.sk.clone()));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
    }
    ids
}

async fn all_leads(server: &Server) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut path = "/v1/leads?limit=200".to_owned();
    loop {
        let (status, page) = staff_get(server, TOKEN, &path).await;
        assert_eq!(status, 200, "{page}");
        for lead in page["items"].as_array().unwrap() {
            ids.insert(lead["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/leads?limit=200&cursor={next}"),
            None => return ids,
        }
    }
}

/// Queue messages not yet handled in the stopped server's data directory.
async fn pending_work(data: &Path) -> u64 {
    let db = Database::open(data).unwrap();
    let stats = db.queue().stats().await.unwrap();
    QueueName::ALL
        .iter()
        .filter_map(|q| stats.get(q))
        .map(|s| s.visible + s.in_flight)
        .sum()
}

/// Kill -9 while the sweep fires a burst of due reminders: after the
/// restart every reminder goes, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_sweep_of_due_reminders_sends_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let base = config(&data, "1h", "2h");
    let (clinic, other) = base.split_at(base.find("[[tenants]]\nid = \"other\"").unwrap());
    let config = format!(
        r#"{clinic}
[tenants.appointments]
send_hours = "00:00-24:00"
[tenants.journeys.appointment_confirmation]
enabled = false
[tenants.journeys.appointment_nudge]
enabled = false
[tenants.journeys.appointment_reminder]
before = "25s"
min_lead = "2s"

[[tenants.practitioners]]
id = "dr-a"
name = "Dr. Ada Kaya"
branch = "main"

[[tenants.services]]
id = "consult"
name = "Muayene"

{other}"#
    );
    let mut server = Server::start(dir.path(), &config);
    // 150 appointments whose reminders all fall due in the same second.
    let start = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(40);
    let n = 150;
    for i in 0..n {
        let body = serde_json::json!({
            "resourceType": "Appointment",
            "identifier": [{ "system": "https://mis.example", "value": format!("R-{i}") }],
            "status": "booked",
            "serviceType": [{ "coding": [{ "code": "consult" }] }],
            "start": start.to_string(),
            "end": (start + jiff::SignedDuration::from_mins(30)).to_string(),
            "contained": [{ "resourceType": "Patient", "id": "p",
                            "telecom": [{ "system": "phone", "value": format!("+90532{i:07}") }] }],
            "participant": [
                { "actor": { "reference": "#p" } },
                { "actor": { "reference": "Practitioner/dr-a" } }
            ]
        });
        let r = client()
            .put(server.url(&format!(
                "/fhir/Appointment?identifier=https://mis.example|R-{i}"
            )))
            .bearer_auth(TOKEN)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // Kill once some reminders have fired and others not yet.
    let fired = |server: &Server| server.log_text().matches("journey step fired").count();
    eventually(&server, "the sweep under way", WAIT, || async {
        (fired(&server) >= 5).then_some(())
    })
    .await;
    server.kill9();
    let before = fired(&server);
    eprintln!("killed after {before} of {n} reminders fired");
    server = Server::restart(dir.path());
    let messages = eventually(
        &server,
        "every reminder after the restart",
        WAIT,
        || async {
            let (_, page) = staff_get(&server, TOKEN, "/v1/messages?limit=200").await;
            let items = page["items"].as_array()?.clone();
            let reminders: Vec<_> = items
                .into_iter()
                .filter(|m| m["kind"] == "appointment_reminder" && m["status"] == "sent")
                .collect();
            (reminders.len() >= n).then_some(reminders)
        },
    )
    .await;
    assert_eq!(messages.len(), n, "one reminder per appointment");
    let ids: BTreeSet<&str> = messages.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), n);
    assert!(
        before < n,
        "the kill came after every reminder; the test proved nothing"
    );
    drop(server);
    // The channel's side: each delivered once.
    let recorded = sandbox_records(&data).await;
    let reminders: BTreeSet<String> = recorded
        .into_iter()
        .filter(|id| id.starts_with("appointment_reminder."))
        .collect();
    assert_eq!(reminders.len(), n);
}
