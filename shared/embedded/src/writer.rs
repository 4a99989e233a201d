//! The writer: one thread owning the only writing connection, committing
//! jobs in groups.
//!
//! Durability costs one fsync per commit, so the thread takes the first
//! waiting job, drains whatever else is already queued, and applies them
//! all in one transaction: each job in its own savepoint, rolled back
//! alone when it fails (a failed condition in one job never affects
//! another), then one `COMMIT`. Only after the commit does any job get its
//! answer, so an answer always means "on disk". When the commit fails,
//! every job of the group is told the store is unavailable.
//!
//! Jobs come in two [`Lane`]s. Interactive jobs (a form post waiting for
//! its answer) go into the next group ahead of background jobs (the
//! pipeline behind it), which get a bounded share of each group and whole
//! groups of their own when nothing interactive waits: a burst of form
//! posts is never slowed by the work it creates, and that work never
//! starves.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::thread::JoinHandle;

use clinicflow_ports::StoreError;
use rusqlite::Connection;
use tokio::sync::oneshot;

/// The most interactive jobs committed together.
const MAX_GROUP: usize = 256;

/// Background jobs that ride along in a group with interactive ones: one
/// for every this many interactive jobs (and at least one).
const BACKGROUND_SHARE: usize = 4;

/// The most background jobs in a group of their own: a bound on how long
/// an interactive job that just arrived waits for the commit in progress.
const MAX_BACKGROUND_GROUP: usize = 64;

/// Which queue of the writer a job joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Someone is waiting for the answer: committed first.
    Interactive,
    /// Work behind the scenes: committed in the room interactive jobs leave.
    Background,
}

/// A job as the writer thread sees it.
trait Work: Send {
    /// Applies the job inside its savepoint; true to keep its changes.
    fn apply(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the group's commit succeeded or failed.
    fn reply(self: Box<Self>, committed: Result<(), String>);
}

/// A closure to run on the writer and the channel to answer through.
struct Task<F, T, E> {
    run: Option<F>,
    outcome: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Work for Task<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn apply(&mut self, conn: &Connection) -> bool {
        let Some(run) = self.run.take() else {
            return false;
        };
        let outcome = run(conn);
        let keep = outcome.is_ok();
        self.outcome = Some(outcome);
        keep
    }

    fn reply(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (committed, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => {
                Err(StoreError::Unavailable("the write was not applied".into()).into())
            }
            (Err(reason), _) => Err(StoreError::Unavailable(reason).into()),
        };
        // The caller may have stopped waiting; the write stands regardless.
        let _ = self.reply.send(answer);
    }
}

/// The handle to the writer thread. Dropping it lets the thread finish the
/// jobs already queued, close the connection and exit, and waits for that.
pub(crate) struct Writer {
    jobs: Option<mpsc::Sender<(Lane, Box<dyn Work>)>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread on `conn`.
    pub(crate) fn start(conn: Connection) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel::<(Lane, Box<dyn Work>)>();
        let thread = std::thread::Builder::new()
            .name("clinicflow-writer".into())
            .spawn(move || run(&conn, &queue))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the store's writer thread: {e}"))
            })?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `job` on the writer inside a savepoint, and answers once the
    /// group it joined is committed. An `Err` from `job` rolls back its
    /// changes (and only its changes) and is returned as it is.
    pub(crate) async fn submit<F, T, E>(&self, lane: Lane, job: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let stopped = || StoreError::Unavailable("the store's writer has stopped".into());
        let (reply, answer) = oneshot::channel();
        let task: Box<dyn Work> = Box::new(Task {
            run: Some(job),
            outcome: None,
            reply,
        });
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.send((lane, task)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: groups of jobs until every sender is gone and every
/// job received is answered.
fn run(conn: &Connection, queue: &mpsc::Receiver<(Lane, Box<dyn Work>)>) {
    let mut interactive: VecDeque<Box<dyn Work>> = VecDeque::new();
    let mut background: VecDeque<Box<dyn Work>> = VecDeque::new();
    let mut open = true;
    loop {
        if interactive.is_empty() && background.is_empty() {
            if !open {
                return;
            }
            match queue.recv() {
                Ok((lane, job)) => lane_of(lane, &mut interactive, &mut background).push_back(job),
                Err(_) => return,
            }
        }
        while open {
            match queue.try_recv() {
                Ok((lane, job)) => lane_of(lane, &mut interactive, &mut background).push_back(job),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => open = false,
            }
        }
        let mut group: Vec<Box<dyn Work>> = take(&mut interactive, MAX_GROUP);
        let share = if group.is_empty() {
            MAX_BACKGROUND_GROUP
        } else {
            group.len().div_ceil(BACKGROUND_SHARE)
        };
        group.extend(take(&mut background, share));
        let committed = commit_group(conn, &mut group);
        if let Err(reason) = &committed {
            tracing::error!(jobs = group.len(), "store commit failed: {reason}");
        }
        for job in group {
            job.reply(committed.clone());
        }
    }
}

fn lane_of<'a>(
    lane: Lane,
    interactive: &'a mut VecDeque<Box<dyn Work>>,
    background: &'a mut VecDeque<Box<dyn Work>>,
) -> &'a mut VecDeque<Box<dyn Work>> {
    match lane {
        Lane::Interactive => interactive,
        Lane::Background => background,
    }
}

fn take(jobs: &mut VecDeque<Box<dyn Work>>, at_most: usize) -> Vec<Box<dyn Work>> {
    let n = jobs.len().min(at_most);
    jobs.drain(..n).collect()
}

/// Applies every job of the group in one transaction and commits it.
fn commit_group(conn: &Connection, group: &mut [Box<dyn Work>]) -> Result<(), String> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| format!("cannot begin a transaction: {e}"))?;
    let applied = group
        .iter_mut()
        .try_for_each(|job| apply_one(conn, job.as_mut()));
    let committed = applied.and_then(|()| {
        // A statement error can make SQLite roll back the whole
        // transaction by itself; never commit half a group.
        if conn.is_autocommit() {
            return Err("the transaction was rolled back by the database".into());
        }
        conn.execute_batch("COMMIT")
            .map_err(|e| format!("cannot commit: {e}"))
    });
    if committed.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    committed
}

/// Applies one job in its own savepoint.
fn apply_one(conn: &Connection, job: &mut dyn Work) -> Result<(), String> {
    exec(conn, "SAVEPOINT job").map_err(|e| format!("cannot open a savepoint: {e}"))?;
    // A panicking job (a bug) is rolled back and answered as a failure;
    // the writer and the rest of the group carry on.
    let keep = std::panic::catch_unwind(AssertUnwindSafe(|| job.apply(conn))).unwrap_or(false);
    let closed = if keep {
        exec(conn, "RELEASE job")
    } else {
        exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
    };
    closed.map_err(|e| format!("cannot close a savepoint: {e}"))
}

/// Runs a statement prepared once per connection.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
