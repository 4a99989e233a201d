//! Test harness: the real `clinicflow` binary on a free loopback port, with
//! its own configuration and data directory, and an HTTP client for it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TOKEN: &str = "test-staff-token-0123456789";
pub const OTHER_TOKEN: &str = "other-staff-token-0123456789";

/// A configuration whose SLA is seconds long and whose branch and
/// consultants never close, so every deadline is wall-clock time.
pub fn config(data_dir: &Path, first_contact: &str, reassign_after: &str) -> String {
    format!(
        r#"
[local]
port = 0
data_dir = "{data}"
queue_visibility = "2s"
timer_tick = "200ms"
tuning = {{ lease = "2s", safety_net = "2s", retry_base = "1s" }}

[[tenants]]
id = "clinic"
name = "Test Clinic"
default_language = "tr"
staff_tokens = ["{TOKEN}"]
sla = {{ first_contact = "{first_contact}", reassign_after = "{reassign_after}" }}

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
languages = ["tr", "en"]
shifts = ["daily 00:00-24:00"]

[[tenants.consultants]]
id = "can"
name = "Can Yılmaz"
branch = "main"
languages = ["tr"]
shifts = ["daily 00:00-24:00"]

[[tenants.forms]]
id = "web"
allowed_origins = ["https://clinic.example"]
honeypot = "website"

[[tenants]]
id = "other"
name = "Another Clinic"
staff_tokens = ["{OTHER_TOKEN}"]

[[tenants.managers]]
id = "boss"
name = "Boss"
email = "boss@other.example"

[[tenants.branches]]
id = "hq"
name = "HQ"
time_zone = "Europe/Berlin"
phone_region = "DE"
opening_hours = ["daily 00:00-24:00"]

[[tenants.consultants]]
id = "hans"
name = "Hans Weber"
branch = "hq"
languages = ["de"]
shifts = ["daily 00:00-24:00"]

[[tenants.forms]]
id = "other-web"
"#,
        data = data_dir.display()
    )
}

pub struct Server {
    child: Child,
    pub base: String,
    pub log: PathBuf,
    config: PathBuf,
}

impl Server {
    /// Starts the binary with `config` written next to `dir` and waits until it answers.
    pub fn start(dir: &Path, config: &str) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let config_path = dir.join("clinicflow.toml");
        std::fs::write(&config_path, config).unwrap();
        Server::start_with(dir, &config_path)
    }

    /// Starts with `config` and extra environment variables (credentials).
    pub fn start_with_env(dir: &Path, config: &str, env: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        let config_path = dir.join("clinicflow.toml");
        std::fs::write(&config_path, config).unwrap();
        Server::launch(dir, &config_path, env)
    }

    /// Starts again with the configuration already written.
    pub fn restart(dir: &Path) -> Server {
        Server::start_with(dir, &dir.join("clinicflow.toml"))
    }

    /// Starts again with the configuration already written and `env`.
    pub fn restart_with_env(dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::launch(dir, &dir.join("clinicflow.toml"), env)
    }

    fn start_with(dir: &Path, config_path: &Path) -> Server {
        Server::launch(dir, config_path, &[])
    }

    fn launch(dir: &Path, config_path: &Path, env: &[(&str, &str)]) -> Server {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let log = dir.join(format!(
            "server-{}.log",
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        let stderr = std::fs::File::create(&log).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_clinicflow"))
            .env("CLINICFLOW_CONFIG", config_path)
            .env("CLINICFLOW_LOG", "info,clinicflow_app=debug")
            .env_remove("PORT")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.trim().strip_prefix("Listening on") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Server {
            child,
            base,
            log,
            config: config_path.to_owned(),
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    clinicflow_channels::http::builder()
        .unwrap()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// GET a staff endpoint as `token`; returns status and JSON.
pub async fn staff_get(server: &Server, token: &str, path: &str) -> (u16, Value) {
    let r = client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn staff_post(server: &Server, token: &str, path: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(server.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Posts `body` to `path` signed as a Meta app signs its webhooks
/// (`X-Hub-Signature-256`: the HMAC-SHA256 of the body under `secret`);
/// returns status and JSON.
pub async fn post_meta_signed(
    server: &Server,
    path: &str,
    body: String,
    secret: &str,
) -> (u16, Value) {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let r = client()
        .post(server.url(path))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Posts a form as a browser's HTML form would.
pub async fn post_form(server: &Server, form: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let r = client()
        .post(server.url(&format!("/v1/forms/{form}/leads")))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn post_json(server: &Server, form: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(server.url(&format!("/v1/forms/{form}/leads")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn lead(server: &Server, id: &str) -> Value {
    let (status, body) = staff_get(server, TOKEN, &format!("/v1/leads/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Polls `check` until it returns `Some`, or panics after `timeout` with the server log.
pub async fn eventually<T, F, Fut>(
    server: &Server,
    what: &str,
    timeout: Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!(
                "timed out waiting for {what}; server log:\n{}",
                server.log_text()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn messages_of<'a>(lead: &'a Value, kind: &str) -> Vec<&'a Value> {
    lead["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["kind"] == kind).collect())
        .unwrap_or_default()
}
