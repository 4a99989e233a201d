//! The API function: the staff API and its OpenAPI document.

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_http(clinicflow_app::http::api_router).await
}
