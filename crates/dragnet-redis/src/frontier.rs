//! [`RedisFrontier`]: the [`Frontier`] trait on Redis, plus the lease heartbeat.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use dragnet::CrawlRequest;
use dragnet::frontier::{Frontier, FrontierCounts, FrontierError, Lease, Outcome};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::task::AbortHandle;

use crate::RedisOptions;
use crate::entry::{self, fingerprint, parse_entry, push_args};
use crate::retry::with_retry;
use crate::scripts::Scripts;

/// URLs per `add` script call: bounds how long one call keeps Redis busy (~1 ms).
const ADD_CHUNK: usize = 500;
/// Expired leases one `lease` call reclaims (the rest go on the next calls); bounds its time.
const LEASE_RECLAIM_CAP: usize = 100;
/// Expired leases one `counts` call reclaims; `counts` loops until none are left.
const COUNTS_RECLAIM_CAP: usize = 1000;
/// A URL whose lease expired this many times is failed (`lease_expired`) instead of being
/// handed to yet another worker: it is probably what kills them.
const MAX_EXPIRIES: u32 = 5;
/// Most URLs one `lease` call hands out (bounds the script's run time; fewer is allowed).
const LEASE_MAX: usize = 1000;
/// Oldest Redis that has every command the scripts use (`ZADD GT`, `ZPOPMIN` with counts).
const MIN_REDIS: (u32, u32) = (6, 2);

/// A frontier shared by every worker of a job through one Redis.
///
/// Dedup, queues, leases and per-host limits live in Redis and change only inside Lua scripts,
/// so any number of processes can use one job at once. Leases expire after
/// [`RedisOptions::lease_ttl`] unless renewed: a background task renews every lease this value
/// holds, so only a dead or stalled process loses its leases; the next `lease` or `counts` call,
/// from any worker, puts them back in the queue. Every lease carries a fresh fencing token, and
/// `complete` and `release` refuse a token that is no longer current.
///
/// The key layout is described in the crate docs. All workers of a job must use the same
/// canonicaliser (the CLI shares it through [`RedisFrontier::save_settings`]).
pub struct RedisFrontier {
    pub(crate) inner: Arc<Inner>,
    heartbeat: AbortHandle,
}

pub(crate) struct Inner {
    pub(crate) conn: ConnectionManager,
    pub(crate) prefix: String,
    pub(crate) options: RedisOptions,
    pub(crate) scripts: Scripts,
    /// Tokens of the leases this process holds and has not completed or released: what the
    /// heartbeat renews. A std mutex: it is never held across an await.
    held: Mutex<HashSet<u64>>,
    /// Set by `register_worker`: the heartbeat then also refreshes this worker's key.
    pub(crate) registered: AtomicBool,
    /// The drain flag as last seen (by the heartbeat or `is_draining`).
    pub(crate) draining: AtomicBool,
    /// Test hook: a paused heartbeat models a stalled process.
    pub(crate) paused: AtomicBool,
}

impl std::fmt::Debug for RedisFrontier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFrontier")
            .field("prefix", &self.inner.prefix)
            .field("worker_id", &self.inner.options.worker_id)
            .finish_non_exhaustive()
    }
}

