//! The AWS adapters behind Clinicflow's ports, built once per cold start:
//!
//! - [`dynamo`]: the item store on one DynamoDB table (pay per request,
//!   two global secondary indexes, TTL on `expires_at`). Conditions are
//!   condition expressions; a transaction is `TransactWriteItems` with a
//!   client request token, so the SDK's retries never apply it twice.
//!   Queue messages and domain events of a transaction are sent right
//!   after it commits.
//! - [`sqs`]: the work queues, sent in batches of up to ten.
//! - [`bus`]: domain events to an EventBridge bus, up to ten per request.
//! - [`usage`]: what the adapters used of AWS: every request, by service
//!   and operation, counted on the wire (retries included), and
//!   DynamoDB's capacity units, computed by [`capacity`] from the items.
//! - [`connect`]: the SDK configuration (rustls with ring, the default
//!   credential chain, `AWS_ENDPOINT_URL` honoured for emulators).

pub mod bus;
pub mod capacity;
pub mod connect;
pub mod dynamo;
#[cfg(feature = "emulator")]
pub mod emulator;
mod item;
pub mod secrets;
pub mod sqs;
pub mod usage;

pub use bus::EventBus;
pub use connect::{AMAZON_ROOTS, Resources, Trust, lambda_sdk_config, sdk_config};
pub use dynamo::DynamoStore;
pub use secrets::SecretsManager;
pub use sqs::SqsQueue;
pub use usage::{Capacity, Usage};
