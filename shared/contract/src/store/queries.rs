//! Queries: sort-key ranges, order, limits and cursors, on the table and
//! on both secondary indexes.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use clinicflow_ports::{
    Condition, Index, IndexKey, Item, ItemStore, Key, Query, SortKey, StoreError, Write,
};

use super::{Run, item, put, seed, succeeded, violated};
use crate::INDEX_SETTLE;

/// Page sizes every listing is read with, besides "all in one page".
const PAGE_SIZES: [usize; 3] = [7, 3, 1];

fn index_key(item: &Item, index: Index) -> Option<&IndexKey> {
    match index {
        Index::Table => None,
        Index::Gsi1 => item.gsi1.as_ref(),
        Index::Gsi2 => item.gsi2.as_ref(),
    }
}

fn set_index_key(item: &mut Item, index: Index, key: Option<IndexKey>) {
    match index {
        Index::Table => {}
        Index::Gsi1 => item.gsi1 = key,
        Index::Gsi2 => item.gsi2 = key,
    }
}

/// The sort key a query of `index` orders `item` by.
fn sort_key(item: &Item, index: Index) -> Option<&str> {
    match index {
        Index::Table => Some(&item.key.sk),
        Index::Gsi1 | Index::Gsi2 => index_key(item, index).map(|k| k.sk.as_str()),
    }
}

fn query(index: Index, pk: &str, sk: SortKey, descending: bool, limit: usize) -> Query {
    Query {
        index,
        pk: pk.to_owned(),
        sk,
        descending,
        limit,
        after: None,
    }
}

/// Reads every page of `q` (from its start, `q.limit` items a page),
/// checking each page: no more than the limit, a cursor naming the last
/// item, and no more items overall than `at_most` (a cursor that does not
/// advance).
async fn all_pages(store: &dyn ItemStore, q: &Query, at_most: usize) -> Result<Vec<Item>, String> {
    let mut q = q.clone();
    q.after = None;
    let mut items = Vec::new();
    loop {
        let page = store
            .query(&q)
            .await
            .map_err(|e| format!("{q:?} failed: {e}"))?;
        if page.items.len() > q.limit {
            return Err(format!(
                "a page of {} items for a limit of {}",
                page.items.len(),
                q.limit
            ));
        }
        let Some(next) = page.next else {
            items.extend(page.items);
            return Ok(items);
        };
        let Some(last) = page.items.last() else {
            return Err(format!("an empty page with a cursor ({next:?})"));
        };
        let last_index_sk = index_key(last, q.index).map(|k| k.sk.clone());
        if next.key != last.key || (q.index != Index::Table && next.index_sk != last_index_sk) {
            return Err(format!(
                "the cursor {next:?} does not name the page's last item {last:?}"
            ));
        }
        items.extend(page.items);
        if items.len() > at_most {
            return Err(format!(
                "pagination returned more than the {at_most} items expected: it repeats"
            ));
        }
        q.after = Some(next);
    }
}

