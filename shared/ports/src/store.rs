//! The item-store port.
//!
//! An item is a JSON document under a partition key and a sort key, with a
//! version for optimistic concurrency, up to two secondary-index keys and
//! an optional expiry. Writes carry conditions and are applied all or
//! nothing; a failed condition is an ordinary outcome
//! ([`WriteError::ConditionFailed`]), not a fault.
//!
//! The semantics are DynamoDB's, kept narrow so that the embedded engine
//! can honour them exactly:
//! - a transaction holds at most [`MAX_TRANSACTION_ITEMS`] writes and
//!   touches each key at most once;
//! - `get` is strongly consistent; index queries may lag behind writes on
//!   DynamoDB (the embedded engine is always current);
//! - items past `expires_at` may linger until the engine purges them, so
//!   readers check expiry themselves;
//! - a query returns at most `limit` items (a limit of 0 returns none) in
//!   sort-key order, and a [`Cursor`] to resume after the last one; among
//!   items with equal index sort keys the order is unspecified;
//! - keys and index-key parts are never empty, versions stay within
//!   `i64::MAX`, and `Between` bounds are in order.

use async_trait::async_trait;

use crate::queue::QueueName;

/// DynamoDB's limit on writes per transaction, honoured by every engine.
pub const MAX_TRANSACTION_ITEMS: usize = 100;

/// DynamoDB's limit on the keys of one `BatchGetItem`; [`ItemStore::get_many`]
/// reads more in several.
pub const MAX_BATCH_GET_KEYS: usize = 100;

/// DynamoDB's limit on an item's size (400 KiB, counting attribute names
/// and every value), less a margin for the attributes engines add; every
/// engine refuses larger items.
pub const MAX_ITEM_BYTES: usize = 400 * 1024 - 1024;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

/// An item's key in a secondary index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

impl IndexKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        IndexKey {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub key: Key,
    /// 1 when first written; each write that replaces the item sets the
    /// next version itself and conditions on the one it read.
    pub version: u64,
    pub gsi1: Option<IndexKey>,
    pub gsi2: Option<IndexKey>,
    /// Unix seconds after which the engine may delete the item.
    pub expires_at: Option<i64>,
    /// The entity, as a JSON document.
    pub body: String,
}

/// What must hold of the stored item for a write to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    Always,
    /// No item with this key exists.
    Absent,
    /// An item with this key exists.
    Exists,
    /// An item with this key exists at this version.
    VersionIs(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    Put {
        item: Item,
        condition: Condition,
    },
    Delete {
        key: Key,
        condition: Condition,
    },
    /// Writes nothing; fails the transaction unless the condition holds.
    Check {
        key: Key,
        condition: Condition,
    },
    /// Queues `body` on `queue` once the transaction commits, and only if
    /// it does (the transactional outbox). The embedded engine inserts it
    /// in the same transaction. DynamoDB cannot, so its engine sends it
    /// right after the commit; a crash in between loses the message, which
    /// is why every piece of queued work also has a timer, armed by the
    /// same transaction, that does the work if its message never comes.
    Enqueue {
        queue: QueueName,
        body: String,
    },
    /// Publishes a domain event for others to consume once the
    /// transaction commits, and only if it does: on AWS to the EventBridge
    /// bus, right after the commit (so a crash in between loses the
    /// event). On one machine nobody subscribes, and the embedded engine
    /// drops it; the lead's history holds the same facts.
    Publish {
        /// What happened, e.g. `lead.created`.
        detail_type: String,
        /// The event as a JSON object.
        detail: String,
    },
}

impl Write {
    /// The item the write concerns (none for `Enqueue` and `Publish`).
    pub fn key(&self) -> Option<&Key> {
        match self {
            Write::Put { item, .. } => Some(&item.key),
            Write::Delete { key, .. } | Write::Check { key, .. } => Some(key),
            Write::Enqueue { .. } | Write::Publish { .. } => None,
        }
    }

