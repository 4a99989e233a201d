//! Automations over the real binary and HTTP: seed 004's dental preset
//! loaded with one call and a patient walked through all four pipelines
//! (a form lead, the Appointments deal won, its fan-out into Patient base
//! and Coordinators, a WhatsApp message moving the base deal, a copy back
//! into Appointments, a no-show into Reactivation and back); bad rules
//! refused by path; versions and `If-Match`; tenants apart; and a kill -9
//! while a rule fires for 300 leads, with no task made twice.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const APP_SECRET: &str = "meta-app-secret-for-automations";
const ENV: &[(&str, &str)] = &[
    ("CF_AUTO_WA_TOKEN", "wa-access-token"),
    ("CF_AUTO_WA_SECRET", APP_SECRET),
];

fn automation_config(data: &Path) -> String {
    let base = config(data, "1h", "2h");
    let (clinic, other) = base.split_at(base.find("[[tenants]]\nid = \"other\"").unwrap());
    format!(
        r#"{clinic}
[tenants.messaging]
order = ["sms"]

[tenants.whatsapp]
phone_number_id = "106540352242922"
access_token = "env:CF_AUTO_WA_TOKEN"
app_secret = "env:CF_AUTO_WA_SECRET"
verify_token = "env:CF_AUTO_WA_TOKEN"
api_url = "http://127.0.0.1:9/v23.0"

{other}"#
    )
}

async fn send(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (u16, Value) {
    let mut r = client()
        .request(method, server.url(path))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    if let Some(v) = if_match {
        r = r.header("if-match", v);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Posts a patient's WhatsApp text, signed as Meta signs it.
async fn patient_writes(server: &Server, phone: &str, id: &str) {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": "106540352242922" },
            "contacts": [{ "profile": { "name": "Zeynep" }, "wa_id": phone }],
            "messages": [{ "from": phone, "id": id, "timestamp": jiff::Timestamp::now().as_second().to_string(),
                           "type": "text", "text": { "body": "Merhaba, randevu almak istiyorum" } }]
        }}]}]
    })
    .to_string();
    let (status, _) =
        common::post_meta_signed(server, "/webhooks/whatsapp/clinic", body, APP_SECRET).await;
    assert_eq!(status, 200);
}

/// The patient's deals in `pipeline`, once some stand in `stage`.
async fn deal_in(server: &Server, pipeline: &str, stage: &str) -> Value {
    eventually(
        server,
        &format!("a deal in {pipeline}/{stage}"),
        WAIT,
        || async {
            let (_, page) = staff_get(
                server,
                TOKEN,
                &format!("/v1/deals?pipeline={pipeline}&stage={stage}"),
            )
            .await;
            page["items"].as_array().and_then(|d| d.first().cloned())
        },
    )
    .await
}

