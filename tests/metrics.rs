//! The local server's metrics page: the product's metrics in Prometheus'
//! text format on a port of its own, counting what happened, and never a
//! patient's number or name.

mod common;

use std::time::Duration;

use common::{Server, config, eventually, lead, messages_of, post_form};

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_page_counts_a_lead_and_its_greeting() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = config(&dir.path().join("data"), "1h", "2h").replacen(
        "port = 0\n",
        &format!("port = 0\nmetrics_port = {port}\n"),
        1,
    );
    let server = Server::start(dir.path(), &config);
    let (status, created) = post_form(
        &server,
        "web",
        &[("name", "Ayşe Kaya"), ("phone", "0532 123 45 67")],
    )
    .await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    eventually(
        &server,
        "the greeting sent",
        Duration::from_secs(30),
        || async {
            let lead = lead(&server, &id).await;
            messages_of(&lead, "greeting")
                .iter()
                .any(|m| m["status"] == "sent")
                .then_some(())
        },
    )
    .await;

    let page = common::client()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    let value = |line_start: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line_start))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no `{line_start}` in:\n{text}"))
    };
    assert_eq!(value("leads_accepted "), 1.0);
    assert_eq!(value("greetings_sent "), 1.0);
    assert!(value("messages{") >= 1.0);
    assert!(text.contains("speed_to_lead_ms"), "{text}");
    assert!(text.contains("send_latency_ms"), "{text}");
    assert!(text.contains("queue_age_ms{queue=\"leads\""), "{text}");
    assert!(
        !text.contains("5321234567") && !text.contains("Ayşe"),
        "no patient data in metrics"
    );
    // The API port does not serve it.
    let api = common::client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
}
