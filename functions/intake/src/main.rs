//! The intake function: web forms post leads here.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_http(clinicflow_app::http::intake_router).await
}
