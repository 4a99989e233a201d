//! [`EmbeddedQueue`]: the queue port on the embedded engine, and the
//! consumer side that SQS and a Lambda event source mapping provide on AWS.
//!
//! Messages are rows of `queue_messages`. A receive hides a message for a
//! visibility timeout and counts the delivery; a consumer deletes what it
//! handled. A message not deleted reappears when the timeout passes, and a
//! message received `max_receives` times moves to `dead_letters` on the
//! next receive instead of being delivered again (SQS's redrive policy).
//! Visibility uses the system clock, in Unix milliseconds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clinicflow_ports::{Queue, QueueError, QueueName, StoreError};
use rusqlite::{Connection, params};

use crate::items::sql_error;
use crate::writer::Lane;
use crate::{Shared, now_millis};

/// A message handed to a consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Identifies the message for [`EmbeddedQueue::delete`] and
    /// [`EmbeddedQueue::retry_later`]; never reused.
    pub id: i64,
    pub body: String,
    /// How many times the message was delivered, this time included.
    pub receive_count: u32,
    /// When it was sent, in milliseconds since the epoch.
    pub sent_at: i64,
}

/// How many messages a queue holds, by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Ready to be received.
    pub visible: u64,
    /// Received and not yet deleted, or delayed by a retry.
    pub in_flight: u64,
    /// Moved to the dead letters after too many receives.
    pub dead: u64,
}

/// The work queues: a cheap handle (clone it freely).
#[derive(Clone)]
pub struct EmbeddedQueue {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EmbeddedQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedQueue")
            .field("dir", &self.shared.dir)
            .finish()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl EmbeddedQueue {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        EmbeddedQueue { shared }
    }

    /// Receives up to `max` visible messages, oldest first, hiding each for
    /// `visibility`. Messages already received `max_receives` times are
    /// moved to the dead letters instead.
    pub async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<Delivery>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let max_receives = i64::from(self.shared.options.max_receives);
        let visibility = millis(visibility);
        self.shared
            .writer
            .submit(Lane::Background, move |conn| {
                receive(conn, queue, max, visibility, max_receives).map_err(sql_error)
            })
            .await
    }

    /// Deletes handled messages. Unknown ids are ignored (already deleted).
    pub async fn delete(&self, queue: QueueName, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = ids.to_vec();
        self.shared
            .writer
            .submit(Lane::Background, move |conn| {
                let delete = || {
                    let mut stmt = conn.prepare_cached(
                        "DELETE FROM queue_messages WHERE queue = ?1 AND id = ?2",
                    )?;
                    for id in ids {
                        stmt.execute(params![queue.as_str(), id])?;
                    }
                    Ok(())
                };
                delete().map_err(sql_error)
            })
            .await
    }

    /// Makes a message visible again after `delay` (a failed attempt to be
    /// retried); its receive count is kept.
    pub async fn retry_later(
        &self,
        queue: QueueName,
        id: i64,
        delay: Duration,
    ) -> Result<(), StoreError> {
        let delay = millis(delay);
        self.shared
            .writer
            .submit(Lane::Background, move |conn| {
                conn.prepare_cached(
                    "UPDATE queue_messages SET visible_at = ?3 WHERE queue = ?1 AND id = ?2",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        queue.as_str(),
                        id,
                        now_millis().saturating_add(delay)
                    ])
                })
                .map(|_| ())
                .map_err(sql_error)
            })
            .await
    }

    /// Waits until a message is sent to `queue` or `timeout` passes; true
    /// when woken by a send. A send that happened since the last wait (for
    /// instance between an empty receive and this call) wakes it at once;
    /// a wake-up may also be spurious, so callers just receive again.
    pub async fn wait(&self, queue: QueueName, timeout: Duration) -> bool {
        match self.shared.wakeup(queue) {
            Some(notify) => tokio::time::timeout(timeout, notify.notified())
                .await
                .is_ok(),
            None => {
                tokio::time::sleep(timeout).await;
                false
            }
        }
    }

    /// Makes every message in flight visible now; returns how many. Called
    /// at startup: this process is the only consumer, so whatever was in
    /// flight belonged to a process that died. Messages delayed by
    /// [`EmbeddedQueue::retry_later`] are made visible too.
    pub async fn recover_in_flight(&self) -> Result<u64, StoreError> {
        self.shared
            .writer
            .submit(Lane::Background, move |conn| {
                conn.prepare_cached(
                    "UPDATE queue_messages SET visible_at = ?1 WHERE visible_at > ?1",
                )
                .and_then(|mut stmt| stmt.execute(params![now_millis()]))
                .map(|n| n as u64)
                .map_err(sql_error)
            })
            .await
    }

    /// How many messages each queue holds, by state.
    pub async fn stats(&self) -> Result<BTreeMap<QueueName, QueueStats>, StoreError> {
        self.shared
            .readers
            .read(|conn| stats(conn).map_err(sql_error))
            .await
    }
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send(&self, queue: QueueName, bodies: Vec<String>) -> Result<(), QueueError> {
        if bodies.is_empty() {
            return Ok(());
        }
        self.shared
            .writer
            .submit(Lane::Background, move |conn| {
                insert(conn, queue, &bodies).map_err(sql_error)
            })
            .await
            .map_err(|e| QueueError {
                queue: queue.as_str(),
                reason: e.to_string(),
            })?;
        self.shared.wake(queue);
        Ok(())
    }
}

