//! Items in SQL: applying a transaction's writes, reading one item, and
//! queries on the table and the two secondary indexes.
//!
//! Strings compare with SQLite's BINARY collation, byte by byte in UTF-8:
//! the order of Rust's `str` and of DynamoDB's string keys.

use clinicflow_ports::store::validate_query;
use clinicflow_ports::{
    Condition, Cursor, Index, IndexKey, Item, Key, Page, Query, SortKey, StoreError, Write,
    WriteError,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

const COLUMNS: &str = "pk, sk, version, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, body";

/// A SQL failure as the port reports it.
pub(crate) fn sql_error(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("database error: {e}"))
}

/// Applies the writes in order, each under its condition; the first one
/// whose condition fails stops the job with its index, and the caller's
/// savepoint undoes the writes already applied.
///
/// A condition is checked with as little work as it needs: `Always` reads
/// nothing, `Absent` lets the insert's primary key refuse a duplicate, the
/// others read the stored version.
pub(crate) fn apply(conn: &Connection, writes: &[Write]) -> Result<(), WriteError> {
    for (index, write) in writes.iter().enumerate() {
        let failed = || WriteError::ConditionFailed { index };
        let is_put = matches!(write, Write::Put { .. });
        if let (Some(key), Some(condition)) = (write.key(), write.condition())
            && (matches!(condition, Condition::Exists | Condition::VersionIs(_))
                || (condition == Condition::Absent && !is_put))
        {
            let current = version_of(conn, key).map_err(sql_error)?;
            if !holds(condition, current) {
                return Err(failed());
            }
        }
        match write {
            Write::Put { item, condition } => {
                let absent = *condition == Condition::Absent;
                if !put(conn, item, absent)? {
                    return Err(failed());
                }
            }
            Write::Delete { key, .. } => {
                conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")
                    .and_then(|mut stmt| stmt.execute(params![key.pk, key.sk]))
                    .map_err(sql_error)?;
            }
            Write::Check { .. } => {}
            Write::Enqueue { queue, body } => {
                crate::queue::insert(conn, *queue, std::slice::from_ref(body))
                    .map_err(sql_error)?;
            }
            // Nobody subscribes on one machine (see the port).
            Write::Publish { .. } => {}
        }
    }
    Ok(())
}

fn holds(condition: Condition, current: Option<u64>) -> bool {
    match condition {
        Condition::Always => true,
        Condition::Absent => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::VersionIs(version) => current == Some(version),
    }
}

fn version_of(conn: &Connection, key: &Key) -> Result<Option<u64>, rusqlite::Error> {
    conn.prepare_cached("SELECT version FROM items WHERE pk = ?1 AND sk = ?2")?
        .query_row(params![key.pk, key.sk], |row| version_column(row, 0))
        .optional()
}

/// An item's version as SQLite stores it (a signed 64-bit integer).
pub(crate) fn stored_version(item: &Item) -> Result<i64, StoreError> {
    i64::try_from(item.version).map_err(|_| {
        StoreError::Invalid(format!(
            "version {} of item {}/{} is beyond {}",
            item.version,
            item.key.pk,
            item.key.sk,
            i64::MAX
        ))
    })
}

const INSERT: &str = "INSERT INTO items (pk, sk, version, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const REPLACE: &str = "INSERT OR REPLACE INTO items (pk, sk, version, gsi1pk, gsi1sk, gsi2pk, gsi2sk, expires_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Stores the item as given: when `absent` only if no item has its key
/// (false when one has), otherwise replacing any item under its key.
fn put(conn: &Connection, item: &Item, absent: bool) -> Result<bool, WriteError> {
    let version = stored_version(item)?;
    let (gsi1pk, gsi1sk) = split(item.gsi1.as_ref());
    let (gsi2pk, gsi2sk) = split(item.gsi2.as_ref());
    let inserted = conn
        .prepare_cached(if absent { INSERT } else { REPLACE })
        .and_then(|mut stmt| {
            stmt.execute(params![
                item.key.pk,
                item.key.sk,
                version,
                gsi1pk,
                gsi1sk,
                gsi2pk,
                gsi2sk,
                item.expires_at,
                item.body
            ])
        });
    match inserted {
        Ok(_) => Ok(true),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if absent && e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            Ok(false)
        }
        Err(e) => Err(sql_error(e).into()),
    }
}

fn split(key: Option<&IndexKey>) -> (Option<&str>, Option<&str>) {
    match key {
        Some(k) => (Some(k.pk.as_str()), Some(k.sk.as_str())),
        None => (None, None),
    }
}

/// The item under `key`.
pub(crate) fn get(conn: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM items WHERE pk = ?1 AND sk = ?2"
    ))
    .and_then(|mut stmt| stmt.query_row(params![key.pk, key.sk], item_row).optional())
    .map_err(sql_error)
}

/// Deletes the items whose `expires_at` is before `now` (Unix seconds).
pub(crate) fn purge_expired(conn: &Connection, now: i64) -> Result<u64, StoreError> {
    conn.prepare_cached("DELETE FROM items WHERE expires_at IS NOT NULL AND expires_at < ?1")
        .and_then(|mut stmt| stmt.execute(params![now]))
        .map(|n| n as u64)
        .map_err(sql_error)
}

