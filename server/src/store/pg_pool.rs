//! The bridge between the synchronous [`super::Store`] methods and
//! PostgreSQL: a bounded pool of dedicated connection threads.
//!
//! Why threads: the `Store` trait is synchronous and its short methods are
//! called from async tasks on tokio's worker threads. The synchronous
//! `postgres` client runs its own small runtime and panics when it blocks
//! inside another one, and `block_in_place` panics on a current-thread
//! runtime. So each connection lives on its own OS thread (outside any
//! runtime); a store method packs its transaction into a closure, hands it
//! to the pool through a bounded queue and waits for the answer. The
//! calling thread blocks for one transaction's length, as the store's
//! blocking contract allows.
//!
//! Bounds (all config values, see `deploy/stadtbote.example.toml`):
//! `pg_pool_size` threads and connections; a queue of
//! [`QUEUE_PER_CONNECTION`] jobs per connection, beyond which a call is
//! answered [`StorageError::Unavailable`] at once; `pg_connect_timeout_ms`
//! for establishing a connection; `pg_statement_timeout_ms` for every
//! statement (set on the connection, enforced by the server). The caller
//! waits at most connect + statement timeout + a margin, so no call waits
//! without bound even if a connection thread is stuck.
//!
//! Waiting: a store method is usually called on one of tokio's worker
//! threads (the relay calls the store directly, as sled's calls take
//! microseconds). Waiting there for a database round trip would hold the
//! worker — on a two-core host the runtime has two — so that at most two
//! transactions were ever in flight whatever `pg_pool_size` said, and a
//! device's delivery read queued behind other senders' writes. So the wait
//! runs in [`tokio::task::block_in_place`] on a multi-threaded runtime
//! ([`wait_answer`]): the worker's other tasks move to another thread while
//! this one waits, and the pool, not the runtime, bounds the concurrency.
//!
//! Round trips: statements of the hot paths are prepared once per
//! connection ([`prepared`]) instead of once per call (the `postgres`
//! client's `query(&str, …)` costs a Parse round trip before every Bind).
//!
//! Failure: a lost connection makes the running job fail with
//! `Unavailable`; the thread drops the connection and reconnects before its
//! next job, so the node recovers by itself when the database is back.
//! Connection errors never carry the URL (and so never its password):
//! [`redact_url`] is the only form in which the URL is shown.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, GenericClient, NoTls, Statement};

use super::{StorageError, StoreError};

/// Jobs that may wait per connection before calls are refused.
pub const QUEUE_PER_CONNECTION: usize = 256;

/// How the pool connects.
#[derive(Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/db` or a key=value string.
    pub url: String,
    /// Connections (and threads).
    pub pool_size: usize,
    /// Time allowed to establish one connection.
    pub connect_timeout: Duration,
    /// Time allowed for one statement.
    pub statement_timeout: Duration,
    /// How sends are stored in batches ([`super::pg_send_batch`]).
    pub send_batch: super::pg_send_batch::SendBatchOptions,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact_url(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("send_batch", &self.send_batch)
            .finish()
    }
}

/// The URL with any password replaced by `***` (URL form
/// `scheme://user:password@host` and key=value form `password=…`).
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let authority = match authority.rsplit_once('@') {
            Some((user, host)) => match user.split_once(':') {
                Some((name, _)) => format!("{name}:***@{host}"),
                None => format!("{user}@{host}"),
            },
            None => authority.to_string(),
        };
        let tail = redact_query_password(tail);
        return format!("{scheme}://{authority}{tail}");
    }
    url.split_whitespace()
        .map(|part| if part.starts_with("password=") { "password=***" } else { part })
        .collect::<Vec<_>>()
        .join(" ")
}

fn redact_query_password(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else { return tail.to_string() };
    let query: Vec<String> = query
        .split('&')
        .map(|kv| if kv.starts_with("password=") { "password=***".into() } else { kv.into() })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// A pool failure in words that never name the URL.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The connection string does not parse.
    #[error("database_url is not a valid PostgreSQL connection string")]
    BadUrl,
    /// Every connection thread is busy and the queue is full.
    #[error("all {0} database connections are busy and the queue is full")]
    Busy(usize),
    /// The answer did not come in time.
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
    /// The pool is shut down.
    #[error("the database pool is closed")]
    Closed,
    /// The database could not be reached or the connection broke.
    #[error("database connection failed: {0}")]
    Connection(String),
}

