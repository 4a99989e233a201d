//! The function's configuration, read from the environment once at cold
//! start. A missing variable stops the function at init, naming it.

use std::path::PathBuf;

use clinicflow_aws::{Resources, Trust};

/// A variable that is missing or wrong.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {variable}: {problem}")]
pub struct EnvError {
    pub variable: &'static str,
    pub problem: String,
}

/// Everything a function reads from its environment (the template sets
/// each of them; the SDK reads its own, such as the region, itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Env {
    /// `CLINICFLOW_CONFIG`: the tenants' configuration file, shipped in
    /// the function's package.
    pub config: PathBuf,
    /// `TABLE_NAME`, `LEADS_QUEUE_URL`, `OUTBOX_QUEUE_URL`, `EVENT_BUS_NAME`.
    pub resources: Resources,
    /// `CLINICFLOW_AWS_TRUST` (optional): whose root certificates the
    /// connections to AWS trust, Amazon Trust Services' (the default) or
    /// the system's.
    pub aws_trust: Trust,
}

impl Env {
    pub fn from_process() -> Result<Env, EnvError> {
        Env::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `get`, so tests need not touch the process environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Env, EnvError> {
        let required = |variable: &'static str| {
            get(variable)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| EnvError {
                    variable,
                    problem: "is not set".into(),
                })
        };
        Ok(Env {
            config: PathBuf::from(required("CLINICFLOW_CONFIG")?),
            resources: Resources {
                table: required("TABLE_NAME")?,
                leads_queue_url: required("LEADS_QUEUE_URL")?,
                outbox_queue_url: required("OUTBOX_QUEUE_URL")?,
                blast_queue_url: required("BLAST_QUEUE_URL")?,
                event_bus: required("EVENT_BUS_NAME")?,
            },
            aws_trust: Trust::parse(
                get("CLINICFLOW_AWS_TRUST").as_deref(),
                get("AWS_REGION").as_deref(),
            )
            .map_err(|problem| EnvError {
                variable: "CLINICFLOW_AWS_TRUST",
                problem,
            })?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_missing_variable_is_named() {
        let all = [
            ("CLINICFLOW_CONFIG", "/var/task/clinicflow.toml"),
            ("TABLE_NAME", "clinicflow-Table"),
            (
                "LEADS_QUEUE_URL",
                "https://sqs.eu-central-1.amazonaws.com/1/leads",
            ),
            (
                "OUTBOX_QUEUE_URL",
                "https://sqs.eu-central-1.amazonaws.com/1/outbox",
            ),
            (
                "BLAST_QUEUE_URL",
                "https://sqs.eu-central-1.amazonaws.com/1/blast",
            ),
            ("EVENT_BUS_NAME", "clinicflow-events"),
        ];
        for (missing, _) in all {
            let e = Env::from_lookup(|n| {
                all.iter()
                    .find(|(k, _)| *k == n && *k != missing)
                    .map(|(_, v)| (*v).to_owned())
            })
            .unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("environment variable {missing}: is not set")
            );
        }
        let env = Env::from_lookup(|n| {
            all.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap();
        assert_eq!(env.config, PathBuf::from("/var/task/clinicflow.toml"));
        assert_eq!(env.resources.event_bus, "clinicflow-events");
        assert_eq!(env.aws_trust, Trust::Amazon);
    }

    #[test]
    fn the_trust_store_is_amazons_unless_told_or_in_china() {
        assert_eq!(Trust::parse(None, Some("eu-central-1")), Ok(Trust::Amazon));
        assert_eq!(Trust::parse(Some("amazon"), None), Ok(Trust::Amazon));
        assert_eq!(
            Trust::parse(Some("system"), Some("eu-central-1")),
            Ok(Trust::System)
        );
        assert_eq!(Trust::parse(None, Some("cn-north-1")), Ok(Trust::System));
        assert_eq!(
            Trust::parse(Some("amazon"), Some("cn-north-1")),
            Ok(Trust::Amazon)
        );
        let e = Env::from_lookup(|n| match n {
            "CLINICFLOW_AWS_TRUST" => Some("mozilla".to_owned()),
            _ => Some("x".to_owned()),
        })
        .unwrap_err();
        assert_eq!(e.variable, "CLINICFLOW_AWS_TRUST");
        assert!(e.problem.contains("\"mozilla\""), "{}", e.problem);
    }
}
