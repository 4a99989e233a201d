#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The item store: the contract suite, and what the embedded engine
//! promises beyond it (tie order in indexes, expiry, group commit).

use std::sync::Arc;

use clinicflow_embedded::Database;
use clinicflow_ports::{
    Condition, Index, IndexKey, Item, ItemStore, Key, Query, SortKey, Write, WriteError,
};
use tokio::task::JoinSet;

fn item(pk: &str, sk: &str) -> Item {
    Item {
        key: Key::new(pk, sk),
        version: 1,
        gsi1: None,
        gsi2: None,
        expires_at: None,
        body: format!(r#"{{"sk":"{sk}"}}"#),
    }
}

fn put(item: Item, condition: Condition) -> Write {
    Write::Put { item, condition }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_item_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    clinicflow_contract::item_store(&db.store()).await;
    // Again on the same data: a run's keys never collide with an earlier run's.
    clinicflow_contract::item_store(&db.store()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_contract_again_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    clinicflow_contract::item_store(&db.store()).await;
    drop(db);
    let db = Database::open(dir.path()).unwrap();
    clinicflow_contract::item_store(&db.store()).await;
}

#[tokio::test]
async fn index_queries_break_ties_by_table_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Database::open(dir.path()).unwrap().store();
    let mut expected = Vec::new();
    let mut writes = Vec::new();
    for (pk, sk, isk) in [
        ("b", "2", "x"),
        ("a", "9", "x"),
        ("b", "1", "x"),
        ("a", "1", "y"),
        ("c", "0", "w"),
    ] {
        let mut it = item(pk, sk);
        it.gsi2 = Some(IndexKey::new("g", isk));
        expected.push((isk, pk, sk));
        writes.push(put(it, Condition::Absent));
    }
    store.write(writes).await.unwrap();
    expected.sort();
    let order = |items: &[Item]| -> Vec<(String, String, String)> {
        items
            .iter()
            .map(|i| {
                (
                    i.gsi2.clone().unwrap().sk,
                    i.key.pk.clone(),
                    i.key.sk.clone(),
                )
            })
            .collect()
    };
    let want: Vec<(String, String, String)> = expected
        .iter()
        .map(|(i, p, s)| (i.to_string(), p.to_string(), s.to_string()))
        .collect();
    for descending in [false, true] {
        let mut query = Query {
            index: Index::Gsi2,
            pk: "g".into(),
            sk: SortKey::All,
            descending,
            limit: 2,
            after: None,
        };
        let mut got = Vec::new();
        loop {
            let page = store.query(&query).await.unwrap();
            got.extend(order(&page.items));
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        let mut want = want.clone();
        if descending {
            want.reverse();
        }
        assert_eq!(got, want, "descending {descending}");
    }
}

#[tokio::test]
async fn a_full_last_page_has_no_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = Database::open(dir.path()).unwrap().store();
    let writes = (0..4)
        .map(|i| put(item("p", &i.to_string()), Condition::Absent))
        .collect();
    store.write(writes).await.unwrap();
    let mut query = Query::partition("p");
    query.limit = 2;
    let first = store.query(&query).await.unwrap();
    assert_eq!(first.items.len(), 2);
    query.after = first.next;
    let second = store.query(&query).await.unwrap();
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.next, None);
}

#[tokio::test]
async fn expired_items_stay_until_purged() {
    let dir = tempfile::tempdir().unwrap();
    let store = Database::open(dir.path()).unwrap().store();
    let now = 1_700_000_000;
    let mut writes = Vec::new();
    for (sk, expires_at) in [
        ("past", Some(now - 1)),
        ("now", Some(now)),
        ("future", Some(now + 1)),
        ("never", None),
    ] {
        let mut it = item("ttl", sk);
        it.expires_at = expires_at;
        writes.push(put(it, Condition::Absent));
    }
    store.write(writes).await.unwrap();
    assert!(store.get(&Key::new("ttl", "past")).await.unwrap().is_some());
    assert_eq!(
        store
            .query(&Query::partition("ttl"))
            .await
            .unwrap()
            .items
            .len(),
        4
    );

    assert_eq!(store.purge_expired(now).await.unwrap(), 1);
    let left: Vec<String> = store
        .query(&Query::partition("ttl"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|i| i.key.sk)
        .collect();
    assert_eq!(left, ["future", "never", "now"]);
    assert_eq!(store.purge_expired(now + 2).await.unwrap(), 2);
    assert_eq!(
        store
            .query(&Query::partition("ttl"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn versions_beyond_i64_are_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let store = Database::open(dir.path()).unwrap().store();
    let mut it = item("v", "big");
    it.version = u64::MAX;
    let result = store.write(vec![put(it, Condition::Always)]).await;
    assert!(
        matches!(
            result,
            Err(WriteError::Store(clinicflow_ports::StoreError::Invalid(_)))
        ),
        "{result:?}"
    );
}

/// Two hundred writers at once, plus jobs whose conditions fail among
/// them: every other write commits and is readable, the failed ones leave
/// no trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_commit_together_without_affecting_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let store = db.store();
    store
        .write(vec![put(item("group", "taken"), Condition::Absent)])
        .await
        .unwrap();

    let barrier = Arc::new(tokio::sync::Barrier::new(203));
    let mut tasks = JoinSet::new();
    for n in 0..200 {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            let result = store
                .write(vec![put(
                    item("group", &format!("k{n:03}")),
                    Condition::Absent,
                )])
                .await;
            (n, result)
        });
    }
    for n in [1000, 1001] {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            // Fails at its second write, so its first must not land either.
            let writes = vec![
                put(item("group", &format!("k{n}")), Condition::Absent),
                Write::Check {
                    key: Key::new("group", "taken"),
                    condition: Condition::Absent,
                },
            ];
            (n, store.write(writes).await)
        });
    }
    {
        let (store, barrier) = (store.clone(), barrier.clone());
        tasks.spawn(async move {
            barrier.wait().await;
            (
                2000,
                store
                    .write(vec![put(item("group", "taken"), Condition::Absent)])
                    .await,
            )
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (n, result) = joined.unwrap();
        match n {
            0..200 => result.unwrap(),
            1000 | 1001 => assert!(
                matches!(result, Err(WriteError::ConditionFailed { index: 1 })),
                "{result:?}"
            ),
            _ => assert!(
                matches!(result, Err(WriteError::ConditionFailed { index: 0 })),
                "{result:?}"
            ),
        }
    }
    let page = store.query(&Query::partition("group")).await.unwrap();
    let mut expected: Vec<String> = (0..200).map(|n| format!("k{n:03}")).collect();
    expected.push("taken".into());
    let got: Vec<String> = page.items.into_iter().map(|i| i.key.sk).collect();
    assert_eq!(got, expected);
}
