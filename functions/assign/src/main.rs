//! The assign function: consumes the leads queue; each message assigns one
//! lead and queues its greeting.

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_queue().await
}
