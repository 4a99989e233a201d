//! What a deployment uses of AWS, as the adapters see it: every request
//! sent, by service and operation (counted on the wire, retries
//! included), and DynamoDB's capacity units by operation, computed from
//! the items sent and received (see [`crate::capacity`]). The tests and
//! measurements read it; a deployed function does not keep one.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

use crate::capacity::{self, ItemWrite};
use crate::item::{self, Attributes};
use clinicflow_ports::Index;

/// DynamoDB capacity units of one operation, summed over its calls.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Capacity {
    pub read_units: f64,
    /// The table's write units.
    pub write_units: f64,
    /// The global secondary indexes' write units.
    pub index_write_units: f64,
}

impl Capacity {
    pub fn total_write_units(&self) -> f64 {
        self.write_units + self.index_write_units
    }
}

/// One item of a write as it was sent: the whole item of a put, the key
/// of a delete or a condition check.
pub(crate) enum Touch<'a> {
    Put(&'a Attributes),
    Delete(&'a Attributes),
    Check(&'a Attributes),
}

impl<'a> Touch<'a> {
    pub(crate) fn of(entry: &'a TransactWriteItem) -> Option<Touch<'a>> {
        if let Some(put) = entry.put() {
            Some(Touch::Put(put.item()))
        } else if let Some(delete) = entry.delete() {
            Some(Touch::Delete(delete.key()))
        } else {
            entry
                .condition_check()
                .map(|check| Touch::Check(check.key()))
        }
    }

    /// The item's table key, `pk` and `sk`.
    fn key(&self) -> TableKey {
        let attributes = match self {
            Touch::Put(a) | Touch::Delete(a) | Touch::Check(a) => a,
        };
        let text = |name| match attributes.get(name) {
            Some(AttributeValue::S(s)) => s.clone(),
            _ => String::new(),
        };
        (text(item::PK), text(item::SK))
    }
}

#[derive(Default)]
struct Ledger {
    requests: BTreeMap<(String, String), u64>,
    capacity: BTreeMap<String, Capacity>,
    /// Units by the partition that took them (`table <pk>`, `gsi1 <pk>`).
    partitions: BTreeMap<String, Capacity>,
    /// Size and index keys of every item this usage saw written: a write
    /// bills the larger of before and after, and an index entry moves.
    items: HashMap<TableKey, (usize, IndexKeys)>,
}

/// An item's `pk` and `sk`.
type TableKey = (String, String);
/// An item's key in each global secondary index, if it is in it.
type IndexKeys = Vec<Option<String>>;

/// Requests and capacity units; clone it to share one between clients.
#[derive(Clone, Default)]
pub struct Usage {
    ledger: Arc<Mutex<Ledger>>,
}

impl std::fmt::Debug for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Usage")
            .field("requests", &self.requests())
            .finish()
    }
}

impl Usage {
    /// Requests sent, keyed by (service, operation), e.g. `("dynamodb",
    /// "TransactWriteItems")`.
    pub fn requests(&self) -> BTreeMap<(String, String), u64> {
        self.with(|l| l.requests.clone()).unwrap_or_default()
    }

    pub fn total_requests(&self) -> u64 {
        self.requests().values().sum()
    }

    /// DynamoDB capacity units by operation.
    pub fn capacity(&self) -> BTreeMap<String, Capacity> {
        self.with(|l| l.capacity.clone()).unwrap_or_default()
    }

    /// DynamoDB capacity units by the partition key that took them:
    /// `table <pk>` or `gsi1 <pk>` / `gsi2 <pk>` (index writes count as
    /// `write_units` of the index's partition).
    pub fn partitions(&self) -> BTreeMap<String, Capacity> {
        self.with(|l| l.partitions.clone()).unwrap_or_default()
    }

    /// Starts counting afresh (what was written stays known).
    pub fn reset(&self) {
        self.with(|l| {
            l.requests.clear();
            l.capacity.clear();
            l.partitions.clear();
        });
    }

    fn with<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> Option<T> {
        self.ledger.lock().ok().map(|mut l| f(&mut l))
    }

    pub(crate) fn read(
        &self,
        operation: &str,
        partition: &str,
        items: &[Attributes],
        consistent: bool,
    ) {
        let bytes = items.iter().map(capacity::item_size).sum();
        let units = capacity::read_units(bytes, consistent);
        self.with(|l| {
            l.capacity
                .entry(operation.to_owned())
                .or_default()
                .read_units += units;
            l.partitions
                .entry(partition.to_owned())
                .or_default()
                .read_units += units;
        });
    }

    /// Bills `touches` written by `operation`; when they were `committed`,
    /// remembers the items as they now are. A write refused by its
    /// condition bills the table's units and no index's.
    pub(crate) fn write(
        &self,
        operation: &str,
        touches: &[Touch],
        transactional: bool,
        committed: bool,
    ) {
        self.with(|l| {
            let mut billed = Capacity::default();
            for touch in touches {
                let key = touch.key();
                let (before, keys_before) = match l.items.get(&key) {
                    Some((size, keys)) => (Some(*size), keys.clone()),
                    None => (None, vec![None, None]),
                };
                let write = match touch {
                    Touch::Put(attributes) => ItemWrite {
                        before,
                        after: Some(capacity::item_size(attributes)),
                        index_keys_before: keys_before,
                        index_keys_after: index_keys(attributes),
                    },
                    Touch::Delete(_) => ItemWrite {
                        before,
                        after: None,
                        index_keys_before: keys_before,
                        index_keys_after: vec![None, None],
                    },
                    Touch::Check(_) => ItemWrite {
                        before,
                        after: before,
                        ..ItemWrite::default()
                    },
                };
                let parts = capacity::partition_units(&key.0, &write, transactional);
                let table = parts.first().map_or(0.0, |(_, units)| *units);
                let index: f64 = parts.iter().skip(1).map(|(_, units)| units).sum();
                billed.write_units += table;
                // A refused write bills its item, not the indexes.
                let billed_parts = if committed { parts.len() } else { 1 };
                for (partition, units) in parts.into_iter().take(billed_parts) {
                    l.partitions.entry(partition).or_default().write_units += units;
                }
                if committed {
                    billed.index_write_units += index;
                    match touch {
                        Touch::Put(_) => {
                            let after = write.after.unwrap_or(0);
                            l.items.insert(key, (after, write.index_keys_after.clone()));
                        }
                        Touch::Delete(_) => {
                            l.items.remove(&key);
                        }
                        Touch::Check(_) => {}
                    }
                }
            }
            let entry = l.capacity.entry(operation.to_owned()).or_default();
            entry.write_units += billed.write_units;
            entry.index_write_units += billed.index_write_units;
        });
    }

    fn count(&self, service: &str, operation: &str) {
        self.with(|l| {
            *l.requests
                .entry((service.to_lowercase(), operation.to_owned()))
                .or_default() += 1;
        });
    }
}

/// The item's key in each global secondary index, if it is in it.
fn index_keys(attributes: &Attributes) -> IndexKeys {
    [Index::Gsi1, Index::Gsi2]
        .into_iter()
        .map(|index| {
            let (pk, sk, _) = item::index_attributes(index);
            match (attributes.get(pk), attributes.get(sk)) {
                (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => {
                    Some(format!("{pk}\u{0}{sk}"))
                }
                _ => None,
            }
        })
        .collect()
}

impl Intercept for Usage {
    fn name(&self) -> &'static str {
        "Usage"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.count(m.service(), m.name());
        }
        Ok(())
    }
}
