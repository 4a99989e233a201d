//! The blast function: consumes the blast queue; each message sends one
//! page of a blast's frozen audience, once per patient.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), clinicflow_lambda::LambdaError> {
    clinicflow_lambda::serve_queue().await
}
