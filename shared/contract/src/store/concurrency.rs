//! Conditions under contention: racing creates have one winner, and
//! optimistic read-modify-write loops lose no update.

use clinicflow_ports::{Condition, ItemStore, Key, WriteError};

use super::{Run, get, item, put, seed, violated};
use crate::join::join_all;

const RACERS: usize = 50;
const WORKERS: usize = 10;
const INCREMENTS_EACH: usize = 10;

/// Fifty concurrent creates of one key: exactly one succeeds, the others
/// see their condition fail, and the item is the winner's.
pub(crate) async fn racing_creates(store: &dyn ItemStore, run: &Run) {
    let what = "concurrent puts of one key under Condition::Absent";
    let pk = run.pk("race");
    let racers = (0..RACERS).map(|n| {
        let mut it = item(&pk, "contested", 1);
        it.body = format!(r#"{{"racer":{n}}}"#);
        async move {
            (
                it.clone(),
                store.write(vec![put(it, Condition::Absent)]).await,
            )
        }
    });
    let mut winners = Vec::new();
    for (it, result) in join_all(racers).await {
        match result {
            Ok(()) => winners.push(it),
            Err(WriteError::ConditionFailed { index: 0 }) => {}
            Err(e) => violated(
                what,
                format!("a racer failed otherwise than by its condition: {e:?}"),
            ),
        }
    }
    let [winner] = winners.as_slice() else {
        violated(
            what,
            format!("expected exactly one success, got {}", winners.len()),
        )
    };
    let stored = get(store, &winner.key, what).await;
    if stored.as_ref() != Some(winner) {
        violated(
            what,
            format!("the winner wrote {winner:?}, read {stored:?}"),
        );
    }
}

/// Many workers increment one counter with `VersionIs` and retry on
/// conflict: every increment lands, and each one bumped the version.
pub(crate) async fn optimistic_updates(store: &dyn ItemStore, run: &Run) {
    let what = "concurrent optimistic increments with Condition::VersionIs";
    let key = Key::new(run.pk("counter"), "counter");
    let mut counter = item(&key.pk, &key.sk, 1);
    counter.body = "0".into();
    seed(store, counter, what).await;
    let key = &key;
    let workers = (0..WORKERS).map(|_| async move {
        let mut conflicts = 0usize;
        for _ in 0..INCREMENTS_EACH {
            loop {
                let Some(current) = get(store, key, what).await else {
                    violated(what, "the counter disappeared");
                };
                let Ok(count) = current.body.parse::<u64>() else {
                    violated(what, format!("the counter holds {:?}", current.body));
                };
                let mut next = current.clone();
                next.version = current.version + 1;
                next.body = (count + 1).to_string();
                match store
                    .write(vec![put(next, Condition::VersionIs(current.version))])
                    .await
                {
                    Ok(()) => break,
                    Err(WriteError::ConditionFailed { index: 0 }) => {
                        conflicts += 1;
                        if conflicts > 100_000 {
                            violated(what, "a worker never gets its update in");
                        }
                    }
                    Err(e) => violated(
                        what,
                        format!("an update failed otherwise than by its condition: {e:?}"),
                    ),
                }
            }
        }
    });
    join_all(workers).await;
    let total = WORKERS * INCREMENTS_EACH;
    let Some(last) = get(store, key, what).await else {
        violated(what, "the counter disappeared");
    };
    if last.body != total.to_string() || last.version != total as u64 + 1 {
        violated(
            what,
            format!(
                "expected count {total} at version {}, got count {} at version {}",
                total + 1,
                last.body,
                last.version
            ),
        );
    }
}
