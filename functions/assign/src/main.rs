//! The assign function: consumes the leads queue; each message assigns one
//! lead and queues its greeting.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_queue().await
}
