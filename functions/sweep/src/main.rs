//! The sweep function: runs every minute on an EventBridge schedule and
//! fires the timers that are due.

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_schedule().await
}
