#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The embedded queues: delivery, visibility, retries, dead letters,
//! recovery after a crash, and waking consumers.

use std::time::{Duration, Instant};

use clinicflow_embedded::{Database, EmbeddedQueue, Options, QueueStats};
use clinicflow_ports::{Queue, QueueName};

const LONG: Duration = Duration::from_secs(60);

fn bodies(names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| format!(r#"{{"lead":"{n}"}}"#))
        .collect()
}

async fn stats(queue: &EmbeddedQueue, name: QueueName) -> QueueStats {
    queue.stats().await.unwrap().get(&name).copied().unwrap()
}

fn stat(visible: u64, in_flight: u64, dead: u64) -> QueueStats {
    QueueStats {
        visible,
        in_flight,
        dead,
    }
}

#[tokio::test]
async fn send_receive_delete() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Database::open(dir.path()).unwrap().queue();
    queue
        .send(QueueName::Leads, bodies(&["a", "b", "c"]))
        .await
        .unwrap();
    queue.send(QueueName::Outbox, bodies(&["x"])).await.unwrap();
    assert_eq!(stats(&queue, QueueName::Leads).await, stat(3, 0, 0));

    let got = queue.receive(QueueName::Leads, 10, LONG).await.unwrap();
    assert_eq!(
        got.iter().map(|d| d.body.clone()).collect::<Vec<_>>(),
        bodies(&["a", "b", "c"])
    );
    assert!(got.iter().all(|d| d.receive_count == 1));
    assert!(
        queue
            .receive(QueueName::Leads, 10, LONG)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(stats(&queue, QueueName::Leads).await, stat(0, 3, 0));
    assert_eq!(stats(&queue, QueueName::Outbox).await, stat(1, 0, 0));

    let ids: Vec<i64> = got.iter().map(|d| d.id).collect();
    queue.delete(QueueName::Leads, &ids).await.unwrap();
    assert_eq!(stats(&queue, QueueName::Leads).await, stat(0, 0, 0));
    // Deleting again, or from the wrong queue, is harmless.
    queue.delete(QueueName::Leads, &ids).await.unwrap();
    let outbox = queue.receive(QueueName::Outbox, 10, LONG).await.unwrap();
    queue
        .delete(QueueName::Leads, &[outbox[0].id])
        .await
        .unwrap();
    assert_eq!(stats(&queue, QueueName::Outbox).await, stat(0, 1, 0));
    assert!(
        queue
            .receive(QueueName::Leads, 0, LONG)
            .await
            .unwrap()
            .is_empty()
    );
    queue.send(QueueName::Leads, Vec::new()).await.unwrap();
}

#[tokio::test]
async fn messages_come_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Database::open(dir.path()).unwrap().queue();
    let first: Vec<String> = (0..10).map(|n| format!("{n}")).collect();
    let second: Vec<String> = (10..15).map(|n| format!("{n}")).collect();
    queue.send(QueueName::Outbox, first).await.unwrap();
    queue.send(QueueName::Outbox, second).await.unwrap();
    let mut got = Vec::new();
    loop {
        let batch = queue.receive(QueueName::Outbox, 4, LONG).await.unwrap();
        if batch.is_empty() {
            break;
        }
        assert!(batch.len() <= 4);
        got.extend(batch);
    }
    assert_eq!(
        got.iter().map(|d| d.body.clone()).collect::<Vec<_>>(),
        (0..15).map(|n| n.to_string()).collect::<Vec<_>>()
    );
    assert!(got.windows(2).all(|w| w[0].id < w[1].id));
}

#[tokio::test]
async fn an_undeleted_message_comes_back_after_its_visibility_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Database::open(dir.path()).unwrap().queue();
    queue.send(QueueName::Leads, bodies(&["a"])).await.unwrap();
    let visibility = Duration::from_millis(1500);
    let before = Instant::now();
    let first = queue
        .receive(QueueName::Leads, 1, visibility)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let hidden = queue
        .receive(QueueName::Leads, 1, visibility)
        .await
        .unwrap();
    // Only meaningful if this machine was quick enough to ask again in time.
    if before.elapsed() < visibility {
        assert!(
            hidden.is_empty(),
            "received again within its visibility timeout"
        );
    }
    tokio::time::sleep(visibility + Duration::from_millis(500)).await;
    let again = queue.receive(QueueName::Leads, 1, LONG).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, first[0].id);
    assert_eq!(again[0].body, first[0].body);
    assert_eq!(again[0].receive_count, 2);
}

#[tokio::test]
async fn a_message_received_too_often_goes_to_the_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        max_receives: 3,
        ..Options::default()
    };
    let queue = Database::open_with(dir.path(), options).unwrap().queue();
    queue
        .send(QueueName::Outbox, bodies(&["poison"]))
        .await
        .unwrap();
    queue
        .send(QueueName::Outbox, bodies(&["fine"]))
        .await
        .unwrap();
    for count in 1..=3 {
        let got = queue
            .receive(QueueName::Outbox, 1, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].body, bodies(&["poison"])[0]);
        assert_eq!(got[0].receive_count, count);
    }
    // The fourth receive buries the poison message and goes on to the next.
    let got = queue.receive(QueueName::Outbox, 1, LONG).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, bodies(&["fine"])[0]);
    assert_eq!(stats(&queue, QueueName::Outbox).await, stat(0, 1, 1));
    assert_eq!(stats(&queue, QueueName::Leads).await, stat(0, 0, 0));
}

