//! Opening the store: the job lock, connection settings, the versioned schema and crash
//! recovery.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::{DiskError, State, StateCounts, now};

/// The schema this build reads and writes, kept in `PRAGMA user_version`.
pub(super) const SCHEMA_VERSION: i64 = 1;
/// Marks a dragnet job store (`PRAGMA application_id`): "drgn".
const APPLICATION_ID: i64 = 0x6472_676e;
/// A URL in flight in this many runs that all died is given up on (`dead`): it probably
/// crashes the crawler, and resuming must not loop on it forever.
pub(super) const MAX_CRASHES: i64 = 5;
/// SQLite's page cache, per connection. Bounds the store's share of memory whatever the
/// frontier's size (negative = KiB).
const CACHE_KIB: i64 = 32 * 1024;
/// After a checkpoint the WAL is cut back to this size, so one burst does not leave a huge
/// file behind.
const WAL_KEEP_BYTES: i64 = 64 << 20;

/// Every table and index. `urls.id` is the insertion order (FIFO within a host).
///
/// - `fp` (xxh3-64 of the canonical key) is indexed instead of the key itself: an 8-byte
///   index is a third the size of a text one and keeps insert write amplification low. Hash
///   collisions are resolved by comparing the stored key, so the seen set stays exact.
/// - `key` is NULL when it equals `url` (the common case), to store each URL once.
/// - Partial indexes cover only the rows a query needs: the queued URLs per host (leasing),
///   the leased ones by token (completing, and recovery), the failed ones by reason (status).
/// - `hosts.turn` orders hosts for round-robin leasing; `queued` is kept in step with the
///   host's queued rows so picking hosts never counts rows.
const SCHEMA: &str = "
CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
CREATE TABLE counts (state INTEGER PRIMARY KEY, n INTEGER NOT NULL);
INSERT INTO counts VALUES (0, 0), (1, 0), (2, 0), (3, 0), (4, 0);
CREATE TABLE hosts (
    id INTEGER PRIMARY KEY,
    host TEXT NOT NULL UNIQUE,
    queued INTEGER NOT NULL,
    turn INTEGER NOT NULL
);
CREATE INDEX hosts_ready ON hosts (turn) WHERE queued > 0;
CREATE TABLE urls (
    id INTEGER PRIMARY KEY,
    fp INTEGER NOT NULL,
    key TEXT,
    url TEXT NOT NULL,
    depth INTEGER NOT NULL,
    host_id INTEGER NOT NULL REFERENCES hosts (id),
    state INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    crashes INTEGER NOT NULL DEFAULT 0,
    token INTEGER,
    reason TEXT,
    added_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX urls_fp ON urls (fp);
CREATE INDEX urls_queue ON urls (host_id) WHERE state = 0;
CREATE INDEX urls_leased ON urls (token) WHERE state = 1;
CREATE INDEX urls_failed ON urls (reason) WHERE state >= 3;
INSERT INTO meta VALUES ('incarnation', 0), ('turn', 0);
";

/// Holds the job for this process: a second SQLite file kept under an exclusive lock for
/// as long as the frontier is open, so a second `dragnet` on the same DIR is refused
/// instead of recovering (stealing) the first one's leases. Portable, and SQLite also
/// serialises openers within one process.
pub(super) fn lock_job(dir: &Path) -> Result<Connection, DiskError> {
    let path = dir.join("frontier.lock");
    let conn = Connection::open(&path).map_err(|e| DiskError::sql("opening the job lock", e))?;
    // Refuse at once: waiting would only delay the message.
    conn.busy_timeout(Duration::ZERO)
        .map_err(|e| DiskError::sql("opening the job lock", e))?;
    let locked = conn
        .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
        .and_then(|()| {
            // The exclusive lock is taken at the first write.
            conn.execute_batch("CREATE TABLE IF NOT EXISTS held (x)")
        });
    match locked {
        Ok(()) => Ok(conn),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            Err(DiskError::InUse)
        }
        Err(e) => Err(DiskError::sql("taking the job lock", e)),
    }
}

