//! Ports: the traits Clinicflow's use cases are written against, each with
//! an embedded implementation (one machine) and an AWS one. Item-store
//! engines pass the contract-test suite in `clinicflow-contract`.
//!
//! - [`store`]: an item store shaped like DynamoDB's semantics — get,
//!   conditional writes in all-or-nothing transactions, queries by
//!   partition and sort-key range on the table or two secondary indexes.
//!   Repositories (leads, messages, timers, …) are written once above it.
//! - [`queue`]: at-least-once work queues (SQS; a table of the embedded
//!   store). Use cases queue work through the store's outbox
//!   (`Write::Enqueue`); store engines that cannot commit a message with
//!   the transaction send it through this port right after.
//! - [`messenger`]: a channel that delivers one ledger message.
//! - [`leads`]: reading what a network's webhook only names: a Meta lead's
//!   answers, an Instagram account's name.
//! - [`secrets`]: credentials kept outside the configuration.
//! - [`clock`]: the time and fresh ids.

pub mod clock;
pub mod leads;
pub mod messenger;
pub mod queue;
pub mod secrets;
pub mod store;

pub use clock::{Clock, Ids, ManualClock, SystemClock, UlidIds};
pub use leads::{FetchError, LeadFetcher};
pub use messenger::{Messenger, Receipt, SendError, SendRate};
pub use queue::{Queue, QueueError, QueueName};
pub use secrets::SecretSource;
pub use store::{
    Condition, Cursor, Index, IndexKey, Item, ItemStore, Key, MAX_BATCH_GET_KEYS, Page, Query,
    SortKey, StoreError, Write, WriteError,
};
