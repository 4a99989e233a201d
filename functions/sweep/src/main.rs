//! The sweep function: runs every minute on an EventBridge schedule and
//! fires the timers that are due.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_schedule().await
}
