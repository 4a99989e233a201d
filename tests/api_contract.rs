//! The OpenAPI document is the server's exact contract. A seeded fuzzer
//! reads `/openapi.json` from the running binary and sends every operation
//! requests generated from its schemas (path, query, headers, body), some
//! within the schema and some deliberately outside it (wrong types, empty
//! strings, bodies that are not JSON, another content type, no token). It
//! fails on any 5xx, any status the operation does not document, and any
//! JSON error body not in the error shape.
//!
//! `FUZZ_SEED` replays a run (the seed is printed); `FUZZ_REQUESTS` sets
//! the requests per operation.

mod common;

use std::collections::BTreeMap;

use common::{Server, TOKEN, client, config, post_form};
use serde_json::{Map, Value, json};

const DEFAULT_SEED: u64 = 0x5EED_C11F;
const DEFAULT_REQUESTS: usize = 24;

struct Fuzzer<'a> {
    doc: &'a Value,
    rng: fastrand::Rng,
    /// Values that name real things, by path parameter name.
    known: BTreeMap<&'static str, Vec<String>>,
}

impl Fuzzer<'_> {
    fn resolve<'v>(&'v self, schema: &'v Value) -> &'v Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference.trim_start_matches("#/components/schemas/");
                &self.doc["components"]["schemas"][name]
            }
            None => schema,
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.f64() < p
    }

    fn string(&mut self) -> String {
        let samples = [
            String::new(),
            " ".into(),
            "a".into(),
            "ayse".into(),
            "main".into(),
            "new".into(),
            "0".into(),
            "-1".into(),
            "9999999999999999999999".into(),
            "2026-12-01".into(),
            "2026-12-01T10:00:00Z".into(),
            "10:30".into(),
            "+90 532 123 45 67".into(),
            "ayşe@example.com".into(),
            "Ğüşıöç ✓ 😀".into(),
            "<script>alert(1)</script>".into(),
            "'; DROP TABLE leads; --".into(),
            "../../etc/passwd".into(),
            "%00%ff".into(),
            "x".repeat(300),
        ];
        match self.rng.usize(..samples.len() + 4) {
            i if i < samples.len() => samples[i].clone(),
            _ => (0..self.rng.usize(1..24))
                .map(|_| self.rng.alphanumeric())
                .collect(),
        }
    }

    /// A value for `schema`; with `wild`, sometimes one outside it.
    fn value(&mut self, schema: &Value, depth: usize, wild: bool) -> Value {
        if wild && self.chance(0.08) {
            return self.anything(depth);
        }
        let schema = self.resolve(schema).clone();
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array)
                && !options.is_empty()
            {
                let pick = options[self.rng.usize(..options.len())].clone();
                return self.value(&pick, depth, wild);
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            for part in all.clone() {
                if let Value::Object(o) = self.value(&part, depth, wild) {
                    merged.extend(o);
                }
            }
            return Value::Object(merged);
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.is_empty()
        {
            return options[self.rng.usize(..options.len())].clone();
        }
        let kinds: Vec<String> = match &schema["type"] {
            Value::String(t) => vec![t.clone()],
            Value::Array(ts) => ts
                .iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect(),
            _ if schema.get("properties").is_some() => vec!["object".into()],
            _ => vec![],
        };
        if kinds.is_empty() {
            return self.anything(depth);
        }
        let kind = kinds[self.rng.usize(..kinds.len())].clone();
        match kind.as_str() {
            "null" => Value::Null,
            "boolean" => Value::Bool(self.rng.bool()),
            "integer" => {
                let min = schema["minimum"].as_i64().unwrap_or(-5);
                let max = schema["maximum"].as_i64().unwrap_or(1_000);
                match self.rng.u8(..10) {
                    0 if wild => json!(i64::MAX),
                    1 if wild => json!(-1),
                    _ => json!(self.rng.i64(min..=max.max(min))),
                }
            }
            "number" => json!(self.rng.f64() * 1000.0),
            "array" => {
                let items = schema.get("items").cloned().unwrap_or(Value::Null);
                let n = if depth > 3 { 0 } else { self.rng.usize(..3) };
                Value::Array(
                    (0..n)
                        .map(|_| self.value(&items, depth + 1, wild))
                        .collect(),
                )
            }
            "object" => {
                let mut object = Map::new();
                let required: Vec<String> = schema["required"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(properties) = schema["properties"].as_object() {
                    for (name, property) in properties {
                        let wanted = required.contains(name) || self.chance(0.5);
                        let dropped = wild && required.contains(name) && self.chance(0.05);
                        if wanted && !dropped && depth < 6 {
                            object.insert(name.clone(), self.value(property, depth + 1, wild));
                        }
                    }
                }
                if wild && self.chance(0.05) {
                    object.insert("unexpected".into(), json!("field"));
                }
                Value::Object(object)
            }
            _ => {
                let format = schema["format"].as_str().unwrap_or_default();
                match format {
                    "date-time" if !wild || self.chance(0.7) => json!("2026-12-03T09:30:00Z"),
                    "date" if !wild || self.chance(0.7) => json!("2026-12-03"),
                    _ => Value::String(self.string()),
                }
            }
        }
    }

    fn anything(&mut self, depth: usize) -> Value {
        match self.rng.u8(..6) {
            0 => Value::Null,
            1 => json!(self.rng.bool()),
            2 => json!(self.rng.i64(-100..100_000)),
            3 if depth < 3 => json!([self.string()]),
            4 if depth < 3 => json!({ "x": self.string() }),
            _ => Value::String(self.string()),
        }
    }

    fn path_value(&mut self, name: &str) -> String {
        if let Some(values) = self.known.get(name).cloned()
            && !values.is_empty()
            && self.chance(0.7)
        {
            return values[self.rng.usize(..values.len())].clone();
        }
        let raw = self.string();
        if raw.trim().is_empty() {
            "nothing".into()
        } else {
            raw
        }
    }
}

