//! The baseline of the Lambda measurements (`make bench-lambda`): the
//! smallest Rust function on the same runtime crate and build profile as
//! ours. It answers every event with the event itself.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
