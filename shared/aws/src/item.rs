//! Items as DynamoDB attribute maps. The table's attributes:
//!
//! | attribute | type | holds |
//! |---|---|---|
//! | `pk`, `sk` | S | the table key |
//! | `gsi1pk`, `gsi1sk` | S | the first index's key, when the item is in it |
//! | `gsi2pk`, `gsi2sk` | S | the second index's key, when the item is in it |
//! | `v` | N | the item's version |
//! | `expires_at` | N | Unix seconds; the table's TTL attribute |
//! | `body` | S | the entity as JSON |

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use clinicflow_ports::{Index, IndexKey, Item, Key, StoreError};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const VERSION: &str = "v";
pub const EXPIRES_AT: &str = "expires_at";
pub const BODY: &str = "body";

pub type Attributes = HashMap<String, AttributeValue>;

/// The names of an index's key attributes, and the index's name.
pub fn index_attributes(index: Index) -> (&'static str, &'static str, Option<&'static str>) {
    match index {
        Index::Table => (PK, SK, None),
        Index::Gsi1 => ("gsi1pk", "gsi1sk", Some("gsi1")),
        Index::Gsi2 => ("gsi2pk", "gsi2sk", Some("gsi2")),
    }
}

pub fn key(key: &Key) -> Attributes {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

pub fn to_attributes(item: Item) -> Attributes {
    let mut a = key(&item.key);
    a.insert(VERSION.into(), AttributeValue::N(item.version.to_string()));
    for (index, k) in [(Index::Gsi1, item.gsi1), (Index::Gsi2, item.gsi2)] {
        if let Some(k) = k {
            let (pk, sk, _) = index_attributes(index);
            a.insert(pk.into(), AttributeValue::S(k.pk));
            a.insert(sk.into(), AttributeValue::S(k.sk));
        }
    }
    if let Some(at) = item.expires_at {
        a.insert(EXPIRES_AT.into(), AttributeValue::N(at.to_string()));
    }
    a.insert(BODY.into(), AttributeValue::S(item.body));
    a
}

pub fn from_attributes(mut a: Attributes) -> Result<Item, StoreError> {
    let key = Key::new(string(&mut a, PK)?, string(&mut a, SK)?);
    let bad = |what: &str| StoreError::Unavailable(format!("item {}/{}: {what}", key.pk, key.sk));
    let version = number(&mut a, VERSION)
        .ok_or_else(|| bad("no version"))?
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| bad("bad version"))?;
    let expires_at = number(&mut a, EXPIRES_AT)
        .map(|n| n.ok_or_else(|| bad("bad expiry")))
        .transpose()?;
    let mut index_key = |index| {
        let (pk, sk, _) = index_attributes(index);
        match (string(&mut a, pk).ok(), string(&mut a, sk).ok()) {
            (Some(pk), Some(sk)) => Some(IndexKey::new(pk, sk)),
            _ => None,
        }
    };
    let gsi1 = index_key(Index::Gsi1);
    let gsi2 = index_key(Index::Gsi2);
    let body = string(&mut a, BODY).map_err(|_| bad("no body"))?;
    Ok(Item {
        key,
        version,
        gsi1,
        gsi2,
        expires_at,
        body,
    })
}

fn string(a: &mut Attributes, name: &str) -> Result<String, StoreError> {
    match a.remove(name) {
        Some(AttributeValue::S(s)) => Ok(s),
        _ => Err(StoreError::Unavailable(format!(
            "stored item without the string attribute `{name}`"
        ))),
    }
}

/// `None` when absent; `Some(None)` when present but not an integer.
fn number(a: &mut Attributes, name: &str) -> Option<Option<i64>> {
    match a.remove(name) {
        Some(AttributeValue::N(n)) => Some(n.parse().ok()),
        Some(_) => Some(None),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_survives_the_round_trip() {
        let item = Item {
            key: Key::new("T#c#L#1", "LEAD"),
            version: 7,
            gsi1: Some(IndexKey::new("T#c#LEADS", "2026-11-25")),
            gsi2: None,
            expires_at: Some(1_800_000_000),
            body: r#"{"a":1}"#.into(),
        };
        assert_eq!(
            from_attributes(to_attributes(item.clone())).ok(),
            Some(item)
        );
    }
}