/// Opens a connection with the settings every connection to the store uses.
pub(super) fn connect(db: &Path, read_only: bool) -> Result<Connection, DiskError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(db, flags).map_err(|e| DiskError::sql("opening", e))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| DiskError::sql("configuring", e))?;
    // FULL: a commit is on disk (WAL fsynced) when it returns, so an acknowledged
    // completion survives a power loss, not only a killed process.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA cache_size = -{CACHE_KIB};
         PRAGMA journal_size_limit = {WAL_KEEP_BYTES};"
    ))
    .map_err(|e| DiskError::sql("configuring", e))?;
    if !read_only {
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(|e| DiskError::sql("switching to WAL mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(DiskError::Other(format!(
                "the store would not switch to WAL mode (it stayed in {mode})"
            )));
        }
    }
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// Creates the schema in an empty store, or checks that an existing one is ours and of a
/// version this build understands.
pub(super) fn ensure(conn: &Connection) -> Result<(), DiskError> {
    let pragma = |name: &str| -> Result<i64, DiskError> {
        conn.query_row(&format!("PRAGMA {name}"), [], |row| row.get(0))
            .map_err(|e| DiskError::sql("reading the schema version", e))
    };
    let (app, version) = (pragma("application_id")?, pragma("user_version")?);
    if app == 0 && version == 0 {
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
            .map_err(|e| DiskError::sql("reading the schema", e))?;
        if tables != 0 {
            return Err(DiskError::Other(
                "frontier.sqlite is an SQLite database but not a dragnet job store".into(),
            ));
        }
        let create = format!(
            "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        );
        return conn
            .execute_batch(&create)
            .map_err(|e| DiskError::sql("creating the schema", e));
    }
    if app != APPLICATION_ID {
        return Err(DiskError::Other(format!(
            "frontier.sqlite is not a dragnet job store (application id {app:#x})"
        )));
    }
    if version > SCHEMA_VERSION {
        return Err(DiskError::Other(format!(
            "the job store has schema version {version}, written by a newer dragnet; this \
             build reads version {SCHEMA_VERSION}: upgrade dragnet to continue the job"
        )));
    }
    if version != SCHEMA_VERSION {
        return Err(DiskError::Other(format!(
            "the job store has unknown schema version {version} (this build reads \
             {SCHEMA_VERSION})"
        )));
    }
    Ok(())
}

/// SQLite's own structural check of every page and index (`PRAGMA quick_check`): catches a
/// torn or overwritten page that the file checks cannot see.
pub(super) fn quick_check(conn: &Connection) -> Result<(), DiskError> {
    let mut stmt = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| DiskError::sql("checking the store", e))?;
    let problems: Vec<String> = stmt
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| DiskError::sql("checking the store", e))?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(DiskError::damaged(
        "checking the store",
        format!("SQLite's check found: {}", problems.join("; ")),
    ))
}

/// What opening found and set up.
pub(super) struct Opened {
    pub(super) counts: StateCounts,
    pub(super) turn: i64,
    pub(super) incarnation: u64,
    pub(super) recovered_hosts: Vec<String>,
}

/// Starts a new incarnation and puts back every URL a dead run left leased, in one
/// transaction. A URL that was in flight at [`MAX_CRASHES`] deaths is marked `dead`.
pub(super) fn recover(conn: &mut Connection) -> Result<Opened, DiskError> {
    let fail = |e| DiskError::sql("recovering leased URLs", e);
    let tx = conn.transaction().map_err(fail)?;
    let meta = |name: &str| -> Result<i64, DiskError> {
        tx.query_row("SELECT value FROM meta WHERE name = ?1", [name], |row| {
            row.get(0)
        })
        .optional()
        .map_err(fail)?
        .ok_or_else(|| {
            DiskError::damaged(
                "recovering leased URLs",
                format!("its meta table has no {name}"),
            )
        })
    };
    let incarnation = meta("incarnation")? + 1;
    let mut turn = meta("turn")?;
    let mut counts = StateCounts::load(&tx).map_err(fail)?;
    let recovered_hosts: Vec<String> = tx
        .prepare(
            "SELECT DISTINCT h.host FROM urls u JOIN hosts h ON h.id = u.host_id
             WHERE u.state = 1 ORDER BY h.host",
        )
        .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect())
        .map_err(fail)?;
    let now = now();
    let dead = tx
        .execute(
            "UPDATE urls SET state = 4, token = NULL, crashes = crashes + 1,
                reason = 'crashed_in_flight', updated_at = ?2
             WHERE state = 1 AND crashes + 1 >= ?1",
            params![MAX_CRASHES, now],
        )
        .map_err(fail)? as u64;
    let per_host: Vec<(i64, i64)> = tx
        .prepare("SELECT host_id, count(*) FROM urls WHERE state = 1 GROUP BY host_id")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(fail)?;
    let requeued = tx
        .execute(
            "UPDATE urls SET state = 0, token = NULL, crashes = crashes + 1, updated_at = ?1
             WHERE state = 1",
            [now],
        )
        .map_err(fail)? as u64;
    for (host, n) in per_host {
        turn += 1;
        tx.execute(
            "UPDATE hosts SET turn = CASE WHEN queued = 0 THEN ?3 ELSE turn END,
                queued = queued + ?2 WHERE id = ?1",
            params![host, n, turn],
        )
        .map_err(fail)?;
    }
    if counts.get(State::Leased) != dead + requeued {
        return Err(DiskError::damaged(
            "recovering leased URLs",
            format!(
                "its counts say {} URLs were leased but {} rows are",
                counts.get(State::Leased),
                dead + requeued
            ),
        ));
    }
    counts.set(State::Leased, 0);
    counts.add(State::Queued, requeued as i64);
    counts.add(State::Dead, dead as i64);
    counts.store(&tx).map_err(fail)?;
    tx.execute(
        "UPDATE meta SET value = ?1 WHERE name = 'incarnation'",
        [incarnation],
    )
    .map_err(fail)?;
    tx.execute("UPDATE meta SET value = ?1 WHERE name = 'turn'", [turn])
        .map_err(fail)?;
    tx.commit().map_err(fail)?;
    Ok(Opened {
        counts,
        turn,
        incarnation: u64::try_from(incarnation)
            .map_err(|_| DiskError::damaged("opening", "its incarnation is negative"))?,
        recovered_hosts,
    })
}