/// One page of a query: up to `limit` items in the query's order, and a
/// cursor when more follow (checked by reading one item more).
pub(crate) fn query(conn: &Connection, q: &Query) -> Result<Page, StoreError> {
    validate_query(q)?;
    if q.limit == 0 {
        return Ok(Page::default());
    }
    let (pk_col, sk_col) = match q.index {
        Index::Table => ("pk", "sk"),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        Index::Gsi2 => ("gsi2pk", "gsi2sk"),
    };
    let mut sql = format!("SELECT {COLUMNS} FROM items WHERE {pk_col} = ?");
    let mut args: Vec<Value> = vec![Value::Text(q.pk.clone())];
    let mut bound = |sql: &mut String, op: &str, value: &str| {
        sql.push_str(&format!(" AND {sk_col} {op} ?"));
        args.push(Value::Text(value.to_owned()));
    };
    match &q.sk {
        SortKey::All => {}
        SortKey::BeginsWith(prefix) => {
            bound(&mut sql, ">=", prefix);
            if let Some(end) = prefix_end(prefix) {
                bound(&mut sql, "<", &end);
            }
        }
        SortKey::Between(lo, hi) => {
            bound(&mut sql, ">=", lo);
            bound(&mut sql, "<=", hi);
        }
        SortKey::AtMost(hi) => bound(&mut sql, "<=", hi),
        SortKey::AtLeast(lo) => bound(&mut sql, ">=", lo),
    }
    let op = if q.descending { "<" } else { ">" };
    if let Some(after) = &q.after {
        match q.index {
            Index::Table => {
                sql.push_str(&format!(" AND sk {op} ?"));
                args.push(Value::Text(after.key.sk.clone()));
            }
            Index::Gsi1 | Index::Gsi2 => {
                let Some(index_sk) = &after.index_sk else {
                    return Err(StoreError::Invalid(
                        "an index query's cursor needs the index sort key".into(),
                    ));
                };
                sql.push_str(&format!(" AND ({sk_col}, pk, sk) {op} (?, ?, ?)"));
                args.extend(
                    [index_sk, &after.key.pk, &after.key.sk].map(|s| Value::Text(s.clone())),
                );
            }
        }
    }
    let dir = if q.descending { "DESC" } else { "ASC" };
    match q.index {
        Index::Table => sql.push_str(&format!(" ORDER BY sk {dir}")),
        Index::Gsi1 | Index::Gsi2 => {
            sql.push_str(&format!(" ORDER BY {sk_col} {dir}, pk {dir}, sk {dir}"))
        }
    }
    sql.push_str(" LIMIT ?");
    args.push(Value::Integer(
        i64::try_from(q.limit.saturating_add(1)).unwrap_or(i64::MAX),
    ));

    let mut items = conn
        .prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.query_map(params_from_iter(args), item_row)?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(sql_error)?;
    let next = if items.len() > q.limit {
        items.truncate(q.limit);
        items.last().map(|last| cursor(q.index, last))
    } else {
        None
    };
    Ok(Page { items, next })
}

/// The cursor resuming after `item` in a query of `index`.
fn cursor(index: Index, item: &Item) -> Cursor {
    let index_sk = match index {
        Index::Table => None,
        Index::Gsi1 => item.gsi1.as_ref().map(|k| k.sk.clone()),
        Index::Gsi2 => item.gsi2.as_ref().map(|k| k.sk.clone()),
    };
    Cursor {
        key: item.key.clone(),
        index_sk,
    }
}

/// The least string above every string starting with `prefix`, if any:
/// the prefix with its last character incremented (dropping trailing
/// characters that cannot be). UTF-8 byte order is code-point order, so
/// `prefix <= s < prefix_end(prefix)` exactly when `s` starts with `prefix`.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn version_column(row: &Row<'_>, idx: usize) -> Result<u64, rusqlite::Error> {
    let v: i64 = row.get(idx)?;
    u64::try_from(v).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(idx, v))
}

fn item_row(row: &Row<'_>) -> Result<Item, rusqlite::Error> {
    let index_key = |pk: Option<String>, sk: Option<String>| match (pk, sk) {
        (Some(pk), Some(sk)) => Some(IndexKey { pk, sk }),
        _ => None,
    };
    Ok(Item {
        key: Key {
            pk: row.get(0)?,
            sk: row.get(1)?,
        },
        version: version_column(row, 2)?,
        gsi1: index_key(row.get(3)?, row.get(4)?),
        gsi2: index_key(row.get(5)?, row.get(6)?),
        expires_at: row.get(7)?,
        body: row.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_bounds_exactly_the_strings_with_the_prefix() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("").as_deref(), None);
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}").as_deref(), None);
        assert_eq!(prefix_end("x\u{D7FF}").as_deref(), Some("x\u{E000}"));
        let end = prefix_end("é").unwrap_or_default();
        for s in ["é", "éa", "é\u{10FFFF}"] {
            assert!("é" <= s && s < end.as_str(), "{s:?}");
        }
        for s in ["e", "ê", "f", "ẽ"] {
            assert!(!("é" <= s && s < end.as_str()), "{s:?}");
        }
    }
}
