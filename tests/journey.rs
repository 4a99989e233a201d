//! The lead journey end to end, on the real server over loopback HTTP:
//! intake in both encodings, dedupe, assignment, greeting, the manager's
//! SLA alert and the reassignment, and a contact that stops the SLA.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::future::join_all;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_is_greeted_assigned_escalated_and_reassigned() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), "2s", "4s"));

    // A plain HTML form post.
    let (status, body) = post_form(
        &server,
        "web",
        &[
            ("name", "Ayşe Kaya"),
            ("phone", "0532 123 45 67"),
            ("service", "implant"),
            ("utm_source", "instagram"),
            ("utm_campaign", "implant-kasim"),
            ("landing_page", "https://clinic.example/implant"),
        ],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();

    // Within moments: an owner who explains themselves, and a greeting sent.
    let greeted = eventually(&server, "the greeting", WAIT, || async {
        let lead = lead(&server, &id).await;
        let sent = messages_of(&lead, "greeting")
            .iter()
            .any(|m| m["status"] == "sent");
        sent.then_some(lead)
    })
    .await;
    let first_owner = greeted["owner"]["consultant"].as_str().unwrap().to_owned();
    assert_eq!(greeted["owner"]["rule"], "branch_language_on_shift");
    assert!(
        greeted["owner"]["reason"]
            .as_str()
            .unwrap()
            .contains("fewest open leads")
    );
    let greeting = messages_of(&greeted, "greeting")[0];
    assert_eq!(greeting["to"], "+905321234567");
    assert_eq!(greeting["purpose"], "operational");
    assert!(
        greeting["body"]
            .as_str()
            .unwrap()
            .starts_with("Merhaba Ayşe"),
        "{greeting}"
    );
    assert_eq!(greeted["attribution"]["utm_campaign"], "implant-kasim");
    let kinds: Vec<&str> = greeted["timers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"sla_warn") && kinds.contains(&"sla_reassign"),
        "{kinds:?}"
    );

    // The same patient again, as JSON and typed differently: the same lead, a new touch.
    let (status, again) = post_json(
        &server,
        "web",
        json!({"name": "Ayşe Kaya", "phone": "+90 (532) 123-4567", "utm_source": "google", "consent_marketing": true}),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(again["id"], id.as_str());

    // Nobody calls: after 2 s the manager gets a task and a message.
    let warned = eventually(&server, "the manager's alert", WAIT, || async {
        let lead = lead(&server, &id).await;
        let sent = messages_of(&lead, "sla_alert")
            .iter()
            .any(|m| m["status"] == "sent");
        (sent && !lead["tasks"].as_array().unwrap().is_empty()).then_some(lead)
    })
    .await;
    let alert = messages_of(&warned, "sla_alert")[0];
    assert_eq!(alert["audience"], "manager:manager");
    assert_eq!(alert["to"], "+905320000001");
    assert_eq!(warned["tasks"][0]["kind"], "sla_breach");
    assert_eq!(warned["tasks"][0]["assignee"], "manager");
    assert_eq!(warned["touches"].as_array().unwrap().len(), 2);
    let (_, tasks) = staff_get(&server, TOKEN, "/v1/tasks?status=open").await;
    assert!(
        tasks["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["lead"] == id.as_str())
    );

    // After 4 s the lead goes to the other consultant, recorded on the lead.
    let reassigned = eventually(&server, "the reassignment", WAIT, || async {
        let lead = lead(&server, &id).await;
        (lead["past_owners"].as_array().unwrap().len() == 1).then_some(lead)
    })
    .await;
    assert_eq!(reassigned["past_owners"][0], first_owner.as_str());
    assert_ne!(reassigned["owner"]["consultant"], first_owner.as_str());
    assert!(
        reassigned["owner"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("reassigned after the SLA ran out")
    );
    let history: Vec<&str> = reassigned["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "created",
        "assigned",
        "touched",
        "sla_breached",
        "reassigned",
    ] {
        assert!(history.contains(&kind), "{kind} missing from {history:?}");
    }
    // One greeting, ever.
    assert_eq!(messages_of(&reassigned, "greeting").len(), 1);

    // The new owner calls: the SLA stops and the lead moves on.
    let (status, contacted) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/leads/{id}/contacts"),
        json!({"kind": "call", "by": reassigned["owner"]["consultant"], "note": "booked a consultation"}),
    )
    .await;
    assert_eq!(status, 200, "{contacted}");
    assert_eq!(contacted["stage"], "contacted");
    let after = lead(&server, &id).await;
    assert!(
        after["timers"].as_array().unwrap().is_empty(),
        "{}",
        after["timers"]
    );
    let stages: Vec<(&str, &str)> = after["stage_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["from"].as_str().unwrap(), s["to"].as_str().unwrap()))
        .collect();
    assert_eq!(stages, [("new", "contacted")]);
    // The new owner's own SLA may already have warned; nothing more after the contact.
    let alerts_at_contact = messages_of(&after, "sla_alert").len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = lead(&server, &id).await;
    assert_eq!(
        later["past_owners"].as_array().unwrap().len(),
        1,
        "no reassignment after the contact"
    );
    assert_eq!(messages_of(&later, "sla_alert").len(), alerts_at_contact);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_in_time_means_no_alert_and_no_reassignment() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), "2s", "4s"));
    let (status, body) = post_json(
        &server,
        "web",
        json!({"email": "Patient@Example.com", "language": "en"}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    // The call happens at once, possibly before the lead has an owner.
    let (status, contacted) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/leads/{id}/contacts"),
        json!({"kind": "message"}),
    )
    .await;
    assert_eq!(status, 200, "{contacted}");
    let greeted = eventually(&server, "the greeting", WAIT, || async {
        let lead = lead(&server, &id).await;
        let sent = messages_of(&lead, "greeting")
            .iter()
            .any(|m| m["status"] == "sent");
        (sent && lead["owner"].is_object()).then_some(lead)
    })
    .await;
    let greeting = messages_of(&greeted, "greeting")[0];
    assert_eq!(greeting["channel"], "email");
    assert!(
        greeting["body"].as_str().unwrap().starts_with("Hello"),
        "{greeting}"
    );
    // Well past both deadlines: nothing was armed, nobody was warned.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let lead = lead(&server, &id).await;
    assert!(
        lead["timers"].as_array().unwrap().is_empty(),
        "{}",
        lead["timers"]
    );
    assert!(messages_of(&lead, "sla_alert").is_empty());
    assert!(lead["tasks"].as_array().unwrap().is_empty());
    assert!(lead["past_owners"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_submissions_of_one_phone_make_one_lead() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), "10m", "30m"));
    let forms = [
        "0532 999 88 77",
        "+90 (532) 999-8877",
        "00905329998877",
        "5329998877",
        "+905329998877",
    ];
    let posts = (0..50).map(|i| {
        let server = &server;
        async move {
            if i % 2 == 0 {
                post_form(
                    server,
                    "web",
                    &[
                        ("phone", forms[i % forms.len()]),
                        ("utm_content", &i.to_string()),
                    ],
                )
                .await
            } else {
                post_json(
                    server,
                    "web",
                    json!({"phone": forms[i % forms.len()], "utm_content": i.to_string()}),
                )
                .await
            }
        }
    });
    let answers = join_all(posts).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 202, "{body}");
            body["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let id = ids.into_iter().next().unwrap();
    let (_, list) = staff_get(&server, TOKEN, "/v1/leads").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    let lead = eventually(&server, "the greeting", WAIT, || async {
        let lead = lead(&server, &id).await;
        messages_of(&lead, "greeting")
            .iter()
            .any(|m| m["status"] == "sent")
            .then_some(lead)
    })
    .await;
    assert_eq!(lead["touches"].as_array().unwrap().len(), 50);
    assert_eq!(messages_of(&lead, "greeting").len(), 1);
    let (_, messages) = staff_get(&server, TOKEN, "/v1/messages").await;
    assert_eq!(messages["items"].as_array().unwrap().len(), 1, "{messages}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), "10m", "30m"));
    let doc: Value = client()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/forms/{form_id}/leads", "post"),
        ("/v1/forms/{form_id}/leads", "options"),
        ("/v1/leads", "get"),
        ("/v1/leads/{lead_id}", "get"),
        ("/v1/leads/{lead_id}/contacts", "post"),
        ("/v1/leads/{lead_id}/stage", "post"),
        ("/v1/messages", "get"),
        ("/v1/tasks", "get"),
        ("/v1/tasks/{task_id}/done", "post"),
        ("/v1/appointments", "get"),
        ("/v1/appointments", "post"),
        ("/v1/appointments/{appointment_id}", "get"),
        ("/v1/appointments/{appointment_id}/move", "post"),
        ("/v1/appointments/{appointment_id}/cancel", "post"),
        ("/v1/appointments/{appointment_id}/status", "post"),
        ("/v1/surveys", "get"),
        ("/fhir/Appointment", "put"),
        ("/v1/blasts", "get"),
        ("/v1/blasts", "post"),
        ("/v1/blasts/{blast_id}", "get"),
        ("/v1/blasts/{blast_id}/send", "post"),
        ("/v1/blasts/{blast_id}/test", "post"),
        ("/v1/blasts/{blast_id}/pause", "post"),
        ("/v1/blasts/{blast_id}/resume", "post"),
        ("/v1/blasts/{blast_id}/cancel", "post"),
        ("/v1/blasts/{blast_id}/recipients", "get"),
        ("/healthz", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} undocumented"
        );
    }
    let form_body = &doc["paths"]["/v1/forms/{form_id}/leads"]["post"]["requestBody"]["content"];
    assert!(form_body.get("application/x-www-form-urlencoded").is_some());
    assert!(form_body.get("application/json").is_some());
    assert!(doc["components"]["securitySchemes"]["staff_token"].is_object());
    let (status, health) = staff_get(&server, "", "/healthz").await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
}