/// `application/x-www-form-urlencoded` of an object's scalar fields.
fn form_encoded(value: &Value) -> String {
    let pairs: Vec<(String, String)> = value
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

fn encode_segment(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `value` is what `schema` describes: types, required and known
/// properties, items, enums, alternatives. `Err` names the first place it
/// is not.
fn conforms(doc: &Value, value: &Value, schema: &Value, at: &str) -> Result<(), String> {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            &doc["components"]["schemas"][reference.trim_start_matches("#/components/schemas/")]
        }
        None => schema,
    };
    for key in ["oneOf", "anyOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            return if options.iter().any(|o| conforms(doc, value, o, at).is_ok()) {
                Ok(())
            } else {
                Err(format!("{at}: matches none of its {key}"))
            };
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for part in all {
            conforms(doc, value, part, at)?;
        }
        return Ok(());
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {options:?}"));
    }
    let kinds: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let fits = kinds.iter().any(|kind| match *kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    });
    if !fits {
        return Err(format!("{at}: {value:.80} is not {kinds:?}"));
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object())
    {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}.{name}: missing"));
            }
        }
        for (name, property) in properties {
            if let Some(v) = object.get(name) {
                conforms(doc, v, property, &format!("{at}.{name}"))?;
            }
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            conforms(doc, item, schema, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// What is wrong with an answer, if anything: a 5xx, a status the
/// operation does not document, or a body unlike the one it documents.
fn problem(
    doc: &Value,
    operation: &Value,
    status: u16,
    content_type: &str,
    body: &str,
) -> Option<String> {
    if status >= 500 {
        return Some(format!("answered {status}"));
    }
    let responses = &operation["responses"];
    let Some(documented) = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
    else {
        return Some(format!("answered {status}, which it does not document"));
    };
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let content = documented["content"].as_object()?;
    if body.is_empty() && status < 400 {
        return None;
    }
    let Some(schema) = content.get(essence).map(|c| &c["schema"]) else {
        return Some(format!(
            "answered {status} as `{essence}`, documented as {:?}",
            content.keys().collect::<Vec<_>>()
        ));
    };
    if !essence.ends_with("json") {
        return None;
    }
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        return Some(format!(
            "answered {status} with a body that is not JSON: {body:.200}"
        ));
    };
    conforms(doc, &json, schema, "body")
        .err()
        .map(|e| format!("answered {status} unlike its documented body ({e}): {body:.200}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_of_every_operation_is_documented() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let per_operation = std::env::var("FUZZ_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_REQUESTS);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &config(&dir.path().join("data"), "1h", "2h"));
    // Real things for the paths to name: a lead, and the tenant.
    let (status, created) = post_form(
        &server,
        "web",
        &[("name", "Ayşe"), ("phone", "0532 123 45 67")],
    )
    .await;
    assert_eq!(status, 202, "{created}");
    let lead = created["id"].as_str().unwrap().to_owned();
    let http = client();
    let staff_post = |path: &str| {
        http.post(server.url(path))
            .bearer_auth(TOKEN)
            .header("content-type", "application/json")
            .body("{}")
            .send()
    };
    // The dental preset: rules and pipelines to name.
    let preset: Value = staff_post("/v1/automations/presets/dental")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let rules = names(&preset["rules_created"]);
    let pipelines = names(&preset["pipelines"]);
    assert!(!rules.is_empty(), "{preset}");
    // The lead's greeting and task, once assigned.
    let detail = common::eventually(
        &server,
        "the greeting",
        std::time::Duration::from_secs(30),
        || async {
            let lead = common::lead(&server, &lead).await;
            (!lead["messages"].as_array()?.is_empty()).then_some(lead)
        },
    )
    .await;
    let message = detail["messages"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let doc: Value = http
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut fuzzer = Fuzzer {
        doc: &doc,
        rng: fastrand::Rng::with_seed(seed),
        known: BTreeMap::from([
            ("lead_id", vec![lead]),
            ("rule_id", rules),
            ("pipeline_id", pipelines),
            ("message_id", vec![message]),
            ("version", vec!["1".to_owned()]),
            ("tenant", vec!["clinic".to_owned()]),
            ("form_id", vec!["web".to_owned()]),
            ("name", vec!["dental".to_owned()]),
        ]),
    };
    // The first failing answer of each (operation, status).
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut sent = 0;
    let paths = doc["paths"].as_object().unwrap().clone();
    for (template, item) in &paths {
        for method in ["get", "put", "post", "delete", "options"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| !s.is_empty());
            for _ in 0..per_operation {
                let wild = fuzzer.chance(0.5);
                let mut path = template.clone();
                let mut query = Vec::new();
                let mut headers = Vec::new();
                for parameter in &parameters {
                    let name = parameter["name"].as_str().unwrap_or_default();
                    let schema = parameter["schema"].clone();
                    match parameter["in"].as_str() {
                        Some("path") => {
                            let value = fuzzer.path_value(name);
                            path = path.replace(&format!("{{{name}}}"), &encode_segment(&value));
                        }
                        Some("query") if fuzzer.chance(0.5) => {
                            let value = match fuzzer.value(&schema, 0, wild) {
                                Value::String(s) => s,
                                Value::Null => String::new(),
                                other => other.to_string(),
                            };
                            query.push((name.to_owned(), value));
                        }
                        Some("header") if fuzzer.chance(0.5) => {
                            headers.push((name.to_owned(), fuzzer.string()));
                        }
                        _ => {}
                    }
                }
                let mut url = server.url(&path);
                if !query.is_empty() {
                    url = format!("{url}?{}", serde_urlencoded::to_string(&query).unwrap());
                }
                let mut request = http.request(method.to_uppercase().parse().unwrap(), url);
                for (name, value) in headers {
                    if let Ok(value) = reqwest::header::HeaderValue::from_str(&value) {
                        request = request.header(name, value);
                    }
                }
                if secured {
                    request = match fuzzer.rng.u8(..10) {
                        0 => request,
                        1 => request.bearer_auth("not-a-token"),
                        _ => request.bearer_auth(TOKEN),
                    };
                }
                if let Some(content) = operation["requestBody"]["content"].as_object() {
                    let types: Vec<&String> = content.keys().collect();
                    let content_type = types[fuzzer.rng.usize(..types.len())].clone();
                    let schema = content[&content_type]["schema"].clone();
                    let value = fuzzer.value(&schema, 0, wild);
                    let (content_type, body) = match fuzzer.rng.u8(..20) {
                        0 if wild => ("text/plain".to_owned(), "hello".to_owned()),
                        1 if wild => (content_type, "{not json".to_owned()),
                        2 if wild => (content_type, String::new()),
                        _ if content_type.contains("x-www-form-urlencoded") => {
                            (content_type, form_encoded(&value))
                        }
                        _ => (content_type, value.to_string()),
                    };
                    request = request.header("content-type", content_type).body(body);
                }
                let description = format!("{} {path}", method.to_uppercase());
                let response = request.send().await.unwrap();
                sent += 1;
                let status = response.status().as_u16();
                *statuses.entry(status).or_default() += 1;
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = response.text().await.unwrap_or_default();
                if let Some(problem) = problem(&doc, operation, status, &content_type, &body) {
                    let kind = format!("{} {template} {status}", method.to_uppercase());
                    failures
                        .entry(kind)
                        .or_insert_with(|| format!("{description} (query {query:?}): {problem}"));
                }
            }
        }
    }
    println!("FUZZ_SEED={seed}: {sent} requests, answers by status: {statuses:?}");
    assert!(sent > 500, "only {sent} requests");
    // The generated requests reach the handlers, not only their guards.
    let handled: usize = statuses.range(200..300).map(|(_, n)| n).sum();
    assert!(
        handled * 10 >= sent,
        "only {handled} of {sent} answers were 2xx: {statuses:?}"
    );
    assert!(
        failures.is_empty(),
        "FUZZ_SEED={seed}: {} operations and statuses of {sent} answers break the contract:\n{}",
        failures.len(),
        failures.values().cloned().collect::<Vec<_>>().join("\n")
    );
}
