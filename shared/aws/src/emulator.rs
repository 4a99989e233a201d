//! Test support: a moto server (the AWS emulator from PyPI) on a free
//! loopback port, and the table, queues and bus created in it the way
//! `infra/template.yaml` declares them, so that a key or an index the code
//! needs but the template lacks fails the tests.
//!
//! `make test` installs moto into `.venv/` (pinned in the Makefile);
//! `CLINICFLOW_PYTHON` names another Python that has it. The server runs
//! through `moto_serial.py`, one request at a time, because moto's own
//! server is multi-threaded and its conditional writes are not atomic. This module
//! exists for tests only (feature `emulator`): it panics, with a message
//! saying what to do, when the emulator cannot be started.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_yaml_ng::Value;

use crate::Resources;

/// A running moto server, stopped when dropped.
pub struct Emulator {
    child: Child,
    endpoint: String,
}

/// The repository's root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Emulator {
    pub fn start() -> Emulator {
        let program = std::env::var_os("CLINICFLOW_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
        assert!(
            program.exists(),
            "{} not found: run `make test` (it installs the AWS emulator into .venv/) or set CLINICFLOW_PYTHON",
            program.display()
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("moto_serial.py");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&program)
            .arg(&script)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        let mut emulator = Emulator {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = emulator.child.try_wait() {
                panic!("the AWS emulator exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "the AWS emulator did not start in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        emulator
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration that talks to this emulator only.
    pub fn sdk_config(&self) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                aws_sdk_dynamodb::config::Credentials::for_tests(),
            ))
            .http_client(crate::connect::https_client())
            .build()
    }

    /// Creates the template's table, queues (with their dead-letter queues
    /// and redrive policies) and event bus, their names prefixed by `name`.
    pub async fn deploy(&self, name: &str) -> Deployment {
        let sdk = self.sdk_config();
        let template = Template::load();
        let table = format!("{name}-table");
        template.create_table(&sdk, &table).await;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let mut urls = Vec::new();
        let mut dead_letters = Vec::new();
        for queue in ["LeadsQueue", "OutboxQueue", "BlastQueue"] {
            let (url, dlq) = template.create_queue(&sqs, name, queue).await;
            urls.push(url);
            dead_letters.push(dlq);
        }
        let bus = format!("{name}-events");
        aws_sdk_eventbridge::Client::new(&sdk)
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .expect("create the event bus");
        Deployment {
            resources: Resources {
                table,
                leads_queue_url: urls[0].clone(),
                outbox_queue_url: urls[1].clone(),
                blast_queue_url: urls[2].clone(),
                event_bus: bus,
            },
            leads_dead_letter_url: dead_letters[0].clone(),
            outbox_dead_letter_url: dead_letters[1].clone(),
            blast_dead_letter_url: dead_letters[2].clone(),
            max_receive_count: template.max_receive_count(),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What [`Emulator::deploy`] created.
#[derive(Clone, Debug)]
pub struct Deployment {
    pub resources: Resources,
    pub leads_dead_letter_url: String,
    pub outbox_dead_letter_url: String,
    pub blast_dead_letter_url: String,
    pub max_receive_count: u64,
}

/// The parts of `infra/template.yaml` the emulator needs.
struct Template(Value);

impl Template {
    fn load() -> Template {
        let path = repo_root().join("infra/template.yaml");
        let text = std::fs::read_to_string(&path).expect("infra/template.yaml");
        Template(serde_yaml_ng::from_str(&text).expect("infra/template.yaml is YAML"))
    }

    fn properties(&self, resource: &str) -> &Value {
        self.0
            .get("Resources")
            .and_then(|r| r.get(resource))
            .and_then(|r| r.get("Properties"))
            .unwrap_or_else(|| panic!("the template has no resource {resource}"))
    }

    /// A number, or a `!Ref` to a parameter's default.
    fn number(&self, value: &Value) -> u64 {
        match value {
            Value::Tagged(t) if t.tag == "Ref" => {
                let parameter = t.value.as_str().expect("a parameter name");
                let default = self
                    .0
                    .get("Parameters")
                    .and_then(|p| p.get(parameter))
                    .and_then(|p| p.get("Default"))
                    .unwrap_or_else(|| panic!("parameter {parameter} has no default"));
                self.number(default)
            }
            v => v.as_u64().expect("a number"),
        }
    }

    fn max_receive_count(&self) -> u64 {
        let p = self.properties("LeadsQueue");
        self.number(&p["RedrivePolicy"]["maxReceiveCount"])
    }

    async fn create_table(&self, sdk: &SdkConfig, name: &str) {
        let p = self.properties("Table");
        let str_of = |v: &Value| v.as_str().expect("a string").to_owned();
        let keys = |schema: &Value| -> Vec<KeySchemaElement> {
            schema
                .as_sequence()
                .expect("a key schema")
                .iter()
                .map(|k| {
                    KeySchemaElement::builder()
                        .attribute_name(str_of(&k["AttributeName"]))
                        .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                        .build()
                        .unwrap()
                })
                .collect()
        };
        let attributes = p["AttributeDefinitions"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| {
                AttributeDefinition::builder()
                    .attribute_name(str_of(&a["AttributeName"]))
                    .attribute_type(ScalarAttributeType::from(
                        a["AttributeType"].as_str().unwrap(),
                    ))
                    .build()
                    .unwrap()
            })
            .collect();
        let indexes = p["GlobalSecondaryIndexes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|i| {
                GlobalSecondaryIndex::builder()
                    .index_name(str_of(&i["IndexName"]))
                    .set_key_schema(Some(keys(&i["KeySchema"])))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(
                                i["Projection"]["ProjectionType"].as_str().unwrap(),
                            ))
                            .build(),
                    )
                    .build()
                    .unwrap()
            })
            .collect();
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        dynamo
            .create_table()
            .table_name(name)
            .billing_mode(p["BillingMode"].as_str().unwrap().into())
            .set_attribute_definitions(Some(attributes))
            .set_key_schema(Some(keys(&p["KeySchema"])))
            .set_global_secondary_indexes(Some(indexes))
            .send()
            .await
            .expect("create the table");
        let ttl = &p["TimeToLiveSpecification"];
        dynamo
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(str_of(&ttl["AttributeName"]))
                    .enabled(ttl["Enabled"].as_bool().unwrap())
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("enable TTL");
    }

    /// Creates a queue and its dead-letter queue; their URLs.
    async fn create_queue(
        &self,
        sqs: &aws_sdk_sqs::Client,
        prefix: &str,
        resource: &str,
    ) -> (String, String) {
        let p = self.properties(resource);
        let redrive = &p["RedrivePolicy"];
        let Value::Tagged(target) = &redrive["deadLetterTargetArn"] else {
            panic!("{resource}: the dead-letter target is a !GetAtt");
        };
        let dlq_resource = target
            .value
            .as_str()
            .and_then(|s| s.strip_suffix(".Arn"))
            .expect("!GetAtt <Queue>.Arn");
        let dlq_props = self.properties(dlq_resource);
        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{prefix}-{dlq_resource}"))
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                self.number(&dlq_props["MessageRetentionPeriod"])
                    .to_string(),
            )
            .send()
            .await
            .expect("create the dead-letter queue")
            .queue_url
            .unwrap();
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .unwrap();
        let policy = format!(
            r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":{}}}"#,
            self.number(&redrive["maxReceiveCount"])
        );
        let url = sqs
            .create_queue()
            .queue_name(format!("{prefix}-{resource}"))
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                self.number(&p["VisibilityTimeout"]).to_string(),
            )
            .attributes(QueueAttributeName::RedrivePolicy, policy)
            .send()
            .await
            .expect("create the queue")
            .queue_url
            .unwrap();
        (url, dlq_url)
    }
}
