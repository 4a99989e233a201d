//! Opening connections and creating or migrating the schema.
//!
//! The schema version lives in `PRAGMA user_version`; each migration runs
//! in the same transaction that bumps it, so a crash mid-migration leaves
//! the previous version intact.

use std::path::Path;
use std::time::Duration;

use clinicflow_ports::StoreError;
use rusqlite::{Connection, OpenFlags};

/// The schema this build writes.
const SCHEMA_VERSION: i64 = 1;

/// How long a connection waits for a lock held by another before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Migrations, in order: entry `n` brings version `n` to `n + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [r#"
    -- Items: DynamoDB's table and its two secondary indexes.
    CREATE TABLE items (
        pk TEXT NOT NULL,
        sk TEXT NOT NULL,
        version INTEGER NOT NULL,
        gsi1pk TEXT,
        gsi1sk TEXT,
        gsi2pk TEXT,
        gsi2sk TEXT,
        expires_at INTEGER,
        body TEXT NOT NULL,
        PRIMARY KEY (pk, sk)
    ) WITHOUT ROWID;
    CREATE INDEX items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
    CREATE INDEX items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
    CREATE INDEX items_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;

    -- Queues. AUTOINCREMENT: an id is never reused, so a late delete or
    -- retry of a message already handled can never hit a newer one.
    CREATE TABLE queue_messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        body TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        visible_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX queue_messages_visible ON queue_messages (queue, visible_at, id);

    -- Messages received too often without being deleted, under their id.
    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        queue TEXT NOT NULL,
        body TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        failed_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL
    );
    CREATE INDEX dead_letters_queue ON dead_letters (queue, id);
"#];

/// Opens the writer's connection: WAL, `synchronous=FULL` (a commit is on
/// disk before it returns), and the schema up to date.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, StoreError> {
    let fail = |what: &str, e: rusqlite::Error| {
        StoreError::Unavailable(format!(
            "cannot {what} the database {}: {e}",
            path.display()
        ))
    };
    let conn = Connection::open(path).map_err(|e| fail("open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| fail("configure", e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| fail("set WAL mode on", e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "the database {} refused WAL mode (journal mode is {mode})",
            path.display()
        )));
    }
    // FULL: the WAL is synced at every commit, so an acknowledged write
    // survives a crash or power loss. fullfsync matters on macOS only.
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA fullfsync = ON;")
        .map_err(|e| fail("configure", e))?;
    // 32 MiB of page cache keeps the writer's working set (the tails it
    // appends to, the dedupe claims it inserts at random) in memory; a
    // much larger cache costs more than it saves, because SQLite walks it
    // at the end of every transaction. Checkpoints run in larger steps.
    conn.execute_batch(
        "PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 4000;",
    )
    .map_err(|e| fail("configure", e))?;
    tune(&conn).map_err(|e| fail("configure", e))?;
    migrate(&conn).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot migrate the database {}: {e}",
            path.display()
        ))
    })?;
    Ok(conn)
}

/// Opens a read-only connection (after the writer created the schema).
pub(crate) fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let fail = |e: rusqlite::Error| {
        StoreError::Unavailable(format!(
            "cannot open the database {} for reading: {e}",
            path.display()
        ))
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags).map_err(fail)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
    // Readers map the database file; their page cache only holds WAL pages
    // and stays small, because SQLite empties it whenever the database
    // changed since the reader's last read, at a cost that grows with it.
    conn.execute_batch("PRAGMA mmap_size = 268435456;")
        .map_err(fail)?;
    tune(&conn).map_err(fail)?;
    Ok(conn)
}

/// Settings every connection shares. With the query planner stability
/// guarantee, binding a new value (a `LIMIT`) does not re-prepare a
/// cached statement; the statement cache holds every statement we use.
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn migrate(conn: &Connection) -> Result<(), String> {
    loop {
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|e| e.to_string())?;
        if version >= SCHEMA_VERSION {
            if version > SCHEMA_VERSION {
                return Err(format!(
                    "schema version {version} was written by a newer Clinicflow (this one knows {SCHEMA_VERSION})"
                ));
            }
            return Ok(());
        }
        let Some(step) = usize::try_from(version)
            .ok()
            .and_then(|v| MIGRATIONS.get(v))
        else {
            return Err(format!("unknown schema version {version}"));
        };
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {step} PRAGMA user_version = {}; COMMIT;",
            version + 1
        ))
        .map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            format!("migration to version {}: {e}", version + 1)
        })?;
    }
}
