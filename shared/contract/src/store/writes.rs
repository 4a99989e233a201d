//! Writes: what a put stores, conditions, transactions, and the port's
//! limits on a transaction.

use clinicflow_ports::store::{MAX_ITEM_BYTES, MAX_TRANSACTION_ITEMS};
use clinicflow_ports::{Condition, IndexKey, ItemStore, Key, MAX_BATCH_GET_KEYS, Write};
use jiff::Timestamp;

use super::{Run, failed_at, get, invalid, item, put, seed, succeeded, violated};

/// A put stores the item exactly, a replacing put drops what it no longer
/// carries, and a missing key reads as nothing.
pub(crate) async fn round_trip(store: &dyn ItemStore, run: &Run) {
    let what = "put then get returns the item as written";
    let pk = run.pk("round-trip/é ü 日本");
    let mut full = item(&pk, "sk with spaces/#1 ✓", 1);
    full.gsi1 = Some(IndexKey::new(run.pk("rt-g1"), "2024-05-01T10:00:00Z#x"));
    full.gsi2 = Some(IndexKey::new(run.pk("rt-g2"), "b"));
    full.expires_at = Some(Timestamp::now().as_second() + 86_400);
    full.body = r#"{"name":"Zoë \"Z\" O'Brien","note":"line\nbreak","tags":["a",1,null],"nested":{"ok":true}}"#.into();
    seed(store, full.clone(), what).await;
    let read = get(store, &full.key, what).await;
    if read.as_ref() != Some(&full) {
        violated(what, format!("wrote {full:?}, read {read:?}"));
    }

    let what = "a put replaces the whole item, index keys and expiry included";
    let mut bare = item(&pk, &full.key.sk, 2);
    bare.body = "{}".into();
    succeeded(
        what,
        store
            .write(vec![put(bare.clone(), Condition::VersionIs(1))])
            .await,
    );
    let read = get(store, &bare.key, what).await;
    if read.as_ref() != Some(&bare) {
        violated(what, format!("wrote {bare:?}, read {read:?}"));
    }

    let what = "a large item (300 KiB) round-trips";
    let mut large = item(&pk, "large", 1);
    large.body = format!(r#"{{"blob":"{}"}}"#, "x".repeat(300 * 1024));
    seed(store, large.clone(), what).await;
    if get(store, &large.key, what).await.as_ref() != Some(&large) {
        violated(what, "the item read differs from the item written");
    }

    let what = "get of a key never written";
    let missing = Key::new(&pk, "never written");
    if let Some(found) = get(store, &missing, what).await {
        violated(what, format!("expected nothing, read {found:?}"));
    }
    let missing = Key::new(run.pk("no such partition"), "x");
    if let Some(found) = get(store, &missing, what).await {
        violated(what, format!("expected nothing, read {found:?}"));
    }

    let what = "get_many reads each key in order, repeats and absences included";
    let keys = [
        large.key.clone(),
        missing.clone(),
        bare.key.clone(),
        large.key.clone(),
    ];
    let read = store
        .get_many(&keys)
        .await
        .unwrap_or_else(|e| violated(what, e));
    let expected = [Some(&large), None, Some(&bare), Some(&large)];
    if read.iter().map(Option::as_ref).collect::<Vec<_>>() != expected {
        violated(what, format!("read {} items, not as written", read.len()));
    }

    let what = "get_many reads more keys than one batch holds";
    let mut keys: Vec<Key> = (0..MAX_BATCH_GET_KEYS + 20)
        .map(|i| Key::new(&pk, format!("absent {i:03}")))
        .collect();
    keys.push(bare.key.clone());
    let read = store
        .get_many(&keys)
        .await
        .unwrap_or_else(|e| violated(what, e));
    let found: Vec<usize> = (0..read.len()).filter(|i| read[*i].is_some()).collect();
    if read.len() != keys.len() || found != [keys.len() - 1] {
        violated(what, format!("{} answers, items at {found:?}", read.len()));
    }
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Put,
    Delete,
    Check,
}

/// Every condition on every kind of write, against a missing item and an
/// item at version 3: the write applies exactly when the condition holds,
/// and a failed write changes nothing.
pub(crate) async fn conditions(store: &dyn ItemStore, run: &Run) {
    let pk = run.pk("conditions");
    // (condition, holds when the item is missing, holds when at version 3)
    let cases = [
        (Condition::Always, true, true),
        (Condition::Absent, true, false),
        (Condition::Exists, false, true),
        (Condition::VersionIs(3), false, true),
        (Condition::VersionIs(2), false, false),
        (Condition::VersionIs(4), false, false),
        (Condition::VersionIs(0), false, false),
    ];
    for kind in [Kind::Put, Kind::Delete, Kind::Check] {
        for (n, (condition, when_missing, when_present)) in cases.into_iter().enumerate() {
            for present in [false, true] {
                let sk = format!("{kind:?}/{n}/{present}");
                let what = format!(
                    "{kind:?} with {condition:?} on a {} item",
                    if present { "stored" } else { "missing" }
                );
                let before = item(&pk, &sk, 3);
                if present {
                    seed(store, before.clone(), &what).await;
                }
                let mut after = item(&pk, &sk, 4);
                after.body = r#"{"after":true}"#.into();
                let key = before.key.clone();
                let write = match kind {
                    Kind::Put => put(after.clone(), condition),
                    Kind::Delete => Write::Delete {
                        key: key.clone(),
                        condition,
                    },
                    Kind::Check => Write::Check {
                        key: key.clone(),
                        condition,
                    },
                };
                let holds = if present { when_present } else { when_missing };
                let result = store.write(vec![write]).await;
                if holds {
                    succeeded(&what, result);
                } else {
                    failed_at(&what, result, 0);
                }
                let unchanged = present.then(|| before.clone());
                let expected = match (holds, kind) {
                    (true, Kind::Put) => Some(after),
                    (true, Kind::Delete) => None,
                    _ => unchanged,
                };
                let read = get(store, &key, &what).await;
                if read != expected {
                    violated(
                        &what,
                        format!("afterwards expected {expected:?}, read {read:?}"),
                    );
                }
            }
        }
    }
}

/// A transaction applies all its writes or none, and names the first
/// failing condition.
pub(crate) async fn transactions(store: &dyn ItemStore, run: &Run) {
    let pk = run.pk("transactions");
    let a = item(&pk, "a", 1);
    let b = item(&pk, "b", 1);
    let c = item(&pk, "c", 1);
    let d = item(&pk, "d", 1);
    for seeded in [&b, &c, &d] {
        seed(store, seeded.clone(), "transaction set-up").await;
    }
    let b2 = item(&pk, "b", 2);
    let delete_c = Write::Delete {
        key: c.key.clone(),
        condition: Condition::Exists,
    };
    let check_d = |condition| Write::Check {
        key: d.key.clone(),
        condition,
    };

    let failing = [
        (
            "a transaction whose second write fails",
            vec![
                put(a.clone(), Condition::Absent),
                put(b2.clone(), Condition::VersionIs(9)),
                delete_c.clone(),
            ],
            1,
        ),
        (
            "a transaction whose second and third writes fail",
            vec![
                put(a.clone(), Condition::Absent),
                put(b2.clone(), Condition::Absent),
                check_d(Condition::Absent),
                delete_c.clone(),
            ],
            1,
        ),
        (
            "a transaction whose first write fails",
            vec![
                put(a.clone(), Condition::Exists),
                put(b2.clone(), Condition::VersionIs(1)),
                delete_c.clone(),
            ],
            0,
        ),
        (
            "a transaction whose last write (a check) fails",
            vec![
                put(a.clone(), Condition::Absent),
                put(b2.clone(), Condition::VersionIs(1)),
                delete_c.clone(),
                check_d(Condition::VersionIs(7)),
            ],
            3,
        ),
    ];
    for (what, writes, index) in failing {
        failed_at(what, store.write(writes).await, index);
        for (key, expected) in [
            (&a.key, None),
            (&b.key, Some(&b)),
            (&c.key, Some(&c)),
            (&d.key, Some(&d)),
        ] {
            let read = get(store, key, what).await;
            if read.as_ref() != expected {
                violated(
                    what,
                    format!(
                        "nothing may be written; {}: expected {expected:?}, read {read:?}",
                        key.sk
                    ),
                );
            }
        }
    }

    let what = "a transaction whose conditions all hold";
    let writes = vec![
        put(a.clone(), Condition::Absent),
        put(b2.clone(), Condition::VersionIs(1)),
        delete_c,
        check_d(Condition::VersionIs(1)),
    ];
    succeeded(what, store.write(writes).await);
    for (key, expected) in [
        (&a.key, Some(&a)),
        (&b.key, Some(&b2)),
        (&c.key, None),
        (&d.key, Some(&d)),
    ] {
        let read = get(store, key, what).await;
        if read.as_ref() != expected {
            violated(
                what,
                format!(
                    "every write applies; {}: expected {expected:?}, read {read:?}",
                    key.sk
                ),
            );
        }
    }
}

/// Requests breaking the port's rules are `StoreError::Invalid` and write
/// nothing.
pub(crate) async fn validation(store: &dyn ItemStore, run: &Run) {
    let pk = run.pk("validation");
    invalid("an empty transaction", store.write(Vec::new()).await);

    let what = "a transaction of more than MAX_TRANSACTION_ITEMS writes";
    let writes = (0..=MAX_TRANSACTION_ITEMS)
        .map(|i| put(item(&pk, &format!("many/{i:03}"), 1), Condition::Always))
        .collect();
    invalid(what, store.write(writes).await);
    for i in [0, MAX_TRANSACTION_ITEMS] {
        if get(store, &Key::new(&pk, format!("many/{i:03}")), what)
            .await
            .is_some()
        {
            violated(what, "an invalid transaction wrote an item");
        }
    }

    let what = "a transaction of exactly MAX_TRANSACTION_ITEMS writes";
    let writes = (0..MAX_TRANSACTION_ITEMS)
        .map(|i| put(item(&pk, &format!("max/{i:03}"), 1), Condition::Absent))
        .collect();
    succeeded(what, store.write(writes).await);

    let what = "a transaction writing one key twice";
    let writes = vec![
        put(item(&pk, "twice", 1), Condition::Always),
        put(item(&pk, "other", 1), Condition::Always),
        Write::Check {
            key: Key::new(&pk, "twice"),
            condition: Condition::Always,
        },
    ];
    invalid(what, store.write(writes).await);
    for sk in ["twice", "other"] {
        if get(store, &Key::new(&pk, sk), what).await.is_some() {
            violated(what, "an invalid transaction wrote an item");
        }
    }

    let what = "an item larger than MAX_ITEM_BYTES";
    let mut huge = item(&pk, "huge", 1);
    huge.body = format!(r#"{{"blob":"{}"}}"#, "x".repeat(MAX_ITEM_BYTES));
    invalid(
        what,
        store
            .write(vec![put(huge.clone(), Condition::Always)])
            .await,
    );
    if get(store, &huge.key, what).await.is_some() {
        violated(what, "an invalid transaction wrote an item");
    }
}
