//! The item-store contract: DynamoDB's semantics as the port states them.

mod concurrency;
mod queries;
mod writes;

use std::sync::atomic::{AtomicU64, Ordering};

use clinicflow_ports::{Condition, Item, ItemStore, Key, StoreError, Write, WriteError};
use jiff::Timestamp;

/// Runs every check of the item-store port against `store`, panicking on
/// the first violation. The store may hold other data; the suite touches
/// only keys of its own run.
pub async fn item_store(store: &dyn ItemStore) {
    let run = Run::new();
    writes::round_trip(store, &run).await;
    writes::conditions(store, &run).await;
    writes::transactions(store, &run).await;
    writes::validation(store, &run).await;
    queries::table(store, &run).await;
    queries::byte_order(store, &run).await;
    queries::index(store, &run).await;
    queries::index_moves(store, &run).await;
    concurrency::racing_creates(store, &run).await;
    concurrency::optimistic_updates(store, &run).await;
}

/// The keys of one run of the suite.
pub(crate) struct Run {
    prefix: String,
}

impl Run {
    fn new() -> Self {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        Run {
            prefix: format!(
                "contract-{}-{}",
                Timestamp::now().as_nanosecond(),
                RUNS.fetch_add(1, Ordering::Relaxed)
            ),
        }
    }

    /// A partition key of this run.
    pub(crate) fn pk(&self, name: &str) -> String {
        format!("{}#{name}", self.prefix)
    }
}

/// Panics naming the violated rule.
#[track_caller]
pub(crate) fn violated(what: &str, detail: impl std::fmt::Display) -> ! {
    panic!("item-store contract violated: {what}: {detail}")
}

/// An item without index keys or expiry, its body naming key and version.
pub(crate) fn item(pk: &str, sk: &str, version: u64) -> Item {
    Item {
        key: Key::new(pk, sk),
        version,
        gsi1: None,
        gsi2: None,
        expires_at: None,
        body: format!(r#"{{"sk":{},"version":{version}}}"#, json_string(sk)),
    }
}

/// `s` as a JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn put(item: Item, condition: Condition) -> Write {
    Write::Put { item, condition }
}

/// Writes `item` unconditionally, as set-up for a check.
pub(crate) async fn seed(store: &dyn ItemStore, item: Item, what: &str) {
    succeeded(what, store.write(vec![put(item, Condition::Always)]).await);
}

pub(crate) async fn get(store: &dyn ItemStore, key: &Key, what: &str) -> Option<Item> {
    match store.get(key).await {
        Ok(item) => item,
        Err(e) => violated(what, format!("get {}/{} failed: {e}", key.pk, key.sk)),
    }
}

#[track_caller]
pub(crate) fn succeeded(what: &str, result: Result<(), WriteError>) {
    if let Err(e) = result {
        violated(what, format!("the write should succeed, got {e:?}"));
    }
}

#[track_caller]
pub(crate) fn failed_at(what: &str, result: Result<(), WriteError>, expected: usize) {
    match result {
        Err(WriteError::ConditionFailed { index }) if index == expected => {}
        other => violated(
            what,
            format!("expected the condition of write {expected} to fail, got {other:?}"),
        ),
    }
}

#[track_caller]
pub(crate) fn invalid(what: &str, result: Result<(), WriteError>) {
    match result {
        Err(WriteError::Store(StoreError::Invalid(_))) => {}
        other => violated(what, format!("expected StoreError::Invalid, got {other:?}")),
    }
}