impl RedisFrontier {
    /// Connects to the Redis at `url` (`redis://host:port/db`) and opens job `job` (created
    /// on first use; letters, digits, `-`, `_` and `.` only). Loads the scripts and starts the
    /// lease heartbeat, so it must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`FrontierError::Storage`] when the URL or job name is invalid, Redis stays unreachable
    /// for [`RedisOptions::reconnect_for`], or it is older than 6.2.
    pub async fn connect(
        url: &str,
        job: &str,
        options: RedisOptions,
    ) -> Result<RedisFrontier, FrontierError> {
        if !entry::valid_job(job) {
            return Err(FrontierError::Storage(format!(
                "invalid job name {job:?}: use 1-100 letters, digits, '-', '_' or '.'"
            )));
        }
        if options.per_host_leases == 0 || options.lease_ttl < Duration::from_millis(100) {
            return Err(FrontierError::Storage(
                "per_host_leases must be at least 1 and lease_ttl at least 100 ms".into(),
            ));
        }
        let client = Client::open(url)
            .map_err(|e| FrontierError::Storage(format!("invalid redis URL {url:?}: {e}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            // A response that never comes (a frozen server) must become a retryable error.
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| FrontierError::Storage(format!("redis client for {url:?}: {e}")))?;
        let scripts = Scripts::new();
        let version: String = with_retry(
            &conn,
            options.reconnect_for,
            "connect",
            |mut c, _| async move {
                redis::cmd("INFO")
                    .arg("server")
                    .query_async::<String>(&mut c)
                    .await
            },
        )
        .await?;
        check_version(&version)?;
        for script in scripts.all() {
            load(&conn, options.reconnect_for, script).await?;
        }
        let inner = Arc::new(Inner {
            conn,
            prefix: entry::prefix(job),
            options,
            scripts,
            held: Mutex::new(HashSet::new()),
            registered: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            paused: AtomicBool::new(false),
        });
        let every = (inner.options.lease_ttl / 3).max(Duration::from_millis(30));
        let heartbeat = tokio::spawn(heartbeat(Arc::downgrade(&inner), every)).abort_handle();
        Ok(RedisFrontier { inner, heartbeat })
    }

    /// The job's key prefix, `dragnet:{JOB}:`.
    pub fn key_prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// How many leases this process holds (leased, not yet completed or released).
    pub fn held_leases(&self) -> usize {
        self.inner.held().len()
    }

    /// Renews this process's leases and heartbeat now, as the background task does every
    /// third of the lease TTL.
    ///
    /// # Errors
    /// [`FrontierError::Storage`] when Redis cannot be reached.
    pub async fn renew_now(&self) -> Result<(), FrontierError> {
        self.inner.renew().await
    }

    /// Stops (`true`) or resumes the heartbeat; for tests that model a stalled worker.
    #[cfg(feature = "testing")]
    pub fn pause_heartbeat(&self, paused: bool) {
        self.inner.paused.store(paused, Ordering::Relaxed);
    }

    /// The `complete` script's arguments, as a first attempt (ARGV[7], replay, is `0`).
    fn complete_args(
        &self,
        lease: &Lease,
        outcome: Outcome,
        discovered: &[CrawlRequest],
    ) -> Vec<String> {
        let (kind, reason) = match outcome {
            Outcome::Done { .. } => ("done", String::new()),
            Outcome::Failed { reason, .. } => ("failed", reason),
        };
        let mut args = vec![
            self.inner.prefix.clone(),
            lease.token.to_string(),
            fingerprint(&lease.key).to_string(),
            kind.to_owned(),
            reason,
            millis(self.inner.options.host_delay),
            "0".to_owned(),
            millis(self.inner.ack_ttl()),
        ];
        for request in discovered {
            let key = self.inner.options.canon.key(&request.url);
            push_args(&mut args, &key, request);
        }
        args
    }

    pub(crate) fn counts_args(&self, cap: usize) -> Vec<String> {
        vec![
            self.inner.prefix.clone(),
            cap.to_string(),
            millis(self.inner.options.host_delay),
            MAX_EXPIRIES.to_string(),
        ]
    }

    /// Runs `script` with `args` (the key prefix first), retrying over connection loss.
    pub(crate) async fn invoke<T: redis::FromRedisValue>(
        &self,
        what: &str,
        script: &Script,
        args: &[String],
    ) -> Result<T, FrontierError> {
        self.inner.invoke(what, script, |_| args).await
    }
}

impl Drop for RedisFrontier {
    fn drop(&mut self) {
        // Without renewals this process's leases expire and the fleet reclaims them.
        self.heartbeat.abort();
    }
}

impl Inner {
    pub(crate) fn counts_key(&self) -> String {
        format!("{}counts", self.prefix)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        // A panic while holding this lock cannot leave the set half-updated (each use is one
        // insert/remove/clone), so a poisoned lock is still good data.
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `script`; `args(retry)` gives its arguments for an attempt.
    async fn invoke<'a, T, A>(
        &self,
        what: &str,
        script: &Script,
        args: A,
    ) -> Result<T, FrontierError>
    where
        T: redis::FromRedisValue,
        A: Fn(bool) -> &'a [String],
    {
        let key = self.counts_key();
        with_retry(
            &self.conn,
            self.options.reconnect_for,
            what,
            |mut conn, retry| {
                let mut call = script.key(&key);
                call.arg(args(retry));
                async move { call.invoke_async(&mut conn).await }
            },
        )
        .await
    }

    /// One heartbeat: extend every held lease that is still current, forget the lost ones,
    /// refresh the worker key and the drain flag.
    pub(crate) async fn renew(&self) -> Result<(), FrontierError> {
        let tokens: Vec<u64> = self.held().iter().copied().collect();
        let registered = self.registered.load(Ordering::Relaxed);
        if tokens.is_empty() && !registered {
            return Ok(());
        }
        let mut args = vec![
            self.prefix.clone(),
            millis(self.options.lease_ttl),
            self.options.worker_id.clone(),
            millis(self.options.lease_ttl),
            if registered { "1" } else { "0" }.to_owned(),
        ];
        args.extend(tokens.iter().map(u64::to_string));
        let answer: Vec<String> = self
            .invoke("lease renewal", &self.scripts.renew, |_| &args)
            .await?;
        self.draining
            .store(answer.first().is_some_and(|d| d == "1"), Ordering::Relaxed);
        let mut held = self.held();
        for lost in answer.iter().skip(1) {
            if let Ok(token) = lost.parse::<u64>() {
                tracing::warn!(
                    token,
                    "lease expired before it was renewed; it was reclaimed"
                );
                held.remove(&token);
            }
        }
        Ok(())
    }
}

/// Renews this process's leases every `every` until the frontier is dropped.
async fn heartbeat(inner: Weak<Inner>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if inner.paused.load(Ordering::Relaxed) {
            continue;
        }
        if let Err(error) = inner.renew().await {
            // The next tick tries again; leases survive a Redis outage shorter than their TTL.
            tracing::warn!(%error, "lease heartbeat failed");
        }
    }
}

/// Loads a script so its hash is known before first use (research pitfall 19: a pipelined
/// EVALSHA has no EVAL fallback). Plain calls would also recover from NOSCRIPT by themselves,
/// for example after a Redis restart emptied the script cache.
async fn load(
    conn: &ConnectionManager,
    budget: Duration,
    script: &Script,
) -> Result<(), FrontierError> {
    with_retry(conn, budget, "script load", |mut c, _| {
        let call = script.prepare_invoke();
        async move { call.load_async(&mut c).await.map(drop) }
    })
    .await
}

fn check_version(info: &str) -> Result<(), FrontierError> {
    let version = info
        .lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .map(str::trim)
        .unwrap_or("0");
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if found < MIN_REDIS {
        return Err(FrontierError::Storage(format!(
            "redis {version} is too old: the frontier needs {}.{} or newer",
            MIN_REDIS.0, MIN_REDIS.1
        )));
    }
    Ok(())
}

pub(crate) fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

fn stale(lease: &Lease) -> FrontierError {
    FrontierError::StaleLease {
        key: lease.key.clone(),
        token: lease.token,
    }
}

impl Frontier for RedisFrontier {
    async fn add(&self, requests: Vec<CrawlRequest>) -> Result<u64, FrontierError> {
        let mut added = 0;
        for chunk in requests.chunks(ADD_CHUNK) {
            let mut args = Vec::with_capacity(1 + 4 * chunk.len());
            args.push(self.inner.prefix.clone());
            for request in chunk {
                push_args(
                    &mut args,
                    &self.inner.options.canon.key(&request.url),
                    request,
                );
            }
            // A retried `add` after a lost reply counts the landed URLs as duplicates: the
            // number may be low, the queue is right (SADD makes the retry a no-op).
            let n: u64 = self.invoke("add", &self.inner.scripts.add, &args).await?;
            added += n;
        }
        Ok(added)
    }

