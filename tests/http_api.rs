//! The HTTP API's contract on the real server over loopback HTTP: every
//! refusal with its status and JSON error (code, and the named fields of a
//! 422), nothing half-written after a refusal, the form's CORS allow-list,
//! the honeypot, staff authentication and tenant isolation, paging and
//! filters, the pipeline's stage rules, contacts, tasks and the message
//! ledger.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ops::Deref;
use std::time::Duration;

use common::*;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);
const ALLOWED: &str = "https://clinic.example";
const EVIL: &str = "https://evil.example";

/// A server with its own data directory; the server stops before the
/// directory goes.
struct Env {
    server: Server,
    _dir: tempfile::TempDir,
}

impl Deref for Env {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

fn start(first_contact: &str, reassign_after: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &config(&dir.path().join("data"), first_contact, reassign_after),
    );
    Env { server, _dir: dir }
}

/// A server whose SLA never runs out during a test.
fn quiet() -> Env {
    start("10m", "30m")
}

/// An answer: status, headers, the body as text and as JSON (`Null` when it is not JSON).
struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        text,
        body,
    }
}

/// Posts raw bytes to a form with the given content type and origin.
async fn post_raw(
    server: &Server,
    form: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    origin: Option<&str>,
) -> Answer {
    let mut request = client()
        .post(server.url(&format!("/v1/forms/{form}/leads")))
        .header(header::CONTENT_TYPE, content_type)
        .body(body);
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    send(request).await
}

/// Posts raw bytes to a staff endpoint.
async fn staff_raw(
    server: &Server,
    token: &str,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> Answer {
    send(
        client()
            .post(server.url(path))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, content_type)
            .body(body),
    )
    .await
}

