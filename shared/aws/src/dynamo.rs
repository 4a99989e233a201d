//! The item store on one DynamoDB table.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, KeysAndAttributes, Put, TransactWriteItem,
};
use clinicflow_ports::Queue;
use clinicflow_ports::store::{validate_query, validate_writes};
use clinicflow_ports::{
    Condition, Cursor, Index, Item, ItemStore, Key, MAX_BATCH_GET_KEYS, Page, Query, QueueName,
    SortKey, StoreError, Write, WriteError,
};
use tracing::warn;

use crate::item::{self, Attributes};
use crate::usage::{Touch, Usage};
use crate::{EventBus, SqsQueue};

/// How often a write that certainly did not land (throttled, or a
/// transaction that lost a race with another one on the same items) is
/// tried again before giving up.
const RETRIES: u32 = 4;

/// 20, 40, 80, 160 ms.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(10 << attempt.min(6))
}

/// What [`DynamoStore::warm_up`] took.
#[derive(Debug)]
pub struct WarmedUp {
    pub dynamodb: Duration,
    pub sqs: Option<Duration>,
    /// Requests that failed (the connection may still have opened).
    pub problems: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    queue: SqsQueue,
    bus: EventBus,
    usage: Option<Usage>,
}

impl DynamoStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: String,
        queue: SqsQueue,
        bus: EventBus,
    ) -> Self {
        DynamoStore {
            client,
            table,
            queue,
            bus,
            usage: None,
        }
    }

    /// Opens the connections a first request would otherwise open (and
    /// pay their TLS handshakes for): a read of a key no item has (half a
    /// read unit) and, with `queue`, that queue's attributes. Says how long
    /// each took.
    pub async fn warm_up(&self, queue: Option<QueueName>) -> WarmedUp {
        let started = std::time::Instant::now();
        let read = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(item::PK, AttributeValue::S("WARM-UP".into()))
            .key(item::SK, AttributeValue::S("WARM-UP".into()))
            .send()
            .await;
        let dynamodb = started.elapsed();
        let started = std::time::Instant::now();
        let queued = match queue {
            Some(queue) => Some(self.queue.warm_up(queue).await),
            None => None,
        };
        let sqs = queue.map(|_| started.elapsed());
        let mut problems = Vec::new();
        if let Err(e) = read {
            problems.push(format!("dynamodb: {}", DisplayErrorContext(e)));
        }
        if let Some(Err(e)) = queued {
            problems.push(format!("sqs: {e}"));
        }
        WarmedUp {
            dynamodb,
            sqs,
            problems,
        }
    }

    /// Bills the capacity units of every read and write to `usage`.
    pub fn with_usage(mut self, usage: Usage) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Bills a write that committed, or that its condition refused (which
    /// DynamoDB bills too); a write that failed otherwise did not land.
    fn bill_write(
        &self,
        operation: &str,
        transactional: bool,
        touches: &[Touch],
        outcome: &Result<(), WriteError>,
    ) {
        let Some(usage) = &self.usage else { return };
        match outcome {
            Ok(()) => usage.write(operation, touches, transactional, true),
            Err(WriteError::ConditionFailed { .. }) => {
                usage.write(operation, touches, transactional, false);
            }
            Err(_) => {}
        }
    }

    /// One `PutItem`. A conditional put is never retried by the SDK: if
    /// an attempt landed but its answer was lost, a retry would fail its
    /// own condition, and telling that apart from another writer's update
    /// is impossible (both may write the same content). It is retried here
    /// only after errors that say it did not land (throttling); any other
    /// failure goes to the caller, whose work is idempotent and re-reads.
    async fn put(&self, item: Item, condition: Condition) -> Result<(), WriteError> {
        let attributes = item::to_attributes(item);
        let outcome = self.put_attributes(&attributes, condition).await;
        self.bill_write("PutItem", false, &[Touch::Put(&attributes)], &outcome);
        outcome
    }

    async fn put_attributes(
        &self,
        attributes: &Attributes,
        condition: Condition,
    ) -> Result<(), WriteError> {
        let cond = Cond::of(condition);
        let mut attempt = 0;
        loop {
            let mut request = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(attributes.clone()))
                .set_condition_expression(cond.expression.clone())
                .set_expression_attribute_names(cond.names.clone())
                .set_expression_attribute_values(cond.values.clone())
                .customize();
            if condition != Condition::Always {
                request = request.config_override(
                    aws_sdk_dynamodb::config::Builder::new().retry_config(RetryConfig::disabled()),
                );
            }
            let e = match request.send().await {
                Ok(_) => return Ok(()),
                Err(SdkError::ServiceError(e)) => e.into_err(),
                Err(e) => return Err(unavailable(e).into()),
            };
            if e.is_conditional_check_failed_exception() {
                return Err(WriteError::ConditionFailed { index: 0 });
            }
            let throttled = e.is_provisioned_throughput_exceeded_exception()
                || e.is_request_limit_exceeded()
                || e.meta().code() == Some("ThrottlingException");
            if throttled && attempt < RETRIES {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            return Err(unavailable(e).into());
        }
    }

    /// A `TransactWriteItems` of `ops`, whose positions in the caller's
    /// list are `positions`.
    async fn transact(&self, ops: Vec<Write>, positions: &[usize]) -> Result<(), WriteError> {
        let items = ops
            .into_iter()
            .map(|w| self.transact_item(w))
            .collect::<Result<Vec<_>, _>>()?;
        let outcome = self.transact_items(&items, positions).await;
        if self.usage.is_some() {
            let touches: Vec<Touch> = items.iter().filter_map(Touch::of).collect();
            self.bill_write("TransactWriteItems", true, &touches, &outcome);
        }
        outcome
    }

    async fn transact_items(
        &self,
        items: &[TransactWriteItem],
        positions: &[usize],
    ) -> Result<(), WriteError> {
        let mut attempt = 0;
        loop {
            let out = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.to_vec()))
                .client_request_token(ulid::Ulid::generate().to_string())
                .send()
                .await;
            let e = match out {
                Ok(_) => return Ok(()),
                Err(SdkError::ServiceError(e)) => e.into_err(),
                Err(e) => return Err(unavailable(e).into()),
            };
            let TransactWriteItemsError::TransactionCanceledException(cancelled) = e else {
                return Err(unavailable(e).into());
            };
            let codes: Vec<&str> = cancelled
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None"))
                .collect();
            if let Some(i) = codes.iter().position(|c| *c == "ConditionalCheckFailed") {
                let index = positions.get(i).copied().unwrap_or(i);
                return Err(WriteError::ConditionFailed { index });
            }
            if codes.contains(&"TransactionConflict") && attempt < RETRIES {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            }
            return Err(StoreError::Unavailable(format!(
                "transaction cancelled: {}",
                codes.join(", ")
            ))
            .into());
        }
    }

    fn transact_item(&self, write: Write) -> Result<TransactWriteItem, StoreError> {
        let built = match write {
            Write::Put { item, condition } => {
                let cond = Cond::of(condition);
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item::to_attributes(item)))
                    .set_condition_expression(cond.expression)
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().put(put)
            }
            Write::Delete { key, condition } => {
                let cond = Cond::of(condition);
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item::key(&key)))
                    .set_condition_expression(cond.expression)
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().delete(delete)
            }
            Write::Check { key, condition } => {
                let cond = Cond::of(condition);
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(item::key(&key)))
                    // `Always` holds whether or not the item exists.
                    .condition_expression(cond.expression.unwrap_or_else(|| {
                        format!(
                            "attribute_exists({0}) OR attribute_not_exists({0})",
                            item::PK
                        )
                    }))
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().condition_check(check)
            }
            Write::Enqueue { .. } | Write::Publish { .. } => {
                return Err(StoreError::Invalid("not an item write".into()));
            }
        };
        Ok(built.build())
    }

    /// Sends a committed transaction's queue messages and events. A
    /// failure here loses nothing that matters: every piece of queued work
    /// has a timer armed by the same transaction, and events are
    /// notifications for others.
    async fn after_commit(
        &self,
        enqueued: BTreeMap<QueueName, Vec<String>>,
        published: Vec<(String, String)>,
    ) {
        let sends = async {
            for (queue, bodies) in enqueued {
                if let Err(e) = self.queue.send(queue, bodies).await {
                    warn!(queue = queue.as_str(), error = %e, "work not queued after its commit; its timer will do it");
                }
            }
        };
        let events = async {
            if !published.is_empty()
                && let Err(e) = self.bus.publish(&published).await
            {
                warn!(events = published.len(), error = %e, "domain events not published");
            }
        };
        tokio::join!(sends, events);
    }
}

