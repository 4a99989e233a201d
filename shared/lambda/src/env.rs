//! The function's configuration, read from the environment once at cold
//! start. A missing or bad variable stops the function at init, naming it.

use std::path::PathBuf;

/// A variable that is missing or wrong.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {variable}: {problem}")]
pub struct EnvError {
    pub variable: &'static str,
    pub problem: String,
}

/// Everything a function reads from its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Env {
    /// The tenants' configuration file, shipped with the function.
    pub config: PathBuf,
    /// Where the embedded store keeps its data.
    pub data_dir: PathBuf,
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
            data_dir: PathBuf::from(
                get("CLINICFLOW_DATA_DIR").unwrap_or_else(|| "/tmp/clinicflow".into()),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let e = Env::from_lookup(|_| None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable CLINICFLOW_CONFIG: is not set"
        );
        let env = Env::from_lookup(|n| {
            (n == "CLINICFLOW_CONFIG").then(|| "/var/task/clinicflow.toml".into())
        })
        .unwrap();
        assert_eq!(env.config, PathBuf::from("/var/task/clinicflow.toml"));
    }
}