async fn move_deal(server: &Server, deal: &Value, stage: &str) -> Value {
    let (status, body) = staff_post(
        server,
        TOKEN,
        &format!("/v1/deals/{}/stage", deal["id"].as_str().unwrap()),
        json!({ "stage": stage }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Every task, page by page.
async fn all_tasks(server: &Server) -> Vec<Value> {
    let mut all = Vec::new();
    let mut path = "/v1/tasks?limit=200".to_owned();
    loop {
        let (_, page) = staff_get(server, TOKEN, &path).await;
        all.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/tasks?limit=200&cursor={next}"),
            None => return all,
        }
    }
}

/// The automation tasks titled `title`, once there are `n`.
async fn tasks_titled(server: &Server, title: &str, n: usize) -> Vec<Value> {
    eventually(server, &format!("{n} task(s) `{title}`"), WAIT, || async {
        let found: Vec<Value> = all_tasks(server)
            .await
            .into_iter()
            .filter(|t| t["title"] == title)
            .collect();
        (found.len() >= n).then_some(found)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_walks_through_the_four_dental_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        &automation_config(&dir.path().join("data")),
        ENV,
    );
    let (status, loaded) =
        staff_post(&server, TOKEN, "/v1/automations/presets/dental", json!({})).await;
    assert_eq!(status, 200, "{loaded}");
    assert_eq!(loaded["pipelines"].as_array().unwrap().len(), 4);
    let rules = loaded["rules_created"].as_array().unwrap().len();
    assert!(rules >= 15, "{loaded}");
    let (_, again) = staff_post(&server, TOKEN, "/v1/automations/presets/dental", json!({})).await;
    assert_eq!(again["rules_kept"].as_array().unwrap().len(), rules);

    // A web lead opens an Appointments deal.
    let phone = "+905321234567";
    let (status, _) = post_form(
        &server,
        "web",
        &[("phone", phone), ("name", "Zeynep Arslan")],
    )
    .await;
    assert_eq!(status, 202);
    let request = deal_in(&server, "appointments", "new_request").await;
    assert!(request["lead"].is_string(), "{request}");
    let (status, _) = send(
        &server,
        reqwest::Method::PUT,
        &format!("/v1/deals/{}/flags", request["id"].as_str().unwrap()),
        Some(json!({ "first_visit": true, "in_treatment": false })),
        None,
    )
    .await;
    assert_eq!(status, 200);
    move_deal(&server, &request, "taken_into_work").await;
    move_deal(&server, &request, "booking_created").await;
    tasks_titled(&server, "Confirm the appointment the day before", 1).await;
    move_deal(&server, &request, "patient_arrived").await;

    // Won: into Patient base (no plan signed) and to the coordinators, linked.
    let base = deal_in(&server, "patient_base", "patient_base").await;
    let intake = deal_in(&server, "coordinators", "intake_queue").await;
    assert_eq!(base["parent"], request["id"]);
    assert_eq!(intake["parent"], request["id"]);
    tasks_titled(&server, "Draw up the comprehensive treatment plan", 1).await;
    let (_, none) = staff_get(
        &server,
        TOKEN,
        "/v1/deals?pipeline=patient_base&stage=in_treatment",
    )
    .await;
    assert_eq!(none["items"].as_array().unwrap().len(), 0);

    // The patient writes: the base deal needs attention, its owner is told.
    patient_writes(&server, "905321234567", "wamid.AUTO1").await;
    let attention = deal_in(&server, "patient_base", "needs_attention").await;
    assert_eq!(attention["id"], base["id"]);
    let told = tasks_titled(&server, "The patient wrote again: answer them", 1).await;
    assert_eq!(told[0]["deal"], base["id"]);
    let (_, detail) = staff_get(
        &server,
        TOKEN,
        &format!("/v1/deals/{}", base["id"].as_str().unwrap()),
    )
    .await;
    let firing = detail["firings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "base_patient_wrote")
        .unwrap()
        .clone();
    assert_eq!(firing["state"], "fired");
    assert_eq!(firing["event"]["event"], "inbound_message");
    assert_eq!(
        firing["conditions"][1]["actual"], "patient_base",
        "{firing}"
    );
    assert_eq!(told[0]["firing"], firing["id"]);

    // Ready to book again: a copy into Appointments.
    move_deal(&server, &attention, "taken_into_work").await;
    move_deal(&server, &attention, "choosing_time").await;
    let rebook = deal_in(&server, "appointments", "choosing_time").await;
    assert_eq!(rebook["parent"], base["id"]);
    // The coordinators work their plan.
    move_deal(&server, &intake, "plan_drafted").await;
    move_deal(&server, &intake, "plan_approved").await;
    tasks_titled(&server, "Book the meeting to present the plan", 1).await;

    // The patient does not come: into Reactivation; they write; they book.
    move_deal(&server, &rebook, "patient_did_not_come").await;
    let lost = deal_in(&server, "reactivation", "never_visited").await;
    assert_eq!(lost["parent"], rebook["id"]);
    patient_writes(&server, "905321234567", "wamid.AUTO2").await;
    let active = deal_in(&server, "reactivation", "showed_activity").await;
    tasks_titled(&server, "The patient showed activity: call them", 1).await;
    move_deal(&server, &active, "taken_into_work").await;
    move_deal(&server, &active, "choosing_time").await;
    eventually(
        &server,
        "the reactivated copy in Appointments",
        WAIT,
        || async {
            let (_, page) = staff_get(
                &server,
                TOKEN,
                "/v1/deals?pipeline=appointments&stage=choosing_time",
            )
            .await;
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["parent"] == active["id"])
                .then_some(())
        },
    )
    .await;
    // The same message delivered again moves nothing twice.
    patient_writes(&server, "905321234567", "wamid.AUTO2").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let activity = all_tasks(&server)
        .await
        .iter()
        .filter(|t| t["title"] == "The patient showed activity: call them")
        .count();
    assert_eq!(activity, 1);
    // A consultant lists their own.
    let owner = request["owner"].as_str().unwrap();
    let (_, mine) = staff_get(
        &server,
        TOKEN,
        &format!("/v1/tasks?assignee={owner}&status=open"),
    )
    .await;
    assert!(
        mine["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["assignee"] == owner),
        "{mine}"
    );
    assert!(!mine["items"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_versioned_checked_by_path_and_kept_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(
        dir.path(),
        &automation_config(&dir.path().join("data")),
        ENV,
    );
    let rule = json!({
        "id": "call-new-leads",
        "name": "Call every new lead",
        "subject": "lead",
        "trigger": { "kind": "stage_entered", "pipeline": "leads", "stage": "new" },
        "actions": [{ "type": "create_task", "assignee": { "role": "responsible" }, "title": "Call", "due": "2h" }]
    });
    for (bad, path) in [
        (
            json!({"trigger": {"kind": "stage_entered", "pipeline": "leads", "stage": "nowhere"}}),
            "trigger.stage",
        ),
        (
            json!({"conditions": {"all": [{"field": "lead.colour", "op": "eq", "value": "red"}]}}),
            "conditions.all[0].field",
        ),
        (
            json!({"conditions": {"all": [{"field": "lead.source", "op": "like", "value": "x"}]}}),
            "conditions.all[0].op",
        ),
        (json!({"delay": {"for": "30s"}}), "delay.for"),
        (json!({"colour": "red"}), "colour"),
    ] {
        let mut body = rule.clone();
        for (k, v) in bad.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (status, answer) = staff_post(&server, TOKEN, "/v1/automations", body).await;
        assert_eq!(status, 422, "{answer}");
        let fields: Vec<&str> = answer["error"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["field"].as_str().unwrap())
            .collect();
        assert!(fields.iter().any(|f| f.contains(path)), "{path}: {answer}");
    }
    let (status, _) = staff_get(&server, TOKEN, "/v1/automations/call-new-leads").await;
    assert_eq!(status, 404, "nothing saved");

    let (status, created) = staff_post(&server, TOKEN, "/v1/automations", rule.clone()).await;
    assert_eq!(status, 201, "{created}");
    let mut edited = rule.clone();
    edited["name"] = json!("Call every new lead within two hours");
    let path = "/v1/automations/call-new-leads";
    let (status, saved) = send(
        &server,
        reqwest::Method::PUT,
        path,
        Some(edited.clone()),
        Some("W/\"1\""),
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["version"], 2);
    let (status, _) = send(
        &server,
        reqwest::Method::PUT,
        path,
        Some(edited),
        Some("W/\"1\""),
    )
    .await;
    assert_eq!(status, 412);
    let (status, v1) = staff_get(&server, TOKEN, "/v1/automations/call-new-leads/versions/1").await;
    assert_eq!(
        (status, v1["name"].as_str()),
        (200, Some("Call every new lead"))
    );
    let (status, preview) =
        staff_get(&server, TOKEN, "/v1/automations/call-new-leads/preview").await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["applies"], true);
    // Another tenant sees none of it.
    let (status, _) = staff_get(&server, OTHER_TOKEN, path).await;
    assert_eq!(status, 404);
    let (_, theirs) = staff_get(&server, OTHER_TOKEN, "/v1/automations").await;
    assert_eq!(theirs, json!([]));
    // Run now on an inactive rule is refused; a deletion cancels nothing pending.
    let (status, _) = staff_post(
        &server,
        TOKEN,
        "/v1/automations/call-new-leads/run",
        json!({}),
    )
    .await;
    assert_eq!(status, 409);
    let (status, deleted) = send(&server, reqwest::Method::DELETE, path, None, None).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["cancelled"], 0);
    let (status, openapi) = staff_get(&server, TOKEN, "/openapi.json").await;
    assert_eq!(status, 200);
    assert!(openapi["paths"]["/v1/automations/{rule_id}/run"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_a_rule_fires_makes_no_task_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start_with_env(dir.path(), &automation_config(&data), ENV);
    let mut leads = BTreeSet::new();
    for i in 0..300 {
        let (status, body) =
            post_form(&server, "web", &[("phone", &format!("+90532700{i:04}"))]).await;
        assert_eq!(status, 202);
        leads.insert(body["id"].as_str().unwrap().to_owned());
    }
    let (status, _) = staff_post(
        &server,
        TOKEN,
        "/v1/automations",
        json!({
            "id": "welcome",
            "name": "Welcome call",
            "subject": "lead",
            "trigger": { "kind": "record_created" },
            "actions": [{ "type": "create_task", "assignee": { "role": "responsible" }, "title": "Welcome call" }]
        }),
    )
    .await;
    assert_eq!(status, 201);
    let (status, activated) = staff_post(
        &server,
        TOKEN,
        "/v1/automations/welcome/activate",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{activated}");
    // Leads assigned after the activation armed their own firing: either
    // way, one per lead.
    let armed = &activated["armed"];
    assert_eq!(
        armed["fire_now"].as_u64().unwrap() + armed["armed_already"].as_u64().unwrap(),
        300,
        "{armed}"
    );
    // Kill while the sweep works through them, then again a little later.
    for wait in [150, 600] {
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill9();
        server = Server::restart_with_env(dir.path(), ENV);
    }
    let tasks = tasks_titled(&server, "Welcome call", 300).await;
    let about: BTreeSet<String> = tasks
        .iter()
        .map(|t| t["lead"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tasks.len(), 300);
    assert_eq!(about, leads);
    // Run now after all of it: nothing new.
    let (_, again) = staff_post(&server, TOKEN, "/v1/automations/welcome/run", json!({})).await;
    assert_eq!(
        (again["fire_now"].as_u64(), again["armed_already"].as_u64()),
        (Some(0), Some(300))
    );
}
