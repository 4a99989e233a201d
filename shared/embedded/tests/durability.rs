#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Durability: what was acknowledged is there after a reopen and after the
//! process is killed; one process at a time per data directory.

use std::io::{BufRead, BufReader, Read, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clinicflow_embedded::Database;
use clinicflow_ports::{Condition, IndexKey, Item, ItemStore, Key, Query, StoreError, Write};

/// Set in the child process of the crash test: the data directory.
const CRASH_CHILD_DIR: &str = "CLINICFLOW_EMBEDDED_CRASH_CHILD_DIR";

fn item(pk: &str, sk: &str) -> Item {
    Item {
        key: Key::new(pk, sk),
        version: 1,
        gsi1: Some(IndexKey::new("by-sk", sk)),
        gsi2: None,
        expires_at: Some(4_000_000_000),
        body: format!(r#"{{"sk":"{sk}"}}"#),
    }
}

#[tokio::test]
async fn writes_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    let store = db.store();
    let items: Vec<Item> = (0..50)
        .map(|n| item("durable", &format!("{n:02}")))
        .collect();
    for it in &items {
        let write = Write::Put {
            item: it.clone(),
            condition: Condition::Absent,
        };
        store.write(vec![write]).await.unwrap();
    }
    let deleted = Write::Delete {
        key: items[0].key.clone(),
        condition: Condition::Exists,
    };
    store.write(vec![deleted]).await.unwrap();
    drop(store);
    drop(db);
    // Closed for good: the last connection checkpointed and removed the WAL.
    assert!(!dir.path().join("clinicflow.db-wal").exists());

    let db = Database::open(dir.path()).unwrap();
    let store = db.store();
    let page = store.query(&Query::partition("durable")).await.unwrap();
    assert_eq!(page.items, items[1..]);
    assert_eq!(
        store.get(&items[7].key).await.unwrap().as_ref(),
        Some(&items[7])
    );
    assert_eq!(store.get(&items[0].key).await.unwrap(), None);
}

#[test]
fn a_data_directory_opens_once_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path()).unwrap();
    match Database::open(dir.path()) {
        Err(StoreError::Unavailable(message)) => {
            assert!(
                message.contains(&dir.path().display().to_string()),
                "{message}"
            );
            assert!(message.contains("another Clinicflow process"), "{message}");
        }
        other => panic!("a second open should fail, got {other:?}"),
    }
    drop(db);
    Database::open(dir.path()).unwrap();
}

#[test]
fn opening_reports_the_path_it_cannot_use() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    match Database::open(&file) {
        Err(StoreError::Unavailable(message)) => {
            assert!(message.contains("not-a-directory"), "{message}")
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Runs in the child process of the crash test only: writes items from
/// four tasks, printing each key once its write is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_CHILD_DIR) else {
        return;
    };
    let db = Database::open(std::path::Path::new(&dir)).unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..4 {
        let store = db.store();
        tasks.spawn(async move {
            for n in 0..1_000_000 {
                let sk = format!("{worker}-{n:07}");
                let write = Write::Put {
                    item: item("crash", &sk),
                    condition: Condition::Absent,
                };
                store.write(vec![write]).await.unwrap();
                let mut out = std::io::stdout().lock();
                writeln!(out, "ack {sk}").unwrap();
                out.flush().unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Kills the child process if the test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Kills a writing process with SIGKILL mid-stream: every write it had
/// acknowledged is there when the directory is opened again.
#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CRASH_CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut acked = Vec::new();
    let started = Instant::now();
    let mut line = String::new();
    while acked.len() < 300 {
        line.clear();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let mut stderr = String::new();
            child
                .0
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            panic!(
                "the child stopped after {} acknowledgements: {stderr}",
                acked.len()
            );
        }
        if let Some(sk) = line.trim_end().strip_prefix("ack ") {
            acked.push(sk.to_owned());
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the child writes too slowly"
        );
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    // Acknowledgements printed before the kill are still in the pipe.
    for line in stdout.lines() {
        if let Some(sk) = line.unwrap().strip_prefix("ack ") {
            acked.push(sk.to_owned());
        }
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let db = Database::open(dir.path()).unwrap();
        let store = db.store();
        for sk in &acked {
            let found = store.get(&Key::new("crash", sk.as_str())).await.unwrap();
            assert_eq!(
                found,
                Some(item("crash", sk)),
                "acknowledged write {sk} lost"
            );
        }
    });
}