/// A PostgreSQL failure as a storage failure: serialisation failures and
/// deadlocks become [`StorageError::Contention`], a full disk
/// [`StorageError::Full`], everything else (lost connection, timeout, …)
/// [`StorageError::Unavailable`]. The text kept is PostgreSQL's message
/// without its `DETAIL` (which may quote key values).
pub fn pg_error(err: postgres::Error) -> StoreError {
    if let Some(db) = err.as_db_error() {
        let code = db.code();
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            return StoreError::contention();
        }
        let text = format!("{}: {}", db.code().code(), db.message());
        if *code == SqlState::DISK_FULL {
            return StorageError::Full(text.into()).into();
        }
        return StorageError::Unavailable(text.into()).into();
    }
    let text = if err.is_closed() {
        "connection closed".to_string()
    } else {
        // Connection-level errors (I/O, timeout) name no values.
        err.to_string()
    };
    StorageError::Unavailable(PoolError::Connection(text).into()).into()
}

thread_local! {
    /// The statements prepared on this connection thread's current
    /// connection, by their (static) text. Cleared whenever the thread
    /// drops its connection: a statement belongs to one connection.
    static STATEMENTS: RefCell<HashMap<&'static str, Statement>> = RefCell::new(HashMap::new());
}

/// `sql` prepared on `client`'s connection, once per connection. Only for
/// the static statements of the hot paths (the cache is keyed by the text,
/// so it holds one entry per statement of the source code). Call it only
/// from a job, i.e. on a connection thread.
pub fn prepared<C: GenericClient>(
    client: &mut C,
    sql: &'static str,
) -> Result<Statement, StoreError> {
    if let Some(statement) = STATEMENTS.with(|s| s.borrow().get(sql).cloned()) {
        return Ok(statement);
    }
    let statement = client.prepare(sql).map_err(pg_error)?;
    STATEMENTS.with(|s| s.borrow_mut().insert(sql, statement.clone()));
    Ok(statement)
}

fn forget_statements() {
    STATEMENTS.with(|s| s.borrow_mut().clear());
}

/// Waits for a connection thread's answer on `rx`, without holding a
/// worker of a multi-threaded tokio runtime while it waits (see the module
/// docs). On a current-thread runtime (tests) or outside any runtime it
/// simply blocks, as before.
pub(super) fn wait_answer<T>(rx: &Receiver<T>, wait: Duration) -> Result<T, RecvTimeoutError> {
    let multi_threaded = tokio::runtime::Handle::try_current()
        .is_ok_and(|handle| handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_threaded {
        tokio::task::block_in_place(|| rx.recv_timeout(wait))
    } else {
        rx.recv_timeout(wait)
    }
}

type Job = Box<dyn FnOnce(Result<&mut Client, StoreError>) + Send>;

/// The pool of connection threads.
pub struct Pool {
    sender: Mutex<Option<SyncSender<Job>>>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    size: usize,
    wait: Duration,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("size", &self.size).finish_non_exhaustive()
    }
}

/// The connection configuration: timeouts, asynchronous commit (the
/// store's `flush` makes writes durable) and an application name.
pub(crate) fn config(options: &PgOptions) -> Result<Config, PoolError> {
    let mut config: Config = options.url.parse().map_err(|_| PoolError::BadUrl)?;
    config.connect_timeout(options.connect_timeout);
    config.application_name(super::pg_offline::SERVER_APPLICATION);
    let statement_ms = options.statement_timeout.as_millis().max(1);
    config.options(&format!(
        "-c statement_timeout={statement_ms} -c lock_timeout={statement_ms} \
         -c synchronous_commit=off -c idle_in_transaction_session_timeout={statement_ms}"
    ));
    Ok(config)
}

/// A connection idle for longer than this is checked (one empty query)
/// before it runs a job: after a database restart every pooled connection
/// is dead without knowing it, and the check turns that into a reconnect
/// instead of one failed request per connection.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

