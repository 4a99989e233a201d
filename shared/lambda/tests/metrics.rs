//! The product's metrics on AWS: a lead through the functions' handlers
//! against the emulator leaves Embedded Metric Format documents that
//! CloudWatch reads as metrics in the `Clinicflow` namespace, with the
//! dimensions the dashboard and alarms expect, and no patient data.
//! (Its own test binary: the recorder is global to the process.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use clinicflow_lambda::handlers;
use common::{Aws, monday, post_form};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_leaves_its_metrics_in_embedded_metric_format() {
    clinicflow_lambda::metrics::install();
    let aws = Aws::start("metrics").await;
    post_form(&aws, "0532 123 45 67").await;
    aws.drain_all(1).await;
    // An hour later the SLA has run out: the sweep's timers are late by
    // design here, which the lateness metric shows.
    aws.clock.set(monday(11, 0));
    handlers::scheduled(&aws.app, Value::Null).await.unwrap();
    aws.drain_all(1).await;

    let mut out = Vec::new();
    clinicflow_lambda::metrics::flush_to(&mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        !text.contains("5321234567") && !text.contains("Ayşe") && !text.contains("implant"),
        "no patient data in metrics: {text}"
    );
    let mut seen: Vec<(String, Vec<String>, Value)> = Vec::new();
    for line in text.lines() {
        let doc: Value = serde_json::from_str(line).unwrap();
        let cloudwatch = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cloudwatch["Namespace"], "Clinicflow", "{doc}");
        let dimensions: Vec<String> = cloudwatch["Dimensions"][0]
            .as_array()
            .map(|d| d.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        for metric in cloudwatch["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap().to_owned();
            seen.push((name.clone(), dimensions.clone(), doc[&name].clone()));
        }
    }
    let find = |name: &str| seen.iter().find(|(n, _, _)| n == name);
    assert!(find("leads_accepted").is_some(), "{text}");
    assert!(find("greetings_sent").is_some(), "{text}");
    assert!(find("speed_to_lead_ms").is_some(), "{text}");
    assert!(find("sla_breaches").is_some(), "{text}");
    let (_, dimensions, _) = find("messages").unwrap();
    assert_eq!(dimensions, &["channel", "status"]);
    let (_, dimensions, _) = find("send_latency_ms").unwrap();
    assert_eq!(dimensions, &["channel"]);
    let (_, dimensions, _) = find("queue_age_ms").unwrap();
    assert_eq!(dimensions, &["queue"]);
    // The SLA timers fell due at 10:10 and 10:30 and were handled at 11:00.
    let (_, _, lateness) = find("timer_lateness_ms").unwrap();
    let largest = match lateness {
        Value::Array(values) => values.iter().filter_map(Value::as_f64).fold(0.0, f64::max),
        other => other.as_f64().unwrap_or(0.0),
    };
    assert!(largest >= 29.0 * 60_000.0, "{lateness}");
}
