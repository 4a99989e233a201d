//! The intake function: web forms post leads here.

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_http(clinicflow_app::http::intake_router).await
}
