//! The SAM template's alarms and dashboard cover what it declares: every
//! queue, every dead-letter queue, every function, and the product's
//! metrics under the namespace the functions write them to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use serde_yaml_ng::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../infra/template.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn resources(template: &Value) -> Vec<(String, &Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(name, r)| (name.as_str().unwrap().to_owned(), r))
        .collect()
}

fn of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    resources(template)
        .into_iter()
        .filter(|(_, r)| r["Type"] == kind)
        .collect()
}

/// `!GetAtt X.Attr` or `!Ref X` as `X.Attr` / `X`.
fn reference(value: &Value) -> Option<String> {
    match value {
        Value::Tagged(t) if t.tag == "GetAtt" || t.tag == "Ref" => {
            t.value.as_str().map(str::to_owned)
        }
        _ => None,
    }
}

/// (namespace, metric, dimension value) of every alarm, with its properties.
fn alarms(template: &Value) -> Vec<(String, String, Option<String>, &Value)> {
    of_type(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(_, a)| {
            let p = &a["Properties"];
            let dimension = p["Dimensions"]
                .as_sequence()
                .and_then(|d| d.first())
                .and_then(|d| reference(&d["Value"]));
            (
                p["Namespace"].as_str().unwrap().to_owned(),
                p["MetricName"].as_str().unwrap().to_owned(),
                dimension,
                p,
            )
        })
        .collect()
}

#[test]
fn every_queue_and_dead_letter_queue_has_its_alarm() {
    let template = template();
    let queues = of_type(&template, "AWS::SQS::Queue");
    let dead_letters: BTreeSet<String> = queues
        .iter()
        .filter_map(|(_, q)| reference(&q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]))
        .map(|arn| arn.trim_end_matches(".Arn").to_owned())
        .collect();
    assert_eq!(dead_letters.len(), 3, "{dead_letters:?}");
    let alarms = alarms(&template);
    let has = |metric: &str, queue: &str| {
        alarms.iter().any(|(ns, m, d, _)| {
            ns == "AWS/SQS" && m == metric && d.as_deref() == Some(&format!("{queue}.QueueName"))
        })
    };
    for (name, _) in &queues {
        if dead_letters.contains(name) {
            assert!(
                has("ApproximateNumberOfMessagesVisible", name),
                "no alarm on {name} not being empty"
            );
        } else {
            assert!(
                has("ApproximateAgeOfOldestMessage", name),
                "no alarm on the age of {name}'s oldest message"
            );
        }
    }
}

#[test]
fn every_function_has_error_and_throttle_alarms() {
    let template = template();
    let functions = of_type(&template, "AWS::Serverless::Function");
    assert!(functions.len() >= 7);
    let alarms = alarms(&template);
    for (name, _) in &functions {
        for metric in ["Errors", "Throttles"] {
            assert!(
                alarms.iter().any(|(ns, m, d, _)| ns == "AWS/Lambda"
                    && m == metric
                    && d.as_deref() == Some(name.as_str())),
                "no {metric} alarm for {name}"
            );
        }
    }
}

#[test]
fn timer_lateness_alarms_on_the_metric_the_functions_write() {
    let template = template();
    assert!(
        alarms(&template)
            .iter()
            .any(|(ns, m, _, _)| ns == clinicflow_lambda::metrics::NAMESPACE
                && m == clinicflow_app::metrics::TIMER_LATENESS)
    );
}

#[test]
fn every_alarm_notifies_the_optional_topic() {
    let template = template();
    for (_, _, _, p) in alarms(&template) {
        for actions in ["AlarmActions", "OKActions"] {
            let Value::Tagged(t) = &p[actions] else {
                panic!("{actions} is not conditional: {p:?}");
            };
            assert_eq!(t.tag, "If");
            assert_eq!(t.value[0], "HasAlarmTopic");
        }
    }
    assert!(template["Parameters"]["AlarmTopicArn"]["Default"] == "");
}

#[test]
fn the_dashboard_shows_every_metric_of_the_product() {
    let template = template();
    let dashboards = of_type(&template, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1);
    let Value::Tagged(body) = &dashboards[0].1["Properties"]["DashboardBody"] else {
        panic!("the dashboard body is a !Sub");
    };
    let body = body.value.as_str().unwrap();
    // The body is JSON once CloudFormation substitutes its references.
    let substituted = substitute(body);
    let json: serde_json::Value = serde_json::from_str(&substituted).unwrap();
    let widgets = json["widgets"].as_array().unwrap();
    let text = serde_json::to_string(widgets).unwrap();
    for name in clinicflow_app::metrics::NAMES {
        assert!(text.contains(name), "the dashboard does not show {name}");
    }
    assert!(text.contains(clinicflow_lambda::metrics::NAMESPACE));
}

/// `${Anything}` → `X`, as CloudFormation's substitution would leave a string.
fn substitute(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap();
        out.push('X');
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}