    /// The condition on that item (none for `Enqueue` and `Publish`).
    pub fn condition(&self) -> Option<Condition> {
        match self {
            Write::Put { condition, .. }
            | Write::Delete { condition, .. }
            | Write::Check { condition, .. } => Some(*condition),
            Write::Enqueue { .. } | Write::Publish { .. } => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Index {
    Table,
    Gsi1,
    Gsi2,
}

/// Which sort keys of the partition a query reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortKey {
    All,
    BeginsWith(String),
    /// Both bounds included.
    Between(String, String),
    AtMost(String),
    AtLeast(String),
}

impl SortKey {
    pub fn matches(&self, sk: &str) -> bool {
        match self {
            SortKey::All => true,
            SortKey::BeginsWith(p) => sk.starts_with(p.as_str()),
            SortKey::Between(lo, hi) => lo.as_str() <= sk && sk <= hi.as_str(),
            SortKey::AtMost(hi) => sk <= hi.as_str(),
            SortKey::AtLeast(lo) => lo.as_str() <= sk,
        }
    }
}

/// Where the previous page ended: the last item's table key and, for an
/// index query, its index sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub key: Key,
    pub index_sk: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk: SortKey,
    pub descending: bool,
    pub limit: usize,
    pub after: Option<Cursor>,
}

impl Query {
    /// Everything in a table partition, in sort-key order.
    pub fn partition(pk: impl Into<String>) -> Self {
        Query {
            index: Index::Table,
            pk: pk.into(),
            sk: SortKey::All,
            descending: false,
            limit: 1000,
            after: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub next: Option<Cursor>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine could not be reached or failed; the call may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The request breaks the port's rules (too many writes, a key written
    /// twice, an item too large): a bug of the caller, never retried.
    #[error("invalid store request: {0}")]
    Invalid(String),
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The condition of write number `index` did not hold; nothing was written.
    #[error("condition of write {index} did not hold")]
    ConditionFailed { index: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[async_trait]
pub trait ItemStore: Send + Sync + 'static {
    /// The item under `key`, read consistently.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// The items under `keys`, in their order (`None` where there is none),
    /// each read consistently; one request to DynamoDB (`BatchGetItem`)
    /// for up to [`MAX_BATCH_GET_KEYS`] distinct keys. A key may repeat.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let mut items = Vec::with_capacity(keys.len());
        for key in keys {
            items.push(self.get(key).await?);
        }
        Ok(items)
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError>;

    /// Applies every write under its condition, or none of them.
    async fn write(&self, writes: Vec<Write>) -> Result<(), WriteError>;
}

/// Checks the port's rules on a query; engines call it before reading.
pub fn validate_query(q: &Query) -> Result<(), StoreError> {
    if let SortKey::Between(lo, hi) = &q.sk
        && lo > hi
    {
        return Err(StoreError::Invalid(format!(
            "sort-key range from {lo:?} to {hi:?}: the lower bound is above the upper"
        )));
    }
    if let Some(after) = &q.after {
        match q.index {
            Index::Table if after.key.pk != q.pk => {
                return Err(StoreError::Invalid(format!(
                    "cursor of partition {:?} used on partition {:?}",
                    after.key.pk, q.pk
                )));
            }
            Index::Gsi1 | Index::Gsi2 if after.index_sk.is_none() => {
                return Err(StoreError::Invalid(
                    "an index query's cursor needs the index sort key".into(),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Checks the port's rules on a transaction; engines call it before writing.
pub fn validate_writes(writes: &[Write]) -> Result<(), StoreError> {
    if writes.is_empty() {
        return Err(StoreError::Invalid(
            "a transaction needs at least one write".into(),
        ));
    }
    let items = writes.iter().filter(|w| w.key().is_some()).count();
    if items > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::Invalid(format!(
            "{items} item writes in one transaction; at most {MAX_TRANSACTION_ITEMS}"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for w in writes {
        let Some(key) = w.key() else { continue };
        if !seen.insert(key) {
            return Err(StoreError::Invalid(format!(
                "key {}/{} written twice in one transaction",
                key.pk, key.sk
            )));
        }
        if key.pk.is_empty() || key.sk.is_empty() {
            return Err(StoreError::Invalid("keys must not be empty".into()));
        }
        if let Write::Put { item, .. } = w {
            let index_parts = [&item.gsi1, &item.gsi2].into_iter().flatten();
            if index_parts
                .clone()
                .any(|k| k.pk.is_empty() || k.sk.is_empty())
            {
                return Err(StoreError::Invalid("index keys must not be empty".into()));
            }
            if item.version > i64::MAX as u64 {
                return Err(StoreError::Invalid("versions stay within i64::MAX".into()));
            }
            let size = item.key.pk.len()
                + item.key.sk.len()
                + index_parts.map(|k| k.pk.len() + k.sk.len()).sum::<usize>()
                + item.body.len();
            if size > MAX_ITEM_BYTES {
                return Err(StoreError::Invalid(format!(
                    "item of {size} bytes; at most {MAX_ITEM_BYTES}"
                )));
            }
        }
    }
    Ok(())
}
