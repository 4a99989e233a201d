//! The embedded engine: Clinicflow's item store and work queues on one
//! machine, durable in a SQLite database in WAL mode.
//!
//! - [`Database::open`] locks a data directory (one process at a time),
//!   opens `clinicflow.db` in it and creates or migrates the schema.
//! - [`EmbeddedStore`] implements the item-store port with DynamoDB's
//!   semantics; [`EmbeddedQueue`] implements the queue port and the
//!   consumer side (receive, delete, retry, dead letters) that an event
//!   source mapping plays on AWS.
//! - Every write goes through one writer thread that commits jobs in
//!   groups (one fsync per group, `synchronous=FULL`): a caller is answered
//!   only once its write is durable, and survives `kill -9` from then on.
//! - Reads run on a small pool of read-only connections, concurrently with
//!   the writer, and always see every write already answered.

mod items;
mod queue;
mod readers;
mod schema;
mod store;
mod writer;

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use clinicflow_ports::{QueueName, StoreError};
use tokio::sync::Notify;

pub use queue::{Delivery, EmbeddedQueue, QueueStats};
pub use store::EmbeddedStore;

use readers::Readers;
use writer::{Lane, Writer};

/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "clinicflow.db";

/// The lock file that keeps a second process out of the data directory.
pub const LOCK_FILE: &str = "LOCK";

/// How a database is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// How many times a queue message is delivered before the next receive
    /// moves it to the dead letters instead (SQS's `maxReceiveCount`).
    pub max_receives: u32,
    /// Read-only connections serving `get`, `query` and queue statistics.
    pub read_connections: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_receives: 5,
            read_connections: 4,
        }
    }
}

/// An open data directory. Hand out [`Database::store`] and
/// [`Database::queue`]; the directory stays locked until the database and
/// every handle taken from it are dropped.
#[derive(Clone)]
pub struct Database {
    shared: Arc<Shared>,
}

/// What the database and its handles share. Fields drop in order: the
/// readers first, then the writer (it finishes the jobs queued and, as the
/// last connection, checkpoints the WAL into the database file), and the
/// lock last, so the next process finds the database closed.
pub(crate) struct Shared {
    pub(crate) readers: Arc<Readers>,
    pub(crate) writer: Writer,
    /// One per queue in [`QueueName::ALL`]: wakes consumers on send.
    pub(crate) wakeups: Vec<Notify>,
    pub(crate) options: Options,
    dir: PathBuf,
    _lock: File,
}

impl Shared {
    pub(crate) fn wakeup(&self, queue: QueueName) -> Option<&Notify> {
        let slot = QueueName::ALL.iter().position(|q| *q == queue)?;
        self.wakeups.get(slot)
    }

    /// Tells `queue`'s consumers that messages were committed to it: wakes
    /// every waiting one, and leaves a permit for one that is between an
    /// empty receive and its wait.
    pub(crate) fn wake(&self, queue: QueueName) {
        if let Some(notify) = self.wakeup(queue) {
            notify.notify_waiters();
            notify.notify_one();
        }
    }
}

impl Database {
    /// Opens (creating if needed) the data directory `dir` with default
    /// options.
    pub fn open(dir: &Path) -> Result<Database, StoreError> {
        Database::open_with(dir, Options::default())
    }

    /// Opens (creating if needed) the data directory `dir`. Fails when
    /// another process — or another `Database` in this one — has it open.
    pub fn open_with(dir: &Path, options: Options) -> Result<Database, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
        let lock = lock_dir(dir)?;
        let path = dir.join(DATABASE_FILE);
        let conn = schema::open_writer(&path)?;
        let writer = Writer::start(conn)?;
        let readers = Readers::open(&path, options.read_connections.max(1))?;
        let wakeups = QueueName::ALL.iter().map(|_| Notify::new()).collect();
        Ok(Database {
            shared: Arc::new(Shared {
                readers: Arc::new(readers),
                writer,
                wakeups,
                options,
                dir: dir.to_path_buf(),
                _lock: lock,
            }),
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The item store, for requests someone is waiting on: its writes are
    /// committed ahead of background ones.
    pub fn store(&self) -> EmbeddedStore {
        EmbeddedStore::new(self.shared.clone(), Lane::Interactive)
    }

    /// The item store for work behind the scenes (queue consumers, timer
    /// sweeps): its writes make room for interactive ones, and are never
    /// starved by them.
    pub fn background_store(&self) -> EmbeddedStore {
        EmbeddedStore::new(self.shared.clone(), Lane::Background)
    }

    /// The work queues.
    pub fn queue(&self) -> EmbeddedQueue {
        EmbeddedQueue::new(self.shared.clone())
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

/// Takes the exclusive lock on `dir/LOCK`, held for as long as the file is
/// open. The operating system releases it when the process dies, however
/// it dies.
fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| {
            StoreError::Unavailable(format!("cannot open the lock file {}: {e}", path.display()))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(StoreError::Unavailable(format!(
            "the data directory {} is in use by another Clinicflow process; stop it or choose another directory",
            dir.display()
        ))),
        Err(TryLockError::Error(e)) => Err(StoreError::Unavailable(format!(
            "cannot lock the data directory {}: {e}",
            dir.display()
        ))),
    }
}

/// The system clock in Unix milliseconds (queue visibility).
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