impl DynamoStore {
    /// One `BatchGetItem` of up to 100 distinct keys, strongly consistent;
    /// the keys DynamoDB leaves unprocessed (throttling) are asked for again.
    async fn batch_get(&self, keys: &[&Key]) -> Result<Vec<Item>, StoreError> {
        let mut pending: Vec<HashMap<String, AttributeValue>> =
            keys.iter().map(|k| item::key(k)).collect();
        let mut items = Vec::new();
        for attempt in 0..=RETRIES {
            if pending.is_empty() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(true)
                .build()
                .map_err(invalid)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(unavailable)?;
            let read: Vec<Attributes> = out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default();
            let unprocessed = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            for attributes in read {
                let item = item::from_attributes(attributes.clone())?;
                if let Some(usage) = &self.usage {
                    let partition = format!("table {}", item.key.pk);
                    usage.read("BatchGetItem", &partition, &[attributes], true);
                }
                items.push(item);
            }
            pending = unprocessed;
        }
        if let Some(usage) = &self.usage {
            // A key with no item is billed as a read of an empty item.
            for key in keys.iter().filter(|k| !items.iter().any(|i| &&i.key == *k)) {
                usage.read("BatchGetItem", &format!("table {}", key.pk), &[], true);
            }
        }
        if pending.is_empty() {
            Ok(items)
        } else {
            Err(StoreError::Unavailable(format!(
                "BatchGetItem left {} keys unprocessed after {RETRIES} retries",
                pending.len()
            )))
        }
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item::key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        if let Some(usage) = &self.usage {
            usage.read(
                "GetItem",
                &format!("table {}", key.pk),
                out.item.as_slice(),
                true,
            );
        }
        out.item.map(item::from_attributes).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let mut distinct: Vec<&Key> = keys.iter().collect();
        distinct.sort();
        distinct.dedup();
        let mut found: HashMap<Key, Item> = HashMap::new();
        for chunk in distinct.chunks(MAX_BATCH_GET_KEYS) {
            for item in self.batch_get(chunk).await? {
                found.insert(item.key.clone(), item);
            }
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    async fn query(&self, q: &Query) -> Result<Page, StoreError> {
        validate_query(q)?;
        if q.limit == 0 {
            return Ok(Page::default());
        }
        let (pk_name, sk_name, index_name) = item::index_attributes(q.index);
        let mut names = HashMap::from([("#pk".to_owned(), pk_name.to_owned())]);
        let mut values = HashMap::from([(":pk".to_owned(), AttributeValue::S(q.pk.clone()))]);
        let mut bound = |name: &str, value: &String| {
            names.insert("#sk".into(), sk_name.into());
            values.insert(name.into(), AttributeValue::S(value.clone()));
        };
        let range = match &q.sk {
            SortKey::All => String::new(),
            SortKey::BeginsWith(p) => {
                bound(":a", p);
                " AND begins_with(#sk, :a)".into()
            }
            SortKey::Between(lo, hi) => {
                bound(":a", lo);
                bound(":b", hi);
                " AND #sk BETWEEN :a AND :b".into()
            }
            SortKey::AtMost(hi) => {
                bound(":a", hi);
                " AND #sk <= :a".into()
            }
            SortKey::AtLeast(lo) => {
                bound(":a", lo);
                " AND #sk >= :a".into()
            }
        };
        let start = match &q.after {
            None => None,
            Some(after) => Some(start_key(q, after)?),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index_name.map(str::to_owned))
            .key_condition_expression(format!("#pk = :pk{range}"))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .scan_index_forward(!q.descending)
            .consistent_read(q.index == Index::Table)
            .limit(i32::try_from(q.limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        if let Some(usage) = &self.usage {
            let partition = match q.index {
                Index::Table => format!("table {}", q.pk),
                Index::Gsi1 => format!("gsi1 {}", q.pk),
                Index::Gsi2 => format!("gsi2 {}", q.pk),
            };
            usage.read("Query", &partition, out.items(), q.index == Index::Table);
        }
        let more = out.last_evaluated_key.is_some();
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(item::from_attributes)
            .collect::<Result<Vec<_>, _>>()?;
        let next = match items.last() {
            Some(last) if more => Some(Cursor {
                key: last.key.clone(),
                index_sk: match q.index {
                    Index::Table => None,
                    Index::Gsi1 => last.gsi1.as_ref().map(|k| k.sk.clone()),
                    Index::Gsi2 => last.gsi2.as_ref().map(|k| k.sk.clone()),
                },
            }),
            _ => None,
        };
        Ok(Page { items, next })
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), WriteError> {
        validate_writes(&writes)?;
        let mut ops = Vec::new();
        let mut positions = Vec::new();
        let mut enqueued: BTreeMap<QueueName, Vec<String>> = BTreeMap::new();
        let mut published = Vec::new();
        for (i, w) in writes.into_iter().enumerate() {
            match w {
                Write::Enqueue { queue, body } => enqueued.entry(queue).or_default().push(body),
                Write::Publish {
                    detail_type,
                    detail,
                } => published.push((detail_type, detail)),
                op => {
                    ops.push(op);
                    positions.push(i);
                }
            }
        }
        let single_put = match ops.as_slice() {
            [Write::Put { .. }] => match ops.pop() {
                Some(Write::Put { item, condition }) => Some((item, condition)),
                _ => None,
            },
            _ => None,
        };
        match single_put {
            Some((item, condition)) => self.put(item, condition).await.map_err(|e| match e {
                WriteError::ConditionFailed { .. } => WriteError::ConditionFailed {
                    index: positions.first().copied().unwrap_or(0),
                },
                other => other,
            })?,
            None if ops.is_empty() => {
                // Nothing to commit: the messages are the write (a webhook's
                // events), so their failure is its failure.
                for (queue, bodies) in enqueued {
                    self.queue
                        .send(queue, bodies)
                        .await
                        .map_err(|e| WriteError::Store(StoreError::Unavailable(e.to_string())))?;
                }
                self.after_commit(BTreeMap::new(), published).await;
                return Ok(());
            }
            None => self.transact(ops, &positions).await?,
        }
        self.after_commit(enqueued, published).await;
        Ok(())
    }
}

/// A condition as a condition expression.
struct Cond {
    expression: Option<String>,
    names: Option<HashMap<String, String>>,
    values: Option<Attributes>,
}

impl Cond {
    fn of(condition: Condition) -> Cond {
        let plain = |e: String| Cond {
            expression: Some(e),
            names: None,
            values: None,
        };
        match condition {
            Condition::Always => Cond {
                expression: None,
                names: None,
                values: None,
            },
            Condition::Absent => plain(format!("attribute_not_exists({})", item::PK)),
            Condition::Exists => plain(format!("attribute_exists({})", item::PK)),
            Condition::VersionIs(v) => Cond {
                expression: Some("#v = :v".into()),
                names: Some(HashMap::from([("#v".into(), item::VERSION.into())])),
                values: Some(HashMap::from([(
                    ":v".into(),
                    AttributeValue::N(v.to_string()),
                )])),
            },
        }
    }
}

/// The `ExclusiveStartKey` that resumes `q` after `after`.
fn start_key(q: &Query, after: &Cursor) -> Result<Attributes, StoreError> {
    let mut start = item::key(&after.key);
    if q.index != Index::Table {
        let (pk, sk, _) = item::index_attributes(q.index);
        let index_sk = after.index_sk.clone().ok_or_else(|| {
            StoreError::Invalid("an index query's cursor needs the index sort key".into())
        })?;
        start.insert(pk.into(), AttributeValue::S(q.pk.clone()));
        start.insert(sk.into(), AttributeValue::S(index_sk));
    }
    Ok(start)
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

fn invalid(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(e.to_string())
}
