//! DynamoDB's capacity units, computed by its documented rules from the
//! items the store actually sends and receives (the emulator does not
//! report them faithfully). On-demand tables bill these units as request
//! units, so they are what a lead costs.
//!
//! The rules (DynamoDB Developer Guide, "Read/write capacity mode" and
//! "Item sizes and formats"):
//! - an item's size is the sum, over its attributes, of the name's UTF-8
//!   length and the value's size (a string's UTF-8 length; a number's
//!   about one byte per two significant digits, plus one);
//! - a write costs one unit per started KB of the larger of the item
//!   before and after it; in a transaction, two;
//! - every global secondary index the item enters, leaves or stays in
//!   costs a write of the projected item (here: all attributes); a changed
//!   index key costs two (the old entry's delete and the new one's put);
//! - a strongly consistent read costs one unit per started 4 KB read (at
//!   least one, also when nothing was found), an eventually consistent one
//!   half of that; a query sums the sizes of the items it returns.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::item::Attributes;

const KB: usize = 1024;
const READ_BLOCK: usize = 4 * KB;

/// The size DynamoDB bills for an item.
pub fn item_size(item: &Attributes) -> usize {
    item.iter()
        .map(|(name, v)| name.len() + value_size(v))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// About one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits = n
        .trim_start_matches(['-', '+'])
        .trim_start_matches(['0', '.'])
        .chars()
        .filter(char::is_ascii_digit)
        .count();
    digits.div_ceil(2) + 1
}

/// What one item's write touches: its size before (when it existed) and
/// after (when it is kept), and its key in each index before and after.
#[derive(Clone, Debug, Default)]
pub struct ItemWrite {
    pub before: Option<usize>,
    pub after: Option<usize>,
    pub index_keys_before: Vec<Option<String>>,
    pub index_keys_after: Vec<Option<String>>,
}

/// Write units of one item written alone (`transactional` false) or in a
/// transaction: the table's, and the indexes'.
pub fn write_units(write: &ItemWrite, transactional: bool) -> (f64, f64) {
    let mut parts = partition_units("", write, transactional).into_iter();
    let table = parts.next().map_or(0.0, |(_, units)| units);
    (table, parts.map(|(_, units)| units).sum())
}

/// The units of [`write_units`], by the partition that takes them:
/// `table <pk>` first, for the item, then `gsi<n> <pk>` for each index
/// entry removed or added (an entry is `<pk>\0<sk>`; one that moves bills
/// its old and its new partition).
pub fn partition_units(
    table_pk: &str,
    write: &ItemWrite,
    transactional: bool,
) -> Vec<(String, f64)> {
    let units = |size: Option<usize>| blocks(size.unwrap_or(0), KB).max(1) as f64;
    let factor = if transactional { 2.0 } else { 1.0 };
    let larger = write.before.unwrap_or(0).max(write.after.unwrap_or(0));
    let mut out = vec![(format!("table {table_pk}"), factor * units(Some(larger)))];
    let partition = |slot: usize, entry: &str| {
        let pk = entry.split('\0').next().unwrap_or_default();
        format!("gsi{} {pk}", slot + 1)
    };
    let slots = write
        .index_keys_before
        .len()
        .max(write.index_keys_after.len());
    for slot in 0..slots {
        let old = write.index_keys_before.get(slot).cloned().flatten();
        let new = write.index_keys_after.get(slot).cloned().flatten();
        match (old, new) {
            (None, None) => {}
            (None, Some(b)) => out.push((partition(slot, &b), units(write.after))),
            (Some(a), None) => out.push((partition(slot, &a), units(write.before))),
            (Some(a), Some(b)) if a == b => {
                out.push((partition(slot, &b), units(write.after.max(write.before))))
            }
            (Some(a), Some(b)) => {
                out.push((partition(slot, &a), units(write.before)));
                out.push((partition(slot, &b), units(write.after)));
            }
        }
    }
    out
}

/// Read units of a read that returned `bytes` of items in all.
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = blocks(bytes, READ_BLOCK).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

fn blocks(bytes: usize, block: usize) -> usize {
    bytes.div_ceil(block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn sizes_follow_the_documented_rules() {
        // "pk" (2) + "a#1" (3), "v" (1) + 12345 (3 digits pairs -> 3 + 1).
        let it = item(&[
            ("pk", AttributeValue::S("a#1".into())),
            ("v", AttributeValue::N("12345".into())),
            ("ok", AttributeValue::Bool(true)),
        ]);
        assert_eq!(item_size(&it), 2 + 3 + 1 + 4 + 2 + 1);
        assert_eq!(number_size("0.0012"), 2);
        assert_eq!(number_size("-7"), 2);
    }

    #[test]
    fn writes_round_up_to_a_kilobyte_and_double_in_transactions() {
        let new = ItemWrite {
            after: Some(1025),
            ..ItemWrite::default()
        };
        assert_eq!(write_units(&new, false), (2.0, 0.0));
        assert_eq!(write_units(&new, true), (4.0, 0.0));
        let shrink = ItemWrite {
            before: Some(3000),
            after: Some(100),
            ..ItemWrite::default()
        };
        assert_eq!(write_units(&shrink, false).0, 3.0);
    }

    #[test]
    fn index_entries_cost_a_write_each_and_a_moved_key_two() {
        let key = |k: &str| Some(k.to_owned());
        let moved = ItemWrite {
            before: Some(500),
            after: Some(500),
            index_keys_before: vec![key("a"), key("x")],
            index_keys_after: vec![key("b"), key("x")],
        };
        assert_eq!(write_units(&moved, false), (1.0, 3.0));
        let left = ItemWrite {
            before: Some(500),
            after: None,
            index_keys_before: vec![key("a"), None],
            index_keys_after: vec![None, None],
        };
        assert_eq!(write_units(&left, true), (2.0, 1.0));
    }

    #[test]
    fn reads_round_up_to_four_kilobytes_and_halve_when_eventual() {
        assert_eq!(read_units(0, true), 1.0);
        assert_eq!(read_units(4097, true), 2.0);
        assert_eq!(read_units(100, false), 0.5);
    }
}
