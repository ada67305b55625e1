//! Job control for the CLI: status, workers, drain, shared settings, purge.

use std::sync::atomic::Ordering;

use dragnet::frontier::{FrontierCounts, FrontierError};
use redis::Value;
use serde::Serialize;

use crate::frontier::RedisFrontier;
use crate::retry::with_retry;

/// Hosts listed by [`RedisFrontier::status`] (per list: ready and delayed; plus every host
/// with live leases).
const STATUS_HOSTS: usize = 20;
/// Expired leases one `status` call reclaims.
const STATUS_RECLAIM_CAP: usize = 1000;
/// Keys per SCAN step and UNLINK call in [`RedisFrontier::purge`].
const PURGE_BATCH: usize = 1000;

/// A job's state as the whole fleet sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RedisJobStatus {
    /// URLs per state (expired leases reclaimed first).
    pub counts: FrontierCounts,
    /// Leases that expired and were put back in the queue (their worker died or stalled).
    pub reclaimed: u64,
    /// Whether the drain flag is set.
    pub draining: bool,
    /// Failed URLs by reason, most frequent first.
    pub failures: Vec<(String, u64)>,
    /// Workers whose heartbeat is live, by id.
    pub workers: Vec<WorkerStatus>,
    /// Hosts with live leases, then the next hosts in line: most active first, then longest
    /// queue; capped.
    pub hosts: Vec<HostStatus>,
}

/// One live worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WorkerStatus {
    /// Its [`RedisOptions::worker_id`](crate::RedisOptions::worker_id).
    pub id: String,
    /// Leases it held at its last heartbeat.
    pub leases: u64,
}

/// Where a host is in the schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Some of its URLs are being fetched.
    Leased,
    /// Waiting for its turn.
    Ready,
    /// Waiting out the fleet-wide host delay.
    Delayed,
}

/// One host's share of the job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostStatus {
    /// `host:port`.
    pub host: String,
    /// Where it is in the schedule.
    pub state: HostState,
    /// Live leases, fleet-wide.
    pub active: u64,
    /// Queued URLs.
    pub queued: u64,
}

impl RedisFrontier {
    /// The job's state: counts, failures by reason, live workers and the top 20 hosts (those
    /// with live leases first, then the next in line).
    ///
    /// # Errors
    /// [`FrontierError::Storage`] when Redis cannot be reached or answers nonsense.
    pub async fn status(&self) -> Result<RedisJobStatus, FrontierError> {
        self.status_top(STATUS_HOSTS).await
    }

    /// [`status`](Self::status) with the top `hosts` hosts.
    ///
    /// # Errors
    /// As [`status`](Self::status).
    pub async fn status_top(&self, hosts: usize) -> Result<RedisJobStatus, FrontierError> {
        let mut args = self.counts_args(STATUS_RECLAIM_CAP);
        args.insert(1, hosts.max(1).to_string());
        let reply: Value = self
            .invoke("status", &self.inner.scripts.status, &args)
            .await?;
        let mut status = parse_status(reply)
            .ok_or_else(|| FrontierError::Storage("bad status reply from redis".into()))?;
        status.hosts.truncate(hosts.max(1));
        Ok(status)
    }

    /// Announces this process as a worker of the job: it shows in [`status`](Self::status)
    /// while its heartbeat (renewed with the leases) is live.
    ///
    /// # Errors
    /// [`FrontierError::Storage`] when Redis cannot be reached.
    pub async fn register_worker(&self) -> Result<(), FrontierError> {
        self.inner.registered.store(true, Ordering::Relaxed);
        self.inner.renew().await
    }

    /// Removes this worker from the job's status (on a clean exit; a killed worker's heartbeat
    /// simply expires).
    ///
    /// # Errors
    /// [`FrontierError::Storage`] when Redis cannot be reached.
    pub async fn unregister_worker(&self) -> Result<(), FrontierError> {
        self.inner.registered.store(false, Ordering::Relaxed);
        let prefix = &self.inner.prefix;
        let id = &self.inner.options.worker_id;
        self.command("unregister", |pipe| {
            pipe.del(format!("{prefix}worker:{id}"))
                .srem(format!("{prefix}workers"), id);
        })
        .await
    }

