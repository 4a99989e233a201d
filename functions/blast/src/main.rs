//! The blast function: consumes the blast queue; each message sends one
//! page of a blast's frozen audience, once per patient.

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_queue().await
}