#[tokio::test]
async fn retry_later_delays_a_message_and_keeps_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Database::open(dir.path()).unwrap().queue();
    queue.send(QueueName::Outbox, bodies(&["a"])).await.unwrap();
    let first = queue.receive(QueueName::Outbox, 1, LONG).await.unwrap();
    queue
        .retry_later(QueueName::Outbox, first[0].id, Duration::ZERO)
        .await
        .unwrap();
    let second = queue.receive(QueueName::Outbox, 1, LONG).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, first[0].id);
    assert_eq!(second[0].receive_count, 2);

    queue
        .retry_later(QueueName::Outbox, first[0].id, LONG)
        .await
        .unwrap();
    assert!(
        queue
            .receive(QueueName::Outbox, 1, LONG)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(stats(&queue, QueueName::Outbox).await, stat(0, 1, 0));

    // Unknown ids and other queues' ids are ignored.
    queue
        .retry_later(QueueName::Outbox, 9999, Duration::ZERO)
        .await
        .unwrap();
    queue
        .retry_later(QueueName::Leads, first[0].id, Duration::ZERO)
        .await
        .unwrap();
    assert!(
        queue
            .receive(QueueName::Outbox, 1, LONG)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn messages_and_their_state_survive_a_reopen_and_in_flight_ones_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let queue = db.queue();
    queue
        .send(QueueName::Leads, bodies(&["a", "b", "c"]))
        .await
        .unwrap();
    let taken = queue.receive(QueueName::Leads, 2, LONG).await.unwrap();
    drop(queue);
    drop(db);

    let queue = Database::open(dir.path()).unwrap().queue();
    assert_eq!(stats(&queue, QueueName::Leads).await, stat(1, 2, 0));
    assert_eq!(queue.recover_in_flight().await.unwrap(), 2);
    assert_eq!(stats(&queue, QueueName::Leads).await, stat(3, 0, 0));
    let got = queue.receive(QueueName::Leads, 10, LONG).await.unwrap();
    assert_eq!(
        got.iter().map(|d| d.body.clone()).collect::<Vec<_>>(),
        bodies(&["a", "b", "c"])
    );
    assert_eq!(
        got.iter().map(|d| d.receive_count).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    assert_eq!(got[0].id, taken[0].id);
    assert_eq!(queue.recover_in_flight().await.unwrap(), 3);
}

#[tokio::test]
async fn ids_are_never_reused() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Database::open(dir.path()).unwrap().queue();
    queue.send(QueueName::Leads, bodies(&["a"])).await.unwrap();
    let first = queue.receive(QueueName::Leads, 1, LONG).await.unwrap();
    queue
        .delete(QueueName::Leads, &[first[0].id])
        .await
        .unwrap();
    queue.send(QueueName::Leads, bodies(&["b"])).await.unwrap();
    let second = queue.receive(QueueName::Leads, 1, LONG).await.unwrap();
    assert!(second[0].id > first[0].id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_wakes_on_a_send_and_times_out_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let queue = Database::open(dir.path()).unwrap().queue();

    // Nothing sent: the wait times out.
    assert!(
        !queue
            .wait(QueueName::Leads, Duration::from_millis(200))
            .await
    );

    // A consumer waiting when the message is sent wakes up (long before
    // its timeout); a send to another queue does not wake it.
    let waiter = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.wait(QueueName::Leads, LONG).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    queue
        .send(QueueName::Outbox, bodies(&["other"]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiter.is_finished(),
        "a send to another queue woke the consumer"
    );
    queue.send(QueueName::Leads, bodies(&["a"])).await.unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .unwrap()
        .unwrap();
    assert!(woken);

    // A send between a consumer's (empty) receive and its wait is not
    // missed: the wait returns at once.
    let queue2 = Database::open(tempfile::tempdir().unwrap().path())
        .unwrap()
        .queue();
    assert!(
        queue2
            .receive(QueueName::Outbox, 10, LONG)
            .await
            .unwrap()
            .is_empty()
    );
    queue2
        .send(QueueName::Outbox, bodies(&["b"]))
        .await
        .unwrap();
    let started = Instant::now();
    assert!(queue2.wait(QueueName::Outbox, LONG).await);
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A message enqueued by a transaction is there if and only if the
/// transaction commits, and its commit wakes the queue's consumers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_writes_ride_on_their_transaction() {
    use clinicflow_ports::{Condition, Item, ItemStore, Key, Write, WriteError};

    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let (store, queue) = (db.store(), db.queue());
    let put = || Write::Put {
        item: Item {
            key: Key::new("outbox", "lead"),
            version: 1,
            gsi1: None,
            gsi2: None,
            expires_at: None,
            body: "{}".into(),
        },
        condition: Condition::Absent,
    };
    let enqueue = |name: &str| Write::Enqueue {
        queue: QueueName::Leads,
        body: bodies(&[name]).remove(0),
    };

    let waiter = {
        let queue = queue.clone();
        tokio::spawn(async move { queue.wait(QueueName::Leads, LONG).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    store
        .write(vec![put(), enqueue("committed")])
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .unwrap()
            .unwrap()
    );

    // The same key again: the condition fails, and the message goes nowhere.
    let failed = store.write(vec![put(), enqueue("rolled back")]).await;
    assert!(matches!(
        failed,
        Err(WriteError::ConditionFailed { index: 0 })
    ));

    let got = queue.receive(QueueName::Leads, 10, LONG).await.unwrap();
    let got: Vec<String> = got.into_iter().map(|d| d.body).collect();
    assert_eq!(got, bodies(&["committed"]));
    assert_eq!(stats(&queue, QueueName::Outbox).await, stat(0, 0, 0));
}