    /// Sets the job's drain flag: workers that check [`is_draining`](Self::is_draining) finish
    /// what they hold and stop. Queued URLs stay queued for a later run.
    ///
    /// # Errors
    /// [`FrontierError::Storage`] when Redis cannot be reached.
    pub async fn drain(&self) -> Result<(), FrontierError> {
        let key = format!("{}drain", self.inner.prefix);
        self.command("drain", |pipe| {
            pipe.set(&key, 1);
        })
        .await?;
        self.inner.draining.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Clears the drain flag, so a drained job can be worked on again.
    ///
    /// # Errors
    /// [`FrontierError::Storage`] when Redis cannot be reached.
    pub async fn undrain(&self) -> Result<(), FrontierError> {
        let key = format!("{}drain", self.inner.prefix);
        self.command("undrain", |pipe| {
            pipe.del(&key);
        })
        .await?;
        self.inner.draining.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Whether the job is being drained. Asks Redis (one GET); if Redis cannot be reached, the
    /// last value seen (the heartbeat refreshes it too).
    pub async fn is_draining(&self) -> bool {
        let key = format!("{}drain", self.inner.prefix);
        let inner = &self.inner;
        let asked = with_retry(
            &inner.conn,
            inner.options.reconnect_for,
            "drain flag",
            |mut c, _| {
                let key = key.clone();
                async move {
                    redis::cmd("EXISTS")
                        .arg(key)
                        .query_async::<bool>(&mut c)
                        .await
                }
            },
        )
        .await;
        match asked {
            Ok(draining) => {
                inner.draining.store(draining, Ordering::Relaxed);
                draining
            }
            Err(error) => {
                tracing::warn!(%error, "could not read the drain flag; using the last value seen");
                inner.draining.load(Ordering::Relaxed)
            }
        }
    }

    /// Stores the job's settings (JSON from the seeding command) for workers that join later.
    ///
    /// # Errors
    /// [`FrontierError::Storage`] when Redis cannot be reached.
    pub async fn save_settings(&self, json: &str) -> Result<(), FrontierError> {
        let key = format!("{}settings", self.inner.prefix);
        self.command("save settings", |pipe| {
            pipe.set(&key, json);
        })
        .await
    }

    /// The job's settings as saved by [`save_settings`](Self::save_settings), if any.
    ///
    /// # Errors
    /// [`FrontierError::Storage`] when Redis cannot be reached.
    pub async fn load_settings(&self) -> Result<Option<String>, FrontierError> {
        let key = format!("{}settings", self.inner.prefix);
        let inner = &self.inner;
        with_retry(
            &inner.conn,
            inner.options.reconnect_for,
            "load settings",
            |mut c, _| {
                let key = key.clone();
                async move { redis::cmd("GET").arg(key).query_async(&mut c).await }
            },
        )
        .await
    }

    /// Deletes every key of the job (SCAN + UNLINK; the job must not be running). Returns how
    /// many keys were deleted.
    ///
    /// # Errors
    /// [`FrontierError::Storage`] when Redis cannot be reached.
    pub async fn purge(&self) -> Result<u64, FrontierError> {
        // The job name is restricted to characters that are not glob syntax, but the braces of
        // the hash tag are: escape them.
        let pattern = format!("{}*", self.inner.prefix)
            .replace('{', "\\{")
            .replace('}', "\\}");
        let inner = &self.inner;
        let mut cursor = 0u64;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = with_retry(
                &inner.conn,
                inner.options.reconnect_for,
                "purge scan",
                |mut c, _| {
                    let pattern = pattern.clone();
                    async move {
                        redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(pattern)
                            .arg("COUNT")
                            .arg(PURGE_BATCH)
                            .query_async(&mut c)
                            .await
                    }
                },
            )
            .await?;
            if !keys.is_empty() {
                let n: u64 = with_retry(
                    &inner.conn,
                    inner.options.reconnect_for,
                    "purge",
                    |mut c, _| {
                        let keys = keys.clone();
                        async move { redis::cmd("UNLINK").arg(keys).query_async(&mut c).await }
                    },
                )
                .await?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// Runs the commands `build` adds, in one MULTI/EXEC round trip, with retries (all callers
    /// are idempotent).
    async fn command(
        &self,
        what: &str,
        build: impl FnOnce(&mut redis::Pipeline),
    ) -> Result<(), FrontierError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        build(&mut pipe);
        let pipe = &pipe;
        let inner = &self.inner;
        with_retry(
            &inner.conn,
            inner.options.reconnect_for,
            what,
            |mut c, _| async move { pipe.query_async::<()>(&mut c).await },
        )
        .await
    }
}

fn int(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Value::SimpleString(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn array(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) => Some(items),
        // An empty Lua table arrives as an empty array; be lenient with nil too.
        Value::Nil => Some(Vec::new()),
        _ => None,
    }
}

fn parse_status(reply: Value) -> Option<RedisJobStatus> {
    let mut parts = array(reply)?.into_iter();
    let counts = array(parts.next()?)?;
    let counts: Vec<u64> = counts.iter().map(int).collect::<Option<_>>()?;
    let [queued, leased, done, failed, reclaimed] = counts[..] else {
        return None;
    };
    let draining = int(&parts.next()?)? == 1;
    let failures = array(parts.next()?)?;
    let mut failures: Vec<(String, u64)> = failures
        .chunks_exact(2)
        .map(|pair| Some((text(&pair[0])?, int(&pair[1])?)))
        .collect::<Option<_>>()?;
    failures.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let workers = array(parts.next()?)?;
    let mut workers: Vec<WorkerStatus> = workers
        .chunks_exact(2)
        .map(|pair| {
            Some(WorkerStatus {
                id: text(&pair[0])?,
                leases: int(&pair[1])?,
            })
        })
        .collect::<Option<_>>()?;
    workers.sort_by(|a, b| a.id.cmp(&b.id));
    let rows = array(parts.next()?)?;
    let mut hosts: Vec<HostStatus> = Vec::new();
    for row in rows.chunks_exact(4) {
        let host = text(&row[0])?;
        // A host is listed once, under its first (most telling) state.
        if hosts.iter().any(|h| h.host == host) {
            continue;
        }
        let state = match text(&row[1])?.as_str() {
            "leased" => HostState::Leased,
            "ready" => HostState::Ready,
            _ => HostState::Delayed,
        };
        hosts.push(HostStatus {
            host,
            state,
            active: int(&row[2])?,
            queued: int(&row[3])?,
        });
    }
    hosts.sort_by(|a, b| {
        (b.active, b.queued)
            .cmp(&(a.active, a.queued))
            .then_with(|| a.host.cmp(&b.host))
    });
    Some(RedisJobStatus {
        counts: FrontierCounts {
            queued,
            leased,
            done,
            failed,
        },
        reclaimed,
        draining,
        failures,
        workers,
        hosts,
    })
}
