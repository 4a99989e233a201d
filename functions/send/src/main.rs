//! The send function: consumes the outbox queue; each message delivers one
//! ledger message, exactly once.

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_queue().await
}