    async fn lease(&self, max: usize) -> Result<Vec<Lease>, FrontierError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let options = &self.inner.options;
        let args = [
            self.inner.prefix.clone(),
            max.min(LEASE_MAX).to_string(),
            options.per_host_leases.to_string(),
            millis(options.lease_ttl),
            millis(options.host_delay),
            LEASE_RECLAIM_CAP.to_string(),
            MAX_EXPIRIES.to_string(),
        ];
        // If a reply is lost after the script ran, those leases are held by nobody: they expire
        // and are reclaimed after one TTL. Nothing is lost, only delayed.
        let flat: Vec<String> = self
            .invoke("lease", &self.inner.scripts.lease, &args)
            .await?;
        let mut leases = Vec::with_capacity(flat.len() / 2);
        for pair in flat.chunks_exact(2) {
            let (token, entry) = (&pair[0], &pair[1]);
            let token: u64 = token
                .parse()
                .map_err(|_| FrontierError::Storage(format!("bad lease token {token:?}")))?;
            let request = parse_entry(entry).ok_or_else(|| {
                FrontierError::Storage(format!("corrupt queue entry {entry:?} (token {token})"))
            })?;
            let key = options.canon.key(&request.url);
            leases.push(Lease {
                request,
                key,
                token,
            });
        }
        self.inner
            .held()
            .extend(leases.iter().map(|lease| lease.token));
        Ok(leases)
    }

