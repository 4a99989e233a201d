//! A small pool of read-only connections. In WAL mode readers never wait
//! for the writer, and each read sees every commit that finished before it
//! started — so a read issued after a write's answer sees that write.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clinicflow_ports::StoreError;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::schema;

pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection: at most that many reads at a time.
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn open(path: &Path, connections: usize) -> Result<Readers, StoreError> {
        let idle = (0..connections)
            .map(|_| schema::open_reader(path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Readers {
            path: path.to_path_buf(),
            idle: Mutex::new(idle),
            permits: Arc::new(Semaphore::new(connections)),
        })
    }

    /// Runs `read` on a pooled connection, off the async runtime.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store's readers are closed".into()))?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.checkout()?;
            let result = read(&conn);
            pool.checkin(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("a store read failed: {e}")))?
    }

    fn checkout(&self) -> Result<Connection, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            // Only if a read panicked or a connection was dropped.
            None => schema::open_reader(&self.path),
        }
    }

    fn checkin(&self, conn: Connection) {
        // A connection left inside a transaction would read an old
        // snapshot forever: end it, or drop the connection.
        if !conn.is_autocommit()
            && (conn.execute_batch("ROLLBACK").is_err() || !conn.is_autocommit())
        {
            return;
        }
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }
}
