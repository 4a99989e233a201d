//! The contract-test suite: what every engine behind Clinicflow's ports
//! must do, written once and run against each engine's tests (the embedded
//! engine on a temporary directory; a DynamoDB adapter against an emulator).
//!
//! Each suite panics with a message naming the first violation. Keys are
//! prefixed with a value unique to the run, so a suite can run again and
//! again against a persistent store.
//!
//! Where the port leaves freedom to DynamoDB the suite does too: index
//! queries may lag behind writes (index checks poll until they hold, for
//! up to [`INDEX_SETTLE`]); items with equal index sort keys come in an
//! unspecified order; a full page may carry a cursor even when nothing
//! follows.

mod join;
mod store;

use std::time::Duration;

pub use store::item_store;

/// How long an index query may lag behind the writes before it counts as
/// a violation.
pub const INDEX_SETTLE: Duration = Duration::from_secs(10);