fn worker(config: Arc<Config>, jobs: Arc<Mutex<Receiver<Job>>>, check_timeout: Duration) {
    let mut client: Option<Client> = None;
    let mut last_used = std::time::Instant::now();
    loop {
        let job = {
            let receiver = jobs.lock().unwrap_or_else(|e| e.into_inner());
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if client.as_ref().is_some_and(Client::is_closed) {
            client = None;
        }
        if last_used.elapsed() > CHECK_AFTER_IDLE
            && let Some(c) = client.as_mut()
            && c.is_valid(check_timeout).is_err()
        {
            client = None;
        }
        if client.is_none() {
            forget_statements();
            match config.connect(NoTls) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    job(Err(pg_error(e)));
                    continue;
                }
            }
        }
        match client.as_mut() {
            Some(c) => job(Ok(c)),
            None => job(Err(StorageError::Unavailable(PoolError::Closed.into()).into())),
        }
        last_used = std::time::Instant::now();
    }
}

impl Pool {
    /// Starts `options.pool_size` connection threads. Connections are made
    /// lazily, so a node starts (and reports not-ready) while the database
    /// is down.
    pub fn new(options: &PgOptions) -> Result<Self, PoolError> {
        let config = Arc::new(config(options)?);
        let size = options.pool_size.max(1);
        let (sender, receiver) = sync_channel::<Job>(size.saturating_mul(QUEUE_PER_CONNECTION));
        let receiver = Arc::new(Mutex::new(receiver));
        let mut threads = Vec::with_capacity(size);
        for n in 0..size {
            let (config, receiver) = (config.clone(), receiver.clone());
            let check_timeout = options.connect_timeout;
            let handle = std::thread::Builder::new()
                .name(format!("pg-conn-{n}"))
                .spawn(move || worker(config, receiver, check_timeout))
                .map_err(|e| PoolError::Connection(e.to_string()))?;
            threads.push(handle);
        }
        let wait = options
            .connect_timeout
            .saturating_add(options.statement_timeout.saturating_mul(2))
            .saturating_add(Duration::from_secs(1));
        Ok(Self { sender: Mutex::new(Some(sender)), threads: Mutex::new(threads), size, wait })
    }

    /// The longest a caller waits for one pooled call's answer.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Runs `f` on a pooled connection and waits for its answer (bounded).
    pub fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Client) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move |client| {
            let answer = client.and_then(f);
            // The caller may have stopped waiting; nothing to do then.
            let _ = tx.send(answer);
        });
        {
            let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
            let Some(sender) = sender.as_ref() else {
                return Err(StorageError::Unavailable(PoolError::Closed.into()).into());
            };
            match sender.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    return Err(StorageError::Unavailable(PoolError::Busy(self.size).into()).into());
                }
                Err(TrySendError::Disconnected(_)) => {
                    return Err(StorageError::Unavailable(PoolError::Closed.into()).into());
                }
            }
        }
        match wait_answer(&rx, self.wait) {
            Ok(answer) => answer,
            Err(_) => Err(StorageError::Unavailable(PoolError::Timeout(self.wait).into()).into()),
        }
    }

    /// Runs `f` in one transaction on a pooled connection; commits when it
    /// returns `Ok` (asynchronously: see the store's durability contract),
    /// rolls back otherwise.
    pub fn tx<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut postgres::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(move |client| {
            let mut tx = client.transaction().map_err(pg_error)?;
            let out = f(&mut tx)?;
            tx.commit().map_err(pg_error)?;
            Ok(out)
        })
    }
}

/// One value bound to a statement of a [`Session`].
#[derive(Debug, Clone)]
pub enum Param {
    /// `bytea`.
    Bytes(Vec<u8>),
    /// `text`.
    Text(String),
    /// `bigint`.
    Int(i64),
}

impl Param {
    fn as_sql(&self) -> &(dyn postgres::types::ToSql + Sync) {
        match self {
            Self::Bytes(v) => v,
            Self::Text(v) => v,
            Self::Int(v) => v,
        }
    }
}

enum SessionRequest {
    Query(String, Vec<Param>, std::sync::mpsc::SyncSender<Result<Vec<postgres::Row>, StoreError>>),
    Commit(std::sync::mpsc::SyncSender<Result<(), StoreError>>),
}

