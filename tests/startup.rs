//! Starting the server: a configuration error names the file, the line, the
//! field and the problem, and the server does not start; `PORT` overrides
//! the configured port; the demo configuration shipped in the repo is valid.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::config;

fn start_with(config_text: &str, port: Option<&str>) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clinic.toml");
    std::fs::write(&path, config_text).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_clinicflow"));
    command.env("CLINICFLOW_CONFIG", &path).env_remove("PORT");
    if let Some(port) = port {
        command.env("PORT", port);
    }
    let out = command.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_configuration_stops_the_server_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let good = config(&dir.path().join("data"), "10m", "30m");
    let bad = good.replacen("Europe/Istanbul", "Europe/Istambul", 1);
    let (code, stderr) = start_with(&bad, None);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("clinic.toml:"), "{stderr}");
    assert!(
        stderr.contains("tenants[0].branches[0].time_zone"),
        "{stderr}"
    );
    assert!(
        stderr.contains("`Europe/Istambul` is not an IANA time zone"),
        "{stderr}"
    );
    assert!(stderr.contains("did not start"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing was created");

    let typo = good.replacen("opening_hours", "openinghours", 1);
    let (code, stderr) = start_with(&typo, None);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("unknown field `openinghours`"), "{stderr}");

    let duration = good.replace("first_contact = \"10m\"", "first_contact = \"ten minutes\"");
    let (code, stderr) = start_with(&duration, None);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("tenants[0].sla.first_contact"), "{stderr}");

    let tuning = good.replace("safety_net = \"2s\"", "sweep_batch = 0");
    assert_ne!(tuning, good);
    let (code, stderr) = start_with(&tuning, None);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("local.tuning.sweep_batch"), "{stderr}");

    let (code, stderr) = start_with(&good, Some("not-a-port"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("PORT"), "{stderr}");
}

#[test]
fn a_missing_configuration_file_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_clinicflow"))
        .env("CLINICFLOW_CONFIG", "/nonexistent/clinicflow.toml")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/clinicflow.toml"));
}

#[test]
fn the_demo_configuration_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
    let config: clinicflow_app::config::Config<serde::de::IgnoredAny> =
        clinicflow_app::config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let tenant = config.directory.tenants().next().unwrap();
    assert!(tenant.branches.len() >= 2 && tenant.consultants.len() >= 3 && tenant.forms.len() == 1);
    assert!(
        config
            .directory
            .tenant_for_token("demo-staff-token-change-me")
            .is_some()
    );
}
