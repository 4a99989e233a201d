//! The send function: consumes the outbox queue; each message delivers one
//! ledger message, exactly once.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_queue().await
}