/// One transaction held open on a connection thread, to which the calling
/// thread sends statements one by one (so that code written against a
/// key-value interface can read, decide and write in one transaction).
/// Dropping it without [`Session::commit`] rolls the transaction back.
pub struct Session {
    requests: Option<SyncSender<SessionRequest>>,
    wait: Duration,
}

impl Session {
    /// Runs one statement of the transaction.
    pub fn query(
        &mut self,
        sql: &str,
        params: Vec<Param>,
    ) -> Result<Vec<postgres::Row>, StoreError> {
        let (tx, rx) = sync_channel(1);
        let requests = self.requests.as_ref().ok_or_else(closed)?;
        requests.send(SessionRequest::Query(sql.to_string(), params, tx)).map_err(|_| closed())?;
        wait_answer(&rx, self.wait).map_err(|_| timeout(self.wait))?
    }

    /// Commits the transaction.
    pub fn commit(mut self) -> Result<(), StoreError> {
        let (tx, rx) = sync_channel(1);
        let requests = self.requests.take().ok_or_else(closed)?;
        requests.send(SessionRequest::Commit(tx)).map_err(|_| closed())?;
        wait_answer(&rx, self.wait).map_err(|_| timeout(self.wait))?
    }
}

fn closed() -> StoreError {
    StorageError::Unavailable(PoolError::Closed.into()).into()
}

fn timeout(wait: Duration) -> StoreError {
    StorageError::Unavailable(PoolError::Timeout(wait).into()).into()
}

impl Pool {
    /// Opens a [`Session`]: a transaction (serializable when asked) on a
    /// pooled connection, held until committed or dropped.
    pub fn session(&self, serializable: bool) -> Result<Session, StoreError> {
        let (requests, incoming) = sync_channel::<SessionRequest>(1);
        let wait = self.wait;
        let (ready_tx, ready_rx) = sync_channel::<Result<(), StoreError>>(1);
        let job: Job = Box::new(move |client| {
            let client = match client {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let begin = if serializable { "BEGIN ISOLATION LEVEL SERIALIZABLE" } else { "BEGIN" };
            if let Err(e) = client.batch_execute(begin) {
                let _ = ready_tx.send(Err(pg_error(e)));
                return;
            }
            let _ = ready_tx.send(Ok(()));
            loop {
                match incoming.recv_timeout(wait) {
                    Ok(SessionRequest::Query(sql, params, answer)) => {
                        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                            params.iter().map(Param::as_sql).collect();
                        let result = client.query(sql.as_str(), &refs).map_err(pg_error);
                        let _ = answer.send(result);
                    }
                    Ok(SessionRequest::Commit(answer)) => {
                        let _ = answer.send(client.batch_execute("COMMIT").map_err(pg_error));
                        return;
                    }
                    Err(_) => {
                        // Dropped or abandoned: nothing of it counts.
                        let _ = client.batch_execute("ROLLBACK");
                        return;
                    }
                }
            }
        });
        {
            let sender = self.sender.lock().unwrap_or_else(|e| e.into_inner());
            let sender = sender.as_ref().ok_or_else(closed)?;
            match sender.try_send(job) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    return Err(StorageError::Unavailable(PoolError::Busy(self.size).into()).into());
                }
                Err(TrySendError::Disconnected(_)) => return Err(closed()),
            }
        }
        wait_answer(&ready_rx, wait).map_err(|_| timeout(wait))??;
        Ok(Session { requests: Some(requests), wait })
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the queue ends every thread after its current job.
        self.sender.lock().unwrap_or_else(|e| e.into_inner()).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact_url("postgres://town:s3cret@db.example:5432/stadtbote?sslmode=disable"),
            "postgres://town:***@db.example:5432/stadtbote?sslmode=disable"
        );
        assert_eq!(redact_url("postgres://town@db/x"), "postgres://town@db/x");
        assert_eq!(
            redact_url("postgresql:///x?host=/run&password=s3cret"),
            "postgresql:///x?host=/run&password=***"
        );
        assert_eq!(
            redact_url("host=/tmp password=s3cret dbname=x"),
            "host=/tmp password=*** dbname=x"
        );
    }
}
