//! `clinicflow`: the local server (see `clinicflow_local`).

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    clinicflow_local::main().await
}
