//! [`EmbeddedStore`]: the item-store port on the embedded engine.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use clinicflow_ports::store::validate_writes;
use clinicflow_ports::{
    Item, ItemStore, Key, Page, Query, QueueName, StoreError, Write, WriteError,
};

use crate::writer::Lane;
use crate::{Shared, items};

/// The item store: a cheap handle (clone it freely). Writes are durable
/// when they return; reads are consistent with every write returned.
///
/// A handle writes in one lane of the writer: [`crate::Database::store`]
/// gives interactive handles (for requests someone waits on),
/// [`crate::Database::background_store`] background ones (for consumers
/// and sweeps), whose writes make room for interactive ones.
///
/// Items past `expires_at` stay ordinary items, as on DynamoDB, until
/// [`EmbeddedStore::purge_expired`] deletes them.
#[derive(Clone)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    lane: Lane,
}

impl EmbeddedStore {
    pub(crate) fn new(shared: Arc<Shared>, lane: Lane) -> Self {
        EmbeddedStore { shared, lane }
    }

    /// Deletes every item whose `expires_at` is before `now_unix_secs`;
    /// returns how many.
    pub async fn purge_expired(&self, now_unix_secs: i64) -> Result<u64, StoreError> {
        self.shared
            .writer
            .submit(Lane::Background, move |conn| {
                items::purge_expired(conn, now_unix_secs)
            })
            .await
    }
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("dir", &self.shared.dir)
            .finish()
    }
}

#[async_trait]
impl ItemStore for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.shared
            .readers
            .read(move |conn| items::get(conn, &key))
            .await
    }

    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let query = query.clone();
        self.shared
            .readers
            .read(move |conn| items::query(conn, &query))
            .await
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), WriteError> {
        validate_writes(&writes)?;
        let queues: BTreeSet<QueueName> = writes
            .iter()
            .filter_map(|w| match w {
                Write::Enqueue { queue, .. } => Some(*queue),
                _ => None,
            })
            .collect();
        self.shared
            .writer
            .submit(self.lane, move |conn| items::apply(conn, &writes))
            .await?;
        for queue in queues {
            self.shared.wake(queue);
        }
        Ok(())
    }
}