/// Retries `attempt` until it holds or [`INDEX_SETTLE`] passes: index
/// queries may lag behind writes.
async fn eventually<F, Fut>(what: &str, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + INDEX_SETTLE;
    loop {
        match attempt().await {
            Ok(()) => return,
            Err(detail) if tokio::time::Instant::now() >= deadline => violated(what, detail),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn keys(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| format!("{}/{}", i.key.pk, i.key.sk))
        .collect()
}

/// The sort-key ranges checked on `sks` (which must be sorted): every
/// variant, with bounds on, between and beyond the stored keys.
fn ranges(sks: &[&str]) -> Vec<SortKey> {
    let first = sks.first().copied().unwrap_or_default();
    let last = sks.last().copied().unwrap_or_default();
    let mid = sks.get(sks.len() / 2).copied().unwrap_or_default();
    let quarter = sks.get(sks.len() / 4).copied().unwrap_or_default();
    let s = |v: &str| v.to_owned();
    // No empty bounds: DynamoDB rejects empty key values in conditions.
    let mut ranges = vec![
        SortKey::All,
        SortKey::Between(s(quarter), s(mid)),
        SortKey::Between(s(mid), s(mid)),
        SortKey::Between(format!("{quarter}~"), format!("{mid}~")),
        SortKey::Between(s("!"), format!("{last}~")),
        SortKey::AtMost(s(mid)),
        SortKey::AtMost(format!("{mid}~")),
        SortKey::AtMost(s(first)),
        SortKey::AtLeast(s(mid)),
        SortKey::AtLeast(format!("{mid}~")),
        SortKey::AtLeast(s(last)),
        SortKey::AtLeast(format!("{last}~")),
        SortKey::BeginsWith(s(mid)),
        SortKey::BeginsWith(format!("{last}~")),
    ];
    let shorter: String = mid
        .chars()
        .take(mid.chars().count().saturating_sub(1))
        .collect();
    if !shorter.is_empty() {
        ranges.push(SortKey::BeginsWith(shorter));
    }
    ranges
}

/// Checks every range, in both directions and with every page size, on a
/// table partition holding exactly `stored`.
async fn table_listings(
    store: &dyn ItemStore,
    pk: &str,
    stored: &[Item],
    extra: &[SortKey],
    what: &str,
) {
    let mut stored = stored.to_vec();
    stored.sort_by(|a, b| a.key.sk.cmp(&b.key.sk));
    let sks: Vec<&str> = stored.iter().map(|i| i.key.sk.as_str()).collect();
    let mut checked = ranges(&sks);
    checked.extend_from_slice(extra);
    for range in checked {
        for descending in [false, true] {
            let mut expected: Vec<Item> = stored
                .iter()
                .filter(|i| range.matches(&i.key.sk))
                .cloned()
                .collect();
            if descending {
                expected.reverse();
            }
            for limit in [1000, expected.len().max(1)].into_iter().chain(PAGE_SIZES) {
                let q = query(Index::Table, pk, range.clone(), descending, limit);
                let what = format!("{what}: {range:?}, descending {descending}, {limit} a page");
                let got = match all_pages(store, &q, expected.len()).await {
                    Ok(got) => got,
                    Err(detail) => violated(&what, detail),
                };
                if got != expected {
                    violated(
                        &what,
                        format!("expected {:?}, got {:?}", keys(&expected), keys(&got)),
                    );
                }
            }
        }
    }
}

/// Table queries: one partition, its neighbours kept out.
pub(crate) async fn table(store: &dyn ItemStore, run: &Run) {
    let pk = run.pk("table");
    let stored: Vec<Item> = (0..25)
        .map(|i| format!("item#{i:02}"))
        .chain((0..3).map(|i| format!("other#{i}")))
        .map(|sk| item(&pk, &sk, 1))
        .collect();
    let writes = stored
        .iter()
        .map(|i| put(i.clone(), Condition::Always))
        .collect();
    succeeded("table query set-up", store.write(writes).await);
    for neighbour in [run.pk("tabl"), run.pk("table0"), format!("{pk}#")] {
        seed(store, item(&neighbour, "item#05", 1), "table query set-up").await;
    }
    let extra = [
        SortKey::BeginsWith("item#1".into()),
        SortKey::BeginsWith("item#".into()),
        SortKey::BeginsWith("other".into()),
        SortKey::Between("item#05".into(), "item#08".into()),
        SortKey::AtMost("item#03".into()),
        SortKey::AtLeast("other#".into()),
    ];
    table_listings(store, &pk, &stored, &extra, "table query").await;

    let what = "a query with a limit of 0";
    match store
        .query(&query(Index::Table, &pk, SortKey::All, false, 0))
        .await
    {
        Ok(page) if page.items.is_empty() && page.next.is_none() => {}
        other => violated(
            what,
            format!("expected no items and no cursor, got {other:?}"),
        ),
    }

    let what = "a query of a partition never written";
    match store
        .query(&Query::partition(run.pk("no such partition")))
        .await
    {
        Ok(page) if page.items.is_empty() && page.next.is_none() => {}
        other => violated(
            what,
            format!("expected no items and no cursor, got {other:?}"),
        ),
    }

    let what = "a range whose lower bound is above its upper bound";
    let inverted = query(
        Index::Table,
        &pk,
        SortKey::Between("item#09".into(), "item#01".into()),
        false,
        10,
    );
    match store.query(&inverted).await {
        Err(StoreError::Invalid(_)) => {}
        other => violated(what, format!("expected StoreError::Invalid, got {other:?}")),
    }

    let what = "resuming after an item deleted since its page was read";
    let first = match store
        .query(&query(Index::Table, &pk, SortKey::All, false, 5))
        .await
    {
        Ok(page) => page,
        Err(e) => violated(what, e),
    };
    let (Some(last), Some(cursor)) = (first.items.last(), first.next.clone()) else {
        violated(
            what,
            format!("expected a full first page with a cursor, got {first:?}"),
        )
    };
    let delete = Write::Delete {
        key: last.key.clone(),
        condition: Condition::Exists,
    };
    succeeded(what, store.write(vec![delete]).await);
    let mut rest = query(Index::Table, &pk, SortKey::All, false, 1000);
    rest.after = Some(cursor);
    match store.query(&rest).await {
        Ok(page) if page.items == stored[5..] => {}
        other => violated(
            what,
            format!("expected {:?}, got {other:?}", keys(&stored[5..])),
        ),
    }
}

/// Sort keys order by their UTF-8 bytes (DynamoDB's order), and
/// `BeginsWith` matches exactly the keys with the prefix.
pub(crate) async fn byte_order(store: &dyn ItemStore, run: &Run) {
    let pk = run.pk("byte-order");
    let sks = [
        "0",
        "Z",
        "a",
        "a b",
        "a\u{1}",
        "z",
        "é",
        "éa",
        "ê",
        "\u{D7FF}x",
        "\u{E000}",
        "\u{FFFF}",
        "😀",
        "😀😀",
    ];
    let stored: Vec<Item> = sks.iter().map(|sk| item(&pk, sk, 1)).collect();
    let writes = stored
        .iter()
        .map(|i| put(i.clone(), Condition::Always))
        .collect();
    succeeded("byte-order set-up", store.write(writes).await);
    let extra = [
        SortKey::BeginsWith("é".into()),
        SortKey::BeginsWith("a".into()),
        SortKey::BeginsWith("\u{D7FF}".into()),
        SortKey::BeginsWith("\u{FFFF}".into()),
        SortKey::BeginsWith("😀".into()),
        SortKey::Between("a".into(), "é".into()),
        SortKey::AtLeast("\u{FFFF}".into()),
    ];
    table_listings(store, &pk, &stored, &extra, "sort-key byte order").await;
}

/// Checks that the `index` partition `pk` lists exactly `expected` (in any
/// order among equal index sort keys) for `q`.
async fn index_listing(
    store: &dyn ItemStore,
    q: &Query,
    expected: &BTreeMap<Key, Item>,
) -> Result<(), String> {
    let got = all_pages(store, q, expected.len()).await?;
    let mut seen = BTreeMap::new();
    for item in &got {
        if expected.get(&item.key) != Some(item) {
            return Err(format!(
                "unexpected item {item:?}; expected {:?}",
                expected.keys().collect::<Vec<_>>()
            ));
        }
        if seen.insert(item.key.clone(), ()).is_some() {
            return Err(format!("{:?} returned twice", item.key));
        }
    }
    if seen.len() != expected.len() {
        return Err(format!(
            "expected {:?}, got {:?}",
            expected.keys().collect::<Vec<_>>(),
            keys(&got)
        ));
    }
    let order: Vec<&str> = got.iter().filter_map(|i| sort_key(i, q.index)).collect();
    let sorted = order.windows(2).all(|w| {
        if q.descending {
            w[0] >= w[1]
        } else {
            w[0] <= w[1]
        }
    });
    if !sorted {
        return Err(format!("not in index sort-key order: {order:?}"));
    }
    Ok(())
}

/// Both secondary indexes: only items whose key in that index names the
/// partition, by index sort key, with ranges and pagination (equal index
/// sort keys included).
pub(crate) async fn index(store: &dyn ItemStore, run: &Run) {
    for (index, other) in [(Index::Gsi1, Index::Gsi2), (Index::Gsi2, Index::Gsi1)] {
        let g = run.pk(&format!("{index:?}/g"));
        let elsewhere = run.pk(&format!("{index:?}/g-other"));
        let table_pk = |i: usize| run.pk(&format!("{index:?}/t{}", i % 3));
        let mut indexed = BTreeMap::new();
        let mut writes = Vec::new();
        for i in 0..18 {
            let mut it = item(&table_pk(i), &format!("s{i:02}"), 1);
            // Three items for each index sort key, across table partitions.
            set_index_key(
                &mut it,
                index,
                Some(IndexKey::new(&g, format!("isk#{}", i % 6))),
            );
            set_index_key(
                &mut it,
                other,
                Some(IndexKey::new(&elsewhere, format!("isk#{i}"))),
            );
            indexed.insert(it.key.clone(), it.clone());
            writes.push(put(it, Condition::Always));
        }
        for i in 0..3 {
            // In another partition of the index; in no index; and in the
            // same partition name, but of the other index.
            let mut there = item(&table_pk(i), &format!("o{i}"), 1);
            set_index_key(&mut there, index, Some(IndexKey::new(&elsewhere, "isk#1")));
            let nowhere = item(&table_pk(i), &format!("n{i}"), 1);
            let mut decoy = item(&table_pk(i), &format!("d{i}"), 1);
            set_index_key(&mut decoy, other, Some(IndexKey::new(&g, "isk#1")));
            writes.extend([there, nowhere, decoy].map(|i| put(i, Condition::Always)));
        }
        succeeded("index query set-up", store.write(writes).await);

        let sks: Vec<String> = (0..6).map(|i| format!("isk#{i}")).collect();
        let sks: Vec<&str> = sks.iter().map(String::as_str).collect();
        let mut checked = ranges(&sks);
        checked.push(SortKey::BeginsWith("isk#".into()));
        checked.push(SortKey::Between("isk#2".into(), "isk#4".into()));
        for range in checked {
            let expected: BTreeMap<Key, Item> = indexed
                .iter()
                .filter(|(_, i)| sort_key(i, index).is_some_and(|sk| range.matches(sk)))
                .map(|(k, i)| (k.clone(), i.clone()))
                .collect();
            for descending in [false, true] {
                for limit in [1000, expected.len().max(1)].into_iter().chain(PAGE_SIZES) {
                    let q = query(index, &g, range.clone(), descending, limit);
                    let what = format!(
                        "{index:?} query: {range:?}, descending {descending}, {limit} a page"
                    );
                    let (q, expected) = (&q, &expected);
                    eventually(&what, move || index_listing(store, q, expected)).await;
                }
            }
        }

        let what = format!("a {index:?} query whose cursor lacks the index sort key");
        let mut q = query(index, &g, SortKey::All, false, 5);
        q.after = Some(clinicflow_ports::Cursor {
            key: Key::new(table_pk(0), "s00"),
            index_sk: None,
        });
        match store.query(&q).await {
            Err(StoreError::Invalid(_)) => {}
            other => violated(
                &what,
                format!("expected StoreError::Invalid, got {other:?}"),
            ),
        }
    }
}

/// Replacing an item moves it within and between index partitions, and
/// out of the index when it no longer has a key there.
pub(crate) async fn index_moves(store: &dyn ItemStore, run: &Run) {
    for index in [Index::Gsi1, Index::Gsi2] {
        let ga = run.pk(&format!("{index:?}/moves-a"));
        let gb = run.pk(&format!("{index:?}/moves-b"));
        let tpk = run.pk(&format!("{index:?}/moves"));
        let with_key = |sk: &str, version: u64, key: Option<IndexKey>| {
            let mut it = item(&tpk, sk, version);
            set_index_key(&mut it, index, key);
            it
        };
        let stay = with_key("stay", 1, Some(IndexKey::new(&ga, "k2")));
        seed(store, stay.clone(), "index move set-up").await;
        let steps = [
            (
                "indexed in partition A",
                Some(IndexKey::new(&ga, "k1")),
                vec![0, 1],
                vec![],
            ),
            (
                "moved to a later index sort key",
                Some(IndexKey::new(&ga, "k3")),
                vec![1, 0],
                vec![],
            ),
            (
                "moved to partition B",
                Some(IndexKey::new(&gb, "k1")),
                vec![1],
                vec![0],
            ),
            ("removed from the index", None, vec![1], vec![]),
            (
                "indexed in partition B again",
                Some(IndexKey::new(&gb, "k9")),
                vec![1],
                vec![0],
            ),
        ];
        let mut version = 0;
        for (step, key, in_a, in_b) in steps {
            version += 1;
            let moving = with_key("moving", version, key);
            seed(store, moving.clone(), step).await;
            let both = [moving, stay.clone()];
            for (g, positions) in [(&ga, in_a), (&gb, in_b)] {
                let expected: Vec<Item> = positions
                    .iter()
                    .filter_map(|p| both.get(*p).cloned())
                    .collect();
                let q = query(index, g, SortKey::All, false, 100);
                let what = format!("{index:?} after the item was {step}");
                let (q, expected) = (&q, &expected);
                eventually(&what, move || async move {
                    let got = all_pages(store, q, expected.len()).await?;
                    if got == *expected {
                        Ok(())
                    } else {
                        Err(format!(
                            "expected {:?}, got {:?}",
                            keys(expected),
                            keys(&got)
                        ))
                    }
                })
                .await;
            }
        }
        let what = format!("{index:?} after the item was deleted");
        let delete = Write::Delete {
            key: Key::new(&tpk, "moving"),
            condition: Condition::Exists,
        };
        succeeded(&what, store.write(vec![delete]).await);
        let q = query(index, &gb, SortKey::All, false, 100);
        let q = &q;
        eventually(&what, move || async move {
            let got = all_pages(store, q, 0).await?;
            if got.is_empty() {
                Ok(())
            } else {
                Err(format!("expected nothing, got {:?}", keys(&got)))
            }
        })
        .await;
    }
}