    async fn complete(
        &self,
        lease: &Lease,
        outcome: Outcome,
        discovered: Vec<CrawlRequest>,
    ) -> Result<u64, FrontierError> {
        let args = self.complete_args(lease, outcome, &discovered);
        let mut retry_args = args.clone();
        retry_args[6] = "1".to_owned();
        let answer: Result<i64, _> = self
            .inner
            .invoke("complete", &self.inner.scripts.complete, |retry| {
                if retry {
                    retry_args.as_slice()
                } else {
                    args.as_slice()
                }
            })
            .await;
        self.inner.held().remove(&lease.token);
        let answer = answer?;
        u64::try_from(answer).map_err(|_| stale(lease))
    }

    async fn claim_redirect(
        &self,
        lease: &Lease,
        target: &url::Url,
    ) -> Result<bool, FrontierError> {
        let key = self.inner.options.canon.key(target);
        if key == lease.key {
            return Ok(true);
        }
        let fp = fingerprint(&key);
        let args = [
            self.inner.prefix.clone(),
            entry::bucket(fp).to_string(),
            fp.to_string(),
            fingerprint(&lease.key).to_string(),
        ];
        // Idempotent: a retry after a lost reply finds its own claim and answers 1 again.
        let claimed: i64 = self
            .invoke("claim", &self.inner.scripts.claim, &args)
            .await?;
        Ok(claimed == 1)
    }

    async fn release(&self, lease: &Lease) -> Result<(), FrontierError> {
        let args = [
            self.inner.prefix.clone(),
            lease.token.to_string(),
            fingerprint(&lease.key).to_string(),
            "0".to_owned(),
            millis(self.inner.ack_ttl()),
        ];
        let mut retry_args = args.clone();
        retry_args[3] = "1".to_owned();
        let answer: Result<i64, _> = self
            .inner
            .invoke("release", &self.inner.scripts.release, |retry| {
                if retry {
                    retry_args.as_slice()
                } else {
                    args.as_slice()
                }
            })
            .await;
        self.inner.held().remove(&lease.token);
        match answer? {
            0 => Ok(()),
            _ => Err(stale(lease)),
        }
    }

    fn is_durable(&self) -> bool {
        true
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn counts(&self) -> Result<FrontierCounts, FrontierError> {
        let args = self.counts_args(COUNTS_RECLAIM_CAP);
        loop {
            let c: Vec<u64> = self
                .invoke("counts", &self.inner.scripts.counts, &args)
                .await?;
            let [queued, leased, done, failed, more] = c[..] else {
                return Err(FrontierError::Storage(format!("bad counts reply {c:?}")));
            };
            if more == 0 {
                return Ok(FrontierCounts {
                    queued,
                    leased,
                    done,
                    failed,
                });
            }
        }
    }
}

impl Inner {
    /// How long a completion's answer is kept for replay: longer than any retry can take.
    fn ack_ttl(&self) -> Duration {
        (self.options.reconnect_for * 2).max(Duration::from_secs(120))
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::RedisServer;

    fn request(url: &str) -> CrawlRequest {
        CrawlRequest::seed(url::Url::parse(url).expect("test URL"))
    }

    /// A completion whose reply was lost is retried: the retry must replay the landed answer,
    /// not report a stale lease (the worker would then drop a result that was recorded).
    #[tokio::test]
    async fn a_retried_completion_replays_its_answer() {
        let Some(server) = RedisServer::shared().await else {
            return;
        };
        let frontier = server.frontier("replay", RedisOptions::default()).await;
        frontier
            .add(vec![request("http://r.test/")])
            .await
            .expect("add");
        let lease = frontier.lease(1).await.expect("lease").remove(0);
        let found = vec![request("http://r.test/a"), request("http://r.test/b")];
        let mut args = frontier.complete_args(&lease, Outcome::Done { attempts: 1 }, &found);
        let first: i64 = frontier
            .invoke("complete", &frontier.inner.scripts.complete, &args)
            .await
            .expect("first attempt");
        assert_eq!(first, 2);
        args[6] = "1".to_owned();
        let replayed: i64 = frontier
            .invoke("complete", &frontier.inner.scripts.complete, &args)
            .await
            .expect("retry");
        assert_eq!(replayed, 2, "the retry sees its own landed answer");
        let again = frontier
            .complete(&lease, Outcome::Done { attempts: 1 }, found)
            .await;
        assert!(
            matches!(again, Err(FrontierError::StaleLease { .. })),
            "{again:?}"
        );
        let counts = frontier.counts().await.expect("counts");
        assert_eq!(
            (counts.done, counts.queued, counts.leased),
            (1, 2, 0),
            "recorded once"
        );
    }
}
