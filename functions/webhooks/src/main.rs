//! The webhooks function: WhatsApp and Twilio callbacks, each verified by
//! its signature, queued, and acknowledged at once.

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_http(clinicflow_app::http::webhooks_router).await
}