/// Asserts an error answer: its status, its code, and a message for people.
#[track_caller]
fn assert_error(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Asserts a 422 `validation_failed` naming exactly `fields`, each with a problem.
#[track_caller]
fn assert_invalid(status: u16, body: &Value, fields: &[&str]) {
    assert_error(status, body, 422, "validation_failed");
    let problems = body["error"]["fields"].as_array().expect("fields");
    for p in problems {
        assert!(
            p["problem"].as_str().is_some_and(|s| !s.is_empty()),
            "{body}"
        );
    }
    let mut named: Vec<&str> = problems
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    named.sort_unstable();
    let mut want = fields.to_vec();
    want.sort_unstable();
    assert_eq!(named, want, "{body}");
}

/// Submits a lead with `phone` on the clinic's form; returns its id.
async fn new_lead(server: &Server, phone: &str) -> String {
    let (status, body) =
        post_form(server, "web", &[("name", "Test Patient"), ("phone", phone)]).await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Waits until the lead has an owner; returns the lead.
async fn owned(server: &Server, id: &str) -> Value {
    eventually(server, "the lead's owner", WAIT, || async {
        let lead = lead(server, id).await;
        lead["owner"].is_object().then_some(lead)
    })
    .await
}

/// Every lead `token` can list with `query`, page by page.
async fn list_all(server: &Server, token: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/leads?{query}&cursor={c}"),
            None => format!("/v1/leads?{query}"),
        };
        let (status, page) = staff_get(server, token, &path).await;
        assert_eq!(status, 200, "{page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

fn ids(items: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort_unstable();
    ids
}

fn timer_kinds(lead: &Value) -> Vec<String> {
    lead["timers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap().to_owned())
        .collect()
}

async fn move_stage(server: &Server, token: &str, id: &str, body: Value) -> (u16, Value) {
    staff_post(server, token, &format!("/v1/leads/{id}/stage"), body).await
}

/// Nothing was stored for either tenant: no lead, no message, no task.
async fn assert_nothing_stored(server: &Server) {
    for token in [TOKEN, OTHER_TOKEN] {
        for path in ["/v1/leads", "/v1/messages", "/v1/tasks"] {
            let (status, page) = staff_get(server, token, path).await;
            assert_eq!(status, 200, "{page}");
            assert_eq!(page["items"], json!([]), "{path}: {page}");
            assert!(page.get("next").is_none(), "{path}: {page}");
        }
    }
}

// 1. Not found.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_forms_and_routes_are_json_404s() {
    let server = quiet();
    let (status, body) = post_form(&server, "no-such-form", &[("phone", "0532 123 45 67")]).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) =
        post_json(&server, "no-such-form", json!({"phone": "0532 123 45 67"})).await;
    assert_error(status, &body, 404, "not_found");
    // The form is looked up before the origin: an unknown form is unknown to everyone.
    let a = post_raw(
        &server,
        "no-such-form",
        "application/json",
        r#"{"phone":"05321234567"}"#,
        Some(EVIL),
    )
    .await;
    assert_error(a.status, &a.body, 404, "not_found");
    let a = send(
        client()
            .request(
                reqwest::Method::OPTIONS,
                server.url("/v1/forms/no-such-form/leads"),
            )
            .header(header::ORIGIN, ALLOWED),
    )
    .await;
    assert_error(a.status, &a.body, 404, "not_found");

    for path in ["/nope", "/v1", "/v1/forms/web", "/v1/leads/x/y/z"] {
        let a = send(client().get(server.url(path)).bearer_auth(TOKEN)).await;
        assert_error(a.status, &a.body, 404, "not_found");
        assert!(
            a.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{path}: {:?}",
            a.headers
        );
    }
    // A lead or a task id that cannot exist is simply not found.
    for path in [
        "/v1/leads/01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "/v1/leads/not%20an%20id",
        "/v1/leads/%FF",
    ] {
        let (status, body) = staff_get(&server, TOKEN, path).await;
        assert_error(status, &body, 404, "not_found");
    }
    assert_nothing_stored(&server).await;
}

/// Every error answer is JSON, a wrong method on a known route included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_json_405() {
    let server = quiet();
    for (method, path) in [
        (reqwest::Method::GET, "/v1/forms/web/leads"),
        (reqwest::Method::DELETE, "/v1/leads"),
        (reqwest::Method::PUT, "/v1/tasks/x/done"),
    ] {
        let a = send(
            client()
                .request(method.clone(), server.url(path))
                .bearer_auth(TOKEN),
        )
        .await;
        assert_eq!(a.status, 405, "{method} {path}");
        assert!(
            a.header("allow").is_some(),
            "{method} {path}: {:?}",
            a.headers
        );
        assert!(
            a.body["error"]["code"].is_string() && a.body["error"]["message"].is_string(),
            "{method} {path}: not a JSON error: {:?}",
            a.text
        );
    }
}

// 2. Field screening and body parsing.

/// Form fields as name/value pairs.
type Fields<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_submission_is_refused_with_its_fields_named_and_nothing_is_stored() {
    let server = quiet();
    let long = "x".repeat(5001);
    let form_cases: Vec<(Fields, Vec<&str>)> = vec![
        (vec![("phone", "12")], vec!["phone"]),
        (vec![("phone", "0532 12")], vec!["phone"]),
        (vec![("email", "not-an-email")], vec!["email"]),
        (vec![("email", "a@")], vec!["email"]),
        (vec![("name", "Ayşe Kaya")], vec!["phone", "email"]),
        (
            vec![("phone", "   "), ("email", "")],
            vec!["phone", "email"],
        ),
        (
            vec![("phone", "0532 123 45 67"), ("branch", "hq")],
            vec!["branch"],
        ),
        (
            vec![("phone", "0532 123 45 67"), ("consent_marketing", "maybe")],
            vec!["consent_marketing"],
        ),
        (
            vec![("phone", "0532 123 45 67"), ("consent_privacy", "sure")],
            vec!["consent_privacy"],
        ),
        (
            vec![("phone", "0532 123 45 67"), ("message", &long)],
            vec!["message"],
        ),
        (
            vec![("email", "a@b.example"), ("language", "klingon!")],
            vec!["language"],
        ),
        // Several problems at once: each is named.
        (
            vec![
                ("phone", "12"),
                ("email", "nope"),
                ("consent_marketing", "maybe"),
            ],
            vec!["phone", "email", "consent_marketing"],
        ),
    ];
    for (fields, named) in &form_cases {
        let (status, body) = post_form(&server, "web", fields).await;
        assert_invalid(status, &body, named);
        // The same as JSON.
        let object: serde_json::Map<String, Value> = fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        let (status, body) = post_json(&server, "web", Value::Object(object)).await;
        assert_invalid(status, &body, named);
    }
    let (status, body) = post_form(&server, "web", &[("phone", "12"), ("message", &long)]).await;
    assert_invalid(status, &body, &["phone", "message"]);
    let problem = body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == "message")
        .unwrap()["problem"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(problem.contains("5000"), "{problem}");

    // JSON values that are not single values.
    let (status, body) = post_json(
        &server,
        "web",
        json!({"phone": ["0532 123 45 67"], "name": "Ayşe"}),
    )
    .await;
    assert_invalid(status, &body, &["phone"]);
    let (status, body) = post_json(
        &server,
        "web",
        json!({"phone": "0532 123 45 67", "utm_source": {"a": 1}, "service": []}),
    )
    .await;
    assert_invalid(status, &body, &["utm_source", "service"]);
    // A JSON body that is not an object.
    for not_an_object in [
        "[]",
        r#"["phone", "05321234567"]"#,
        r#""05321234567""#,
        "42",
        "null",
    ] {
        let a = post_raw(&server, "web", "application/json", not_an_object, None).await;
        assert_invalid(a.status, &a.body, &["body"]);
    }
    // Malformed JSON, and an empty JSON body.
    for malformed in [
        r#"{"phone": "0532"#,
        "{phone: 1}",
        "",
        "{\"phone\":\"05321234567\"} trailing",
    ] {
        let a = post_raw(&server, "web", "application/json", malformed, None).await;
        assert_error(a.status, &a.body, 400, "malformed_body");
    }
    // Neither form data nor JSON.
    for content_type in [
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=x",
    ] {
        let a = post_raw(&server, "web", content_type, "phone=05321234567", None).await;
        assert_error(a.status, &a.body, 415, "unsupported_media_type");
    }
    let a = send(
        client()
            .post(server.url("/v1/forms/web/leads"))
            .body("phone=05321234567"),
    )
    .await;
    assert_error(a.status, &a.body, 415, "unsupported_media_type");

    assert_nothing_stored(&server).await;

    // A content type with parameters or in capitals is still JSON.
    let a = post_raw(
        &server,
        "web",
        "Application/JSON; charset=utf-8",
        r#"{"phone":"0532 123 45 67","consent_marketing":true,"utm_content":7,"service":null}"#,
        None,
    )
    .await;
    assert_eq!(a.status, 202, "{}", a.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn length_limits_count_characters_not_bytes() {
    let server = quiet();
    // 5000 two-byte characters: 10000 bytes, within the limit.
    let message = "ş".repeat(5000);
    let (status, body) = post_json(
        &server,
        "web",
        json!({"phone": "0532 123 45 70", "message": message}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap();
    let lead = lead(&server, id).await;
    assert_eq!(lead["touches"][0]["message"], message.as_str());
    let (status, body) = post_json(
        &server,
        "web",
        json!({"phone": "0532 123 45 71", "name": "ş".repeat(201)}),
    )
    .await;
    assert_invalid(status, &body, &["name"]);
    let (_, list) = staff_get(&server, TOKEN, "/v1/leads").await;
    assert_eq!(ids(list["items"].as_array().unwrap()), [id]);
}

// 3. Body size.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_64_kib_is_413_and_nothing_is_stored() {
    let server = quiet();
    // Just over the limit, so that little of the body is left unread.
    let big = "x".repeat(65 * 1024);
    let json_body =
        serde_json::to_string(&json!({"phone": "0532 123 45 67", "message": big})).unwrap();
    let a = post_raw(&server, "web", "application/json", json_body, None).await;
    assert_error(a.status, &a.body, 413, "body_too_large");
    let form_body = format!("phone=05321234567&message={big}");
    let a = post_raw(
        &server,
        "web",
        "application/x-www-form-urlencoded",
        form_body,
        None,
    )
    .await;
    assert_error(a.status, &a.body, 413, "body_too_large");
    // Even for an allowed origin, which can read the answer.
    let a = post_raw(
        &server,
        "web",
        "application/json",
        serde_json::to_string(&json!({"email": "a@b.example", "referrer": big})).unwrap(),
        Some(ALLOWED),
    )
    .await;
    assert_error(a.status, &a.body, 413, "body_too_large");
    assert_eq!(a.header("access-control-allow-origin"), Some(ALLOWED));
    assert_nothing_stored(&server).await;

    // Staff requests have the same limit, and nothing is recorded.
    let id = new_lead(&server, "0532 123 45 67").await;
    let contact = serde_json::to_string(&json!({"kind": "call", "note": big})).unwrap();
    let a = staff_raw(
        &server,
        TOKEN,
        &format!("/v1/leads/{id}/contacts"),
        "application/json",
        contact,
    )
    .await;
    assert_error(a.status, &a.body, 413, "body_too_large");
    let lead = lead(&server, &id).await;
    assert_eq!(lead["stage"], "new");
    assert!(lead.get("first_contact_at").is_none(), "{lead}");
    assert!(
        lead["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["kind"] != "contact_recorded"),
        "{}",
        lead["history"]
    );
}

// 4. The honeypot.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filled_honeypot_is_answered_as_accepted_and_dropped() {
    let server = quiet();
    let (status, body) = post_form(
        &server,
        "web",
        &[
            ("name", "Bot"),
            ("phone", "0532 123 45 67"),
            ("website", "http://spam.example"),
        ],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "accepted");
    let spam_id = body["id"].as_str().unwrap().to_owned();
    assert!(!spam_id.is_empty());
    // Whatever else is in it, even invalid fields, and as JSON.
    let (status, body) = post_json(&server, "web", json!({"phone": "12", "website": "x"})).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = staff_get(&server, TOKEN, &format!("/v1/leads/{spam_id}")).await;
    assert_error(status, &body, 404, "not_found");
    assert_nothing_stored(&server).await;

    // An empty (or blank) honeypot is a person.
    let (status, body) = post_form(
        &server,
        "web",
        &[("phone", "0532 123 45 67"), ("website", "")],
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_ne!(id, spam_id);
    let (status, body) = post_json(
        &server,
        "web",
        json!({"email": "person@example.com", "website": "  "}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let second = body["id"].as_str().unwrap().to_owned();
    let listed = list_all(&server, TOKEN, "").await;
    let mut want = vec![id.clone(), second];
    want.sort_unstable();
    assert_eq!(ids(&listed), want);
    assert_eq!(lead(&server, &id).await["phone"], "+905321234567");
}

// 5. CORS.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_answers_only_its_allowed_origins() {
    let server = quiet();
    let preflight = |origin: Option<&'static str>| {
        let mut request = client()
            .request(reqwest::Method::OPTIONS, server.url("/v1/forms/web/leads"))
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        send(request)
    };
    let a = preflight(Some(ALLOWED)).await;
    assert_eq!(a.status, 204, "{}", a.text);
    assert_eq!(a.header("access-control-allow-origin"), Some(ALLOWED));
    let methods = a.header("access-control-allow-methods").unwrap();
    assert!(methods.split(',').any(|m| m.trim() == "POST"), "{methods}");
    assert!(
        a.header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase()
            .contains("content-type")
    );
    for origin in [Some(EVIL), Some("null"), None] {
        let a = preflight(origin).await;
        assert_error(a.status, &a.body, 403, "origin_not_allowed");
        assert_eq!(a.header("access-control-allow-origin"), None);
    }

    // A post from a page elsewhere is refused, and nothing is stored.
    let a = post_raw(
        &server,
        "web",
        "application/json",
        r#"{"phone":"0532 123 45 67"}"#,
        Some(EVIL),
    )
    .await;
    assert_error(a.status, &a.body, 403, "origin_not_allowed");
    assert_eq!(a.header("access-control-allow-origin"), None);
    let a = post_raw(
        &server,
        "web",
        "application/x-www-form-urlencoded",
        "phone=05321234567",
        Some(EVIL),
    )
    .await;
    assert_error(a.status, &a.body, 403, "origin_not_allowed");
    assert_nothing_stored(&server).await;

    // A refusal of the fields is readable by the allowed page.
    let a = post_raw(
        &server,
        "web",
        "application/json",
        r#"{"phone":"12"}"#,
        Some(ALLOWED),
    )
    .await;
    assert_invalid(a.status, &a.body, &["phone"]);
    assert_eq!(a.header("access-control-allow-origin"), Some(ALLOWED));
    let a = post_raw(&server, "web", "text/plain", "phone=1", Some(ALLOWED)).await;
    assert_error(a.status, &a.body, 415, "unsupported_media_type");
    assert_eq!(a.header("access-control-allow-origin"), Some(ALLOWED));

    // The allowed page posts.
    let a = post_raw(
        &server,
        "web",
        "application/json",
        r#"{"phone":"0532 123 45 67"}"#,
        Some(ALLOWED),
    )
    .await;
    assert_eq!(a.status, 202, "{}", a.text);
    assert_eq!(a.header("access-control-allow-origin"), Some(ALLOWED));
    let from_page = a.body["id"].as_str().unwrap().to_owned();

    // A server-to-server post has no origin, and needs none.
    let (status, body) = post_form(&server, "web", &[("email", "s2s@example.com")]).await;
    assert_eq!(status, 202, "{body}");
    let s2s = body["id"].as_str().unwrap().to_owned();
    let mut want = vec![from_page, s2s];
    want.sort_unstable();
    assert_eq!(ids(&list_all(&server, TOKEN, "").await), want);

    // A form without allowed origins takes no browser posts at all.
    let a = post_raw(
        &server,
        "other-web",
        "application/json",
        r#"{"phone":"030 1234567"}"#,
        Some(ALLOWED),
    )
    .await;
    assert_error(a.status, &a.body, 403, "origin_not_allowed");
}

// 6. Staff authentication and tenant isolation.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_need_a_token_and_see_only_their_own_clinic() {
    let server = quiet();
    let id = new_lead(&server, "0532 123 45 67").await;

    let lead_path = format!("/v1/leads/{id}");
    for path in ["/v1/leads", lead_path.as_str(), "/v1/messages", "/v1/tasks"] {
        let a = send(client().get(server.url(path))).await;
        assert_error(a.status, &a.body, 401, "unauthorized");
        assert_eq!(a.header("www-authenticate"), Some("Bearer"), "{path}");
        let basic = format!("Basic {TOKEN}");
        let longer = format!("Bearer {TOKEN}x");
        for auth in [
            "Bearer wrong-token",
            "Bearer ",
            TOKEN,
            basic.as_str(),
            longer.as_str(),
        ] {
            let a = send(
                client()
                    .get(server.url(path))
                    .header(header::AUTHORIZATION, auth),
            )
            .await;
            assert_error(a.status, &a.body, 401, "unauthorized");
            assert_eq!(a.header("www-authenticate"), Some("Bearer"), "{auth}");
        }
    }
    for path in [
        format!("/v1/leads/{id}/contacts"),
        format!("/v1/leads/{id}/stage"),
        "/v1/tasks/x/done".to_owned(),
    ] {
        let a = send(
            client()
                .post(server.url(&path))
                .json(&json!({"kind": "call", "stage": "contacted"})),
        )
        .await;
        assert_error(a.status, &a.body, 401, "unauthorized");
        let (status, body) = staff_post(
            &server,
            "wrong",
            &path,
            json!({"kind": "call", "stage": "contacted"}),
        )
        .await;
        assert_error(status, &body, 401, "unauthorized");
    }

    // The other clinic's token: the lead does not exist for it (404, not 403).
    let (status, body) = staff_get(&server, OTHER_TOKEN, &format!("/v1/leads/{id}")).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = staff_get(&server, OTHER_TOKEN, "/v1/leads").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], json!([]));
    let (status, body) = staff_post(
        &server,
        OTHER_TOKEN,
        &format!("/v1/leads/{id}/contacts"),
        json!({"kind": "call"}),
    )
    .await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = move_stage(
        &server,
        OTHER_TOKEN,
        &id,
        json!({"stage": "lost", "reason": "not ours"}),
    )
    .await;
    assert_error(status, &body, 404, "not_found");
    let lead = lead(&server, &id).await;
    assert_eq!(lead["stage"], "new", "{lead}");
    assert!(lead.get("first_contact_at").is_none(), "{lead}");

    // The other clinic's own lead is its own.
    let (status, body) = post_form(&server, "other-web", &[("phone", "030 1234567")]).await;
    assert_eq!(status, 202, "{body}");
    let theirs = body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        ids(&list_all(&server, OTHER_TOKEN, "").await),
        [theirs.as_str()]
    );
    assert_eq!(ids(&list_all(&server, TOKEN, "").await), [id.as_str()]);
    let (status, body) = staff_get(&server, TOKEN, &format!("/v1/leads/{theirs}")).await;
    assert_error(status, &body, 404, "not_found");

    // A cursor of one clinic is refused by the other, and garbage by both.
    new_lead(&server, "0532 123 45 68").await;
    new_lead(&server, "0532 123 45 69").await;
    let (status, page) = staff_get(&server, TOKEN, "/v1/leads?limit=1").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next"].as_str().unwrap().to_owned();
    let (status, page) = staff_get(
        &server,
        TOKEN,
        &format!("/v1/leads?limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    for path in ["/v1/leads", "/v1/messages", "/v1/tasks"] {
        let (status, body) =
            staff_get(&server, OTHER_TOKEN, &format!("{path}?cursor={cursor}")).await;
        assert_invalid(status, &body, &["cursor"]);
    }
    // Our own clinic's key, but shaped for a table query rather than the index one.
    let crafted = "eyJwayI6IlQjY2xpbmljI0xFQURTIiwic2siOiJ4In0"; // {"pk":"T#clinic#LEADS","sk":"x"}
    for garbage in [
        "garbage",
        "e30",
        "eyJwayI6MX0",
        "%00",
        "T%23clinic%23LEADS",
        crafted,
    ] {
        let (status, body) =
            staff_get(&server, TOKEN, &format!("/v1/leads?cursor={garbage}")).await;
        assert_invalid(status, &body, &["cursor"]);
        let (status, body) =
            staff_get(&server, OTHER_TOKEN, &format!("/v1/leads?cursor={garbage}")).await;
        assert_invalid(status, &body, &["cursor"]);
    }
}

// 7. Paging and filters.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_visits_every_lead_once_newest_first_and_filters_select() {
    let server = quiet();
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(new_lead(&server, &format!("0532 123 45 6{i}")).await);
    }

    let mut seen: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/leads?limit=2&cursor={c}"),
            None => "/v1/leads?limit=2".to_owned(),
        };
        let (status, page) = staff_get(&server, TOKEN, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        seen.extend(items.iter().cloned());
        pages += 1;
        assert!(pages <= 5, "paging does not end");
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(items.len(), 2, "a page before the last is full");
                cursor = Some(next.to_owned());
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let order: Vec<&str> = seen.iter().map(|l| l["id"].as_str().unwrap()).collect();
    let newest_first: Vec<&str> = created.iter().rev().map(String::as_str).collect();
    assert_eq!(order, newest_first, "every lead once, newest first");
    let times: Vec<jiff::Timestamp> = seen
        .iter()
        .map(|l| l["created_at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    // The default page holds them all, without a next.
    let (_, page) = staff_get(&server, TOKEN, "/v1/leads").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert!(page.get("next").is_none(), "{page}");
    let (_, page) = staff_get(&server, TOKEN, "/v1/leads?limit=200").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 5);

    for bad in ["0", "201", "abc", "-1", "", "1.5"] {
        let (status, body) = staff_get(&server, TOKEN, &format!("/v1/leads?limit={bad}")).await;
        assert_invalid(status, &body, &["limit"]);
    }
    for path in ["/v1/messages?limit=0", "/v1/tasks?limit=201"] {
        let (status, body) = staff_get(&server, TOKEN, path).await;
        assert_invalid(status, &body, &["limit"]);
    }

    // Filters.
    let mut owners = std::collections::BTreeMap::<String, Vec<String>>::new();
    for id in &created {
        let lead = owned(&server, id).await;
        owners
            .entry(lead["owner"]["consultant"].as_str().unwrap().to_owned())
            .or_default()
            .push(id.clone());
    }
    for consultant in ["ayse", "can"] {
        let mut want = owners.get(consultant).cloned().unwrap_or_default();
        want.sort_unstable();
        let listed = list_all(&server, TOKEN, &format!("owner={consultant}")).await;
        assert_eq!(ids(&listed), want, "owner={consultant}");
        assert!(
            listed
                .iter()
                .all(|l| l["owner"]["consultant"] == consultant)
        );
        let paged = list_all(&server, TOKEN, &format!("owner={consultant}&limit=1")).await;
        assert_eq!(ids(&paged), want, "owner={consultant}, one by one");
    }
    let (_, none) = staff_get(&server, TOKEN, "/v1/leads?owner=hans").await;
    assert_eq!(none["items"], json!([]));

    let contacted = &created[2];
    let (status, body) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/leads/{contacted}/contacts"),
        json!({"kind": "call"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stage"], "contacted");
    let listed = list_all(&server, TOKEN, "stage=contacted").await;
    assert_eq!(ids(&listed), [contacted.as_str()]);
    let mut rest: Vec<String> = created
        .iter()
        .filter(|i| *i != contacted)
        .cloned()
        .collect();
    rest.sort_unstable();
    assert_eq!(ids(&list_all(&server, TOKEN, "stage=new").await), rest);
    assert_eq!(
        ids(&list_all(&server, TOKEN, "stage=new&limit=1").await),
        rest
    );
    assert!(list_all(&server, TOKEN, "stage=lost").await.is_empty());
    let mut all = created.clone();
    all.sort_unstable();
    assert_eq!(ids(&list_all(&server, TOKEN, "branch=main").await), all);
    assert!(list_all(&server, TOKEN, "branch=hq").await.is_empty());
    let owner = lead(&server, contacted).await["owner"]["consultant"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ids(&list_all(
            &server,
            TOKEN,
            &format!("stage=contacted&owner={owner}&branch=main")
        )
        .await),
        [contacted.as_str()]
    );

    let (status, body) = staff_get(&server, TOKEN, "/v1/leads?stage=bogus").await;
    assert_invalid(status, &body, &["stage"]);
    let (status, body) = staff_get(
        &server,
        TOKEN,
        "/v1/leads?stage=bogus&limit=0&owner=Not%20An%20Id",
    )
    .await;
    assert_invalid(status, &body, &["stage", "limit", "owner"]);
}

// 8. Stage moves.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_a_new_lead_stops_the_sla_and_the_pipeline_does_not_run_backwards() {
    let server = quiet();
    let id = new_lead(&server, "0532 123 45 67").await;
    let before = owned(&server, &id).await;
    let kinds = timer_kinds(&before);
    assert!(
        kinds.iter().any(|k| k == "sla_warn") && kinds.iter().any(|k| k == "sla_reassign"),
        "{kinds:?}"
    );
    assert!(before.get("first_contact_at").is_none(), "{before}");

    let (status, body) =
        move_stage(&server, TOKEN, &id, json!({"stage": "appointment_booked"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stage"], "appointment_booked");
    assert!(body["first_contact_at"].is_string(), "{body}");
    let after = lead(&server, &id).await;
    assert_eq!(after["stage"], "appointment_booked");
    assert!(after["first_contact_at"].is_string(), "{after}");
    let kinds = timer_kinds(&after);
    assert!(
        !kinds.iter().any(|k| k == "sla_warn" || k == "sla_reassign"),
        "{kinds:?}"
    );
    assert_eq!(
        after["stage_history"],
        json!([{"at": after["stage_history"][0]["at"], "from": "new", "to": "appointment_booked"}])
    );

    // Backwards, and to the same stage: a conflict, and nothing changes.
    for stage in [
        "new",
        "appointment_booked",
        "contacted",
        "info_given",
        "follow_up",
    ] {
        let (status, body) = move_stage(&server, TOKEN, &id, json!({"stage": stage})).await;
        assert_error(status, &body, 409, "conflict");
    }
    let unchanged = lead(&server, &id).await;
    assert_eq!(unchanged["stage"], "appointment_booked");
    assert_eq!(unchanged["stage_history"].as_array().unwrap().len(), 1);

    // Request validation.
    let (status, body) = move_stage(&server, TOKEN, &id, json!({"stage": "lost"})).await;
    assert_invalid(status, &body, &["reason"]);
    let (status, body) = move_stage(
        &server,
        TOKEN,
        &id,
        json!({"stage": "lost", "reason": "   "}),
    )
    .await;
    assert_invalid(status, &body, &["reason"]);
    let (status, body) = move_stage(
        &server,
        TOKEN,
        &id,
        json!({"stage": "lost", "reason": "x".repeat(501)}),
    )
    .await;
    assert_invalid(status, &body, &["reason"]);
    let (status, body) = move_stage(&server, TOKEN, &id, json!({"stage": "won"})).await;
    assert_invalid(status, &body, &["stage"]);
    let (status, body) = move_stage(&server, TOKEN, &id, json!({"stage": 5})).await;
    assert_invalid(status, &body, &["stage"]);
    let (status, body) = move_stage(
        &server,
        TOKEN,
        &id,
        json!({"stage": "arrived", "note": "walked in"}),
    )
    .await;
    assert_invalid(status, &body, &["note"]);
    let path = format!("/v1/leads/{id}/stage");
    let a = staff_raw(
        &server,
        TOKEN,
        &path,
        "text/plain",
        r#"{"stage":"arrived"}"#,
    )
    .await;
    assert_error(a.status, &a.body, 415, "unsupported_media_type");
    let a = staff_raw(
        &server,
        TOKEN,
        &path,
        "application/x-www-form-urlencoded",
        "stage=arrived",
    )
    .await;
    assert_error(a.status, &a.body, 415, "unsupported_media_type");
    let a = staff_raw(&server, TOKEN, &path, "application/json", r#"{"stage":"#).await;
    assert_error(a.status, &a.body, 400, "malformed_body");
    let (status, body) = move_stage(
        &server,
        TOKEN,
        "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        json!({"stage": "contacted"}),
    )
    .await;
    assert_error(status, &body, 404, "not_found");
    let unchanged = lead(&server, &id).await;
    assert_eq!(unchanged["stage"], "appointment_booked");
    assert_eq!(unchanged["stage_history"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lead_frees_the_patient_who_comes_back_to_the_same_consultant() {
    let server = quiet();
    let first = new_lead(&server, "0532 123 45 67").await;
    let owner = owned(&server, &first).await["owner"]["consultant"]
        .as_str()
        .unwrap()
        .to_owned();
    // Other patients in between: by fewest open leads and round-robin,
    // the next new patient would go to the other consultant.
    for phone in ["0532 765 43 21", "0532 765 43 22"] {
        let other = new_lead(&server, phone).await;
        owned(&server, &other).await;
    }

    let (status, body) = move_stage(
        &server,
        TOKEN,
        &first,
        json!({"stage": "lost", "reason": "price too high"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stage"], "lost");
    assert_eq!(body["lost_reason"], "price too high");
    let lost = lead(&server, &first).await;
    assert_eq!(lost["lost_reason"], "price too high");
    assert_eq!(lost["stage_history"][0]["reason"], "price too high");
    let kinds = timer_kinds(&lost);
    assert!(
        !kinds.iter().any(|k| k == "sla_warn" || k == "sla_reassign"),
        "{kinds:?}"
    );
    // Lost is final.
    for stage in ["new", "contacted", "follow_up", "arrived"] {
        let (status, body) = move_stage(&server, TOKEN, &first, json!({"stage": stage})).await;
        assert_error(status, &body, 409, "conflict");
    }

    // The same patient again, typed differently: a new lead, back to the same consultant.
    let (status, body) = post_json(&server, "web", json!({"phone": "+90 532 123 4567"})).await;
    assert_eq!(status, 202, "{body}");
    let second = body["id"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    let returning = owned(&server, &second).await;
    assert_eq!(
        returning["owner"]["consultant"],
        owner.as_str(),
        "{returning}"
    );
    assert_eq!(returning["owner"]["rule"], "returning_patient");
    assert_eq!(returning["stage"], "new");
    // The old lead is untouched by the new submission.
    let old = lead(&server, &first).await;
    assert_eq!(old["touches"].as_array().unwrap().len(), 1);
    assert_eq!(old["stage"], "lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arrived_lead_reopens_only_when_the_patient_has_no_other_open_lead() {
    let server = quiet();
    let first = new_lead(&server, "0532 123 45 67").await;
    owned(&server, &first).await;
    for stage in ["appointment_booked", "arrived"] {
        let (status, body) = move_stage(&server, TOKEN, &first, json!({"stage": stage})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["stage"], stage);
    }
    // Arrived is closed: the patient's next submission opens a new lead.
    let second = new_lead(&server, "0532 123 45 67").await;
    assert_ne!(second, first);
    let (status, body) = move_stage(&server, TOKEN, &first, json!({"stage": "follow_up"})).await;
    assert_error(status, &body, 409, "conflict");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(&second),
        "{body}"
    );
    assert_eq!(lead(&server, &first).await["stage"], "arrived");
    // A repeat submission still goes to the open lead.
    assert_eq!(new_lead(&server, "05321234567").await, second);

    // Once the other lead is closed, the arrived one may go on to follow-up,
    // and it takes the patient's submissions again.
    let (status, body) = move_stage(
        &server,
        TOKEN,
        &second,
        json!({"stage": "lost", "reason": "duplicate"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = move_stage(&server, TOKEN, &first, json!({"stage": "follow_up"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stage"], "follow_up");
    assert_eq!(new_lead(&server, "0532 123 45 67").await, first);
    let reopened = lead(&server, &first).await;
    assert_eq!(reopened["touches"].as_array().unwrap().len(), 2);
    let stages: Vec<(&str, &str)> = reopened["stage_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["from"].as_str().unwrap(), s["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        stages,
        [
            ("new", "appointment_booked"),
            ("appointment_booked", "arrived"),
            ("arrived", "follow_up"),
        ]
    );
}

// 9. Contacts.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_requests_are_validated_and_refusals_record_nothing() {
    let server = quiet();
    let id = new_lead(&server, "0532 123 45 67").await;
    let path = format!("/v1/leads/{id}/contacts");
    let cases = [
        (json!({"kind": "walk-in"}), "kind"),
        (json!({"kind": "CALL"}), "kind"),
        (json!({"kind": ""}), "kind"),
        (json!({"kind": "call", "by": "nobody"}), "by"),
        (json!({"kind": "call", "by": "hans"}), "by"),
        (json!({"kind": "call", "by": "Not An Id!"}), "by"),
        (json!({"kind": "note", "note": "x".repeat(5001)}), "note"),
        (json!({"kind": "call", "channel": "phone"}), "channel"),
        (json!({"kind": 1}), "kind"),
        (json!({"kind": "call", "by": ["ayse"]}), "by"),
    ];
    for (request, field) in cases {
        let (status, body) = staff_post(&server, TOKEN, &path, request.clone()).await;
        assert_invalid(status, &body, &[field]);
    }
    let (status, body) = staff_post(&server, TOKEN, &path, json!({})).await;
    assert_error(status, &body, 422, "validation_failed");
    let a = staff_raw(&server, TOKEN, &path, "text/plain", r#"{"kind":"call"}"#).await;
    assert_error(a.status, &a.body, 415, "unsupported_media_type");
    let a = staff_raw(&server, TOKEN, &path, "application/json", "{kind: call}").await;
    assert_error(a.status, &a.body, 400, "malformed_body");
    let (status, body) = staff_post(
        &server,
        TOKEN,
        "/v1/leads/01ARZ3NDEKTSV4RRFFQ69G5FAV/contacts",
        json!({"kind": "call"}),
    )
    .await;
    assert_error(status, &body, 404, "not_found");

    let untouched = lead(&server, &id).await;
    assert_eq!(untouched["stage"], "new");
    assert!(untouched.get("first_contact_at").is_none(), "{untouched}");
    assert!(
        untouched["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|h| h["kind"] != "contact_recorded")
    );

    // A valid one, at the limit.
    let note = "ş".repeat(5000);
    let (status, body) = staff_post(
        &server,
        TOKEN,
        &path,
        json!({"kind": "note", "by": "can", "note": note}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stage"], "contacted");
    assert!(body["first_contact_at"].is_string());
    let contacted = lead(&server, &id).await;
    let recorded: Vec<&Value> = contacted["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["kind"] == "contact_recorded")
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["details"]["by"], "can");
    assert_eq!(recorded[0]["details"]["contact"], "note");
    assert_eq!(recorded[0]["details"]["note"], note.as_str());
}

// 10. Tasks.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_task_is_marked_done_once_and_stays_done() {
    let server = start("1s", "1h");
    let (status, body) = post_json(&server, "web", json!({"email": "late@example.com"})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let task = eventually(&server, "the SLA task", WAIT, || async {
        let (status, tasks) = staff_get(&server, TOKEN, "/v1/tasks?status=open").await;
        assert_eq!(status, 200, "{tasks}");
        tasks["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["lead"] == id.as_str() && t["kind"] == "sla_breach")
            .cloned()
    })
    .await;
    let task_id = task["id"].as_str().unwrap().to_owned();
    assert!(task.get("done_at").is_none(), "{task}");
    assert_eq!(task["assignee"], "manager");

    // Not the other clinic's to close.
    let (status, body) = staff_post(
        &server,
        OTHER_TOKEN,
        &format!("/v1/tasks/{task_id}/done"),
        json!({}),
    )
    .await;
    assert_error(status, &body, 404, "not_found");
    let (_, theirs) = staff_get(&server, OTHER_TOKEN, "/v1/tasks").await;
    assert_eq!(theirs["items"], json!([]));

    let (status, done) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/tasks/{task_id}/done"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["id"], task_id.as_str());
    let done_at = done["done_at"].as_str().unwrap().to_owned();
    let (_, open) = staff_get(&server, TOKEN, "/v1/tasks?status=open").await;
    assert!(
        open["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["id"] != task_id.as_str()),
        "{open}"
    );
    for path in ["/v1/tasks", "/v1/tasks?status=all"] {
        let (_, all) = staff_get(&server, TOKEN, path).await;
        let listed = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == task_id.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{path}: {all}"));
        assert_eq!(listed["done_at"], done_at.as_str());
    }
    assert_eq!(
        lead(&server, &id).await["tasks"][0]["done_at"],
        done_at.as_str()
    );
    // Done again is still done, at the first time.
    let (status, again) = staff_post(
        &server,
        TOKEN,
        &format!("/v1/tasks/{task_id}/done"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["done_at"], done_at.as_str());

    for unknown in ["nope", "sla_breach.01ARZ3NDEKTSV4RRFFQ69G5FAV.0", "a%20b"] {
        let (status, body) = staff_post(
            &server,
            TOKEN,
            &format!("/v1/tasks/{unknown}/done"),
            json!({}),
        )
        .await;
        assert_error(status, &body, 404, "not_found");
    }
    let (status, body) = staff_get(&server, TOKEN, "/v1/tasks?status=bogus").await;
    assert_invalid(status, &body, &["status"]);
}

// 11. The message ledger.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_ledger_filters_by_status() {
    let server = quiet();
    let first = new_lead(&server, "0532 123 45 67").await;
    let (status, body) = post_json(&server, "web", json!({"email": "p@example.com"})).await;
    assert_eq!(status, 202, "{body}");
    let second = body["id"].as_str().unwrap().to_owned();
    let all = eventually(&server, "both greetings sent", WAIT, || async {
        let (status, page) = staff_get(&server, TOKEN, "/v1/messages").await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap().clone();
        (items.len() == 2 && items.iter().all(|m| m["status"] == "sent")).then_some(items)
    })
    .await;
    let mut leads: Vec<String> = all
        .iter()
        .map(|m| m["lead"].as_str().unwrap().to_owned())
        .collect();
    leads.sort_unstable();
    let mut want = vec![first, second];
    want.sort_unstable();
    assert_eq!(leads, want);

    let (status, sent) = staff_get(&server, TOKEN, "/v1/messages?status=sent").await;
    assert_eq!(status, 200, "{sent}");
    let sent = sent["items"].as_array().unwrap();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|m| m["status"] == "sent"));
    let (_, one) = staff_get(&server, TOKEN, "/v1/messages?status=sent&limit=1").await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    assert!(one["next"].is_string(), "{one}");
    for other in ["queued", "sending", "delivered", "read", "failed"] {
        let (status, page) =
            staff_get(&server, TOKEN, &format!("/v1/messages?status={other}")).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["items"], json!([]), "status={other}");
    }
    let (_, theirs) = staff_get(&server, OTHER_TOKEN, "/v1/messages?status=sent").await;
    assert_eq!(theirs["items"], json!([]));
    for bad in ["bogus", "SENT", ""] {
        let (status, body) = staff_get(&server, TOKEN, &format!("/v1/messages?status={bad}")).await;
        assert_invalid(status, &body, &["status"]);
    }
}

// Product bugs found while writing these tests: ignored until fixed.

/// A lead worked before the assignment worker reached it keeps its SLA
/// stopped: the assignment must not arm SLA timers for a contacted lead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_moved_before_its_assignment_gets_no_sla_timers() {
    let server = quiet();
    let moves = (0..30).map(|i| {
        let server = &server;
        async move {
            let id = new_lead(server, &format!("0532 300 00 {i:02}")).await;
            let (status, body) =
                move_stage(server, TOKEN, &id, json!({"stage": "appointment_booked"})).await;
            assert_eq!(status, 200, "{body}");
            id
        }
    });
    let ids = futures_util::future::join_all(moves).await;
    for id in &ids {
        let lead = owned(&server, id).await;
        let kinds = timer_kinds(&lead);
        assert!(
            !kinds.iter().any(|k| k == "sla_warn" || k == "sla_reassign"),
            "{id}: {kinds:?}; history {}",
            lead["history"]
        );
    }
}

/// JSON `false` is an unticked box: a `"website": false` honeypot is a
/// person, and `false` consent is no consent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_false_reads_as_an_unticked_box() {
    let server = quiet();
    let (status, body) = post_json(
        &server,
        "web",
        json!({"phone": "0532 444 55 66", "website": false, "consent_marketing": false}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let lead = lead(&server, body["id"].as_str().unwrap()).await;
    assert_eq!(lead["touches"][0]["consent_marketing"], false);
}

/// A staff request missing a required field names that field; an array is not an object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_requests_name_the_missing_field() {
    let server = quiet();
    let id = new_lead(&server, "0532 444 55 67").await;
    let path = format!("/v1/leads/{id}/stage");
    let a = staff_raw(&server, TOKEN, &path, "application/json", "{}").await;
    assert_invalid(a.status, &a.body, &["stage"]);
    let a = staff_raw(
        &server,
        TOKEN,
        &path,
        "application/json",
        r#"["lost", "price"]"#,
    )
    .await;
    assert_invalid(a.status, &a.body, &["body"]);
    let a = staff_raw(
        &server,
        TOKEN,
        &format!("/v1/leads/{id}/contacts"),
        "application/json",
        "{}",
    )
    .await;
    assert_invalid(a.status, &a.body, &["kind"]);
}