pub(crate) fn insert(
    conn: &Connection,
    queue: QueueName,
    bodies: &[String],
) -> Result<(), rusqlite::Error> {
    let now = now_millis();
    let mut stmt = conn.prepare_cached(
        "INSERT INTO queue_messages (queue, body, sent_at, visible_at, receive_count) VALUES (?1, ?2, ?3, ?3, 0)",
    )?;
    for body in bodies {
        stmt.execute(params![queue.as_str(), body, now])?;
    }
    Ok(())
}

fn receive(
    conn: &Connection,
    queue: QueueName,
    max: usize,
    visibility: i64,
    max_receives: i64,
) -> Result<Vec<Delivery>, rusqlite::Error> {
    let now = now_millis();
    let mut deliveries = Vec::new();
    let mut after = 0;
    let mut next = conn.prepare_cached(
        "SELECT id, body, receive_count, sent_at FROM queue_messages \
         WHERE queue = ?1 AND visible_at <= ?2 AND id > ?3 ORDER BY id LIMIT ?4",
    )?;
    let mut deliver = conn.prepare_cached(
        "UPDATE queue_messages SET visible_at = ?2, receive_count = ?3 WHERE id = ?1",
    )?;
    let mut bury = conn.prepare_cached(
        "INSERT INTO dead_letters (id, queue, body, sent_at, failed_at, receive_count) \
         SELECT id, queue, body, sent_at, ?2, receive_count FROM queue_messages WHERE id = ?1",
    )?;
    let mut remove = conn.prepare_cached("DELETE FROM queue_messages WHERE id = ?1")?;
    while deliveries.len() < max {
        let wanted = i64::try_from(max - deliveries.len()).unwrap_or(i64::MAX);
        let batch = next
            .query_map(params![queue.as_str(), now, after, wanted], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if batch.is_empty() {
            break;
        }
        for (id, body, count, sent_at) in batch {
            after = id;
            if count >= max_receives {
                bury.execute(params![id, now])?;
                remove.execute(params![id])?;
                // Never the body: it may hold health data.
                tracing::warn!(
                    queue = queue.as_str(),
                    id,
                    receive_count = count,
                    "queue message moved to the dead letters after too many receives"
                );
                continue;
            }
            deliver.execute(params![id, now.saturating_add(visibility), count + 1])?;
            deliveries.push(Delivery {
                id,
                body,
                receive_count: u32::try_from(count + 1).unwrap_or(u32::MAX),
                sent_at,
            });
        }
    }
    Ok(deliveries)
}

fn stats(conn: &Connection) -> Result<BTreeMap<QueueName, QueueStats>, rusqlite::Error> {
    let mut all: BTreeMap<QueueName, QueueStats> = QueueName::ALL
        .iter()
        .map(|q| (*q, QueueStats::default()))
        .collect();
    let by_name = |name: &str| QueueName::ALL.into_iter().find(|q| q.as_str() == name);
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    // One read transaction, so the counts agree with each other.
    conn.execute_batch("BEGIN")?;
    let counted = (|| {
        let now = now_millis();
        let mut live = conn.prepare_cached(
            "SELECT queue, COALESCE(SUM(visible_at <= ?1), 0), COALESCE(SUM(visible_at > ?1), 0) \
             FROM queue_messages GROUP BY queue",
        )?;
        let rows = live.query_map(params![now], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (name, visible, in_flight) = row?;
            if let Some(stats) = by_name(&name).and_then(|q| all.get_mut(&q)) {
                stats.visible = count(visible);
                stats.in_flight = count(in_flight);
            }
        }
        let mut dead =
            conn.prepare_cached("SELECT queue, COUNT(*) FROM dead_letters GROUP BY queue")?;
        let rows = dead.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (name, n) = row?;
            if let Some(stats) = by_name(&name).and_then(|q| all.get_mut(&q)) {
                stats.dead = count(n);
            }
        }
        Ok(())
    })();
    let ended = conn.execute_batch("COMMIT");
    if ended.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    counted.and(ended).map(|()| all)
}
