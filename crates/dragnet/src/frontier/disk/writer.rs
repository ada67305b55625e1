//! The writer thread: the only code that touches the store while the frontier runs.
//!
//! Group commit: the thread takes one command, then every command that queued behind it (up
//! to [`MAX_GROUP_COMMANDS`] or [`MAX_GROUP_URLS`]), runs them in one transaction, commits,
//! and only then answers each caller. The time the previous group spent committing is the
//! batching window, so the group grows with the load and no timer delays a lone call. A
//! command that fails for its own reason (a stale lease) is refused alone; any other error
//! fails the whole group, whose callers then all get it.
//!
//! A group holding only leases commits without fsync: a lease lost to a power cut just leaves
//! its URL queued, and the next durable commit syncs it anyway.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use super::{DiskError, State, StateCounts, now};
use crate::frontier::{FrontierCounts, Outcome};

/// `urls.state` of a redirect target claimed by another URL (its key in `reason`): in the
/// seen set, never queued, not in `counts`, outside every state query (`= 0`, `= 1`, `>= 3`).
const CLAIMED: i64 = -1;

/// Commands taken into one transaction at most.
const MAX_GROUP_COMMANDS: usize = 512;
/// URLs (added, discovered, leased) handled in one transaction at most, so one group's
/// commit cannot keep its first caller waiting for long.
const MAX_GROUP_URLS: usize = 50_000;
/// Hosts whose row id is remembered; the cache is emptied when full, so memory stays
/// bounded whatever the number of hosts.
const HOST_CACHE: usize = 65_536;

/// A URL ready to insert: the caller computes everything, so the single writer thread
/// only writes.
#[derive(Debug)]
pub(super) struct NewUrl {
    pub(super) fp: i64,
    /// The canonical key, or `None` when it equals `url`.
    pub(super) key: Option<String>,
    pub(super) url: String,
    pub(super) host: String,
    pub(super) depth: u32,
}

/// A leased row, turned into a [`crate::frontier::Lease`] by the caller.
#[derive(Debug)]
pub(super) struct Leased {
    /// The fingerprint stored with the key, to check the key against.
    pub(super) fp: i64,
    pub(super) key: String,
    pub(super) url: String,
    pub(super) depth: i64,
    pub(super) token: u64,
}

#[derive(Debug)]
pub(super) enum Op {
    Add(Vec<NewUrl>),
    Lease(usize),
    Complete {
        key: String,
        token: u64,
        outcome: Outcome,
        discovered: Vec<NewUrl>,
    },
    Release {
        key: String,
        token: u64,
    },
    /// See [`crate::frontier::Frontier::claim_redirect`].
    Claim {
        owner: String,
        target: NewUrl,
    },
}

impl Op {
    fn urls(&self) -> usize {
        match self {
            Op::Add(urls) => urls.len(),
            Op::Lease(max) => *max,
            Op::Complete { discovered, .. } => 1 + discovered.len(),
            Op::Release { .. } | Op::Claim { .. } => 1,
        }
    }
}

#[derive(Debug)]
pub(super) enum Reply {
    Added(u64),
    Leased(Vec<Leased>),
    Released,
    Claimed(bool),
}

pub(super) type Answer = Result<Reply, DiskError>;

pub(super) struct Command {
    pub(super) op: Op,
    pub(super) reply: oneshot::Sender<Answer>,
}

pub(super) struct Writer {
    pub(super) conn: Connection,
    pub(super) counts: StateCounts,
    /// Published after every commit for `counts()`, which then needs no round trip.
    pub(super) shared: Arc<Mutex<FrontierCounts>>,
    pub(super) turn: i64,
    /// Lease tokens are `incarnation << 40 | n`: unique across runs without a write.
    pub(super) incarnation: u64,
    pub(super) leases: u64,
    pub(super) hosts: HashMap<String, i64>,
    /// Whether the connection is currently set to fsync on commit.
    pub(super) durable: bool,
}

impl Writer {
    /// Serves commands until every sender is gone, then closes the store.
    pub(super) fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(first) = commands.blocking_recv() {
            let mut urls = first.op.urls();
            let mut group = vec![first];
            while group.len() < MAX_GROUP_COMMANDS && urls < MAX_GROUP_URLS {
                let Ok(next) = commands.try_recv() else {
                    break;
                };
                urls = urls.saturating_add(next.op.urls());
                group.push(next);
            }
            self.run_group(group);
        }
        // Closing checkpoints the WAL into the main file and removes it.
        if let Err((_, e)) = self.conn.close() {
            tracing::warn!("closing the frontier store: {e}");
        }
    }

    fn run_group(&mut self, group: Vec<Command>) {
        // A claim lost to a power cut costs at most a second fetch of its target.
        let durable = group
            .iter()
            .any(|c| !matches!(c.op, Op::Lease(_) | Op::Claim { .. }));
        let before = (self.counts, self.turn);
        let mut answers = Vec::with_capacity(group.len());
        // Set when the transaction itself broke: then nothing of the group may be kept.
        let mut broken = self.begin(durable).err();
        for command in &group {
            let answer = match &broken {
                Some(e) => Err(e.clone()),
                None => self.run_one(&command.op).unwrap_or_else(|e| {
                    broken = Some(e.clone());
                    Err(e)
                }),
            };
            answers.push(answer);
        }
        let committed = match broken {
            Some(e) => Err(e),
            None => self.commit(before),
        };
        if let Err(e) = committed {
            // Nothing of the group is stored: forget its effects and tell every caller.
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            (self.counts, self.turn) = before;
            self.hosts.clear();
            answers = group.iter().map(|_| Err(e.clone())).collect();
        }
        self.publish();
        for (command, answer) in group.into_iter().zip(answers) {
            // A caller that stopped waiting does not need its answer.
            let _ = command.reply.send(answer);
        }
    }

    fn begin(&mut self, durable: bool) -> Result<(), DiskError> {
        if durable != self.durable {
            let level = if durable { "FULL" } else { "NORMAL" };
            self.conn
                .execute_batch(&format!("PRAGMA synchronous = {level}"))
                .map_err(|e| DiskError::sql("setting durability", e))?;
            self.durable = durable;
        }
        self.exec("BEGIN IMMEDIATE", "starting a transaction")
    }

    fn commit(&mut self, before: (StateCounts, i64)) -> Result<(), DiskError> {
        let fail = |e| DiskError::sql("committing", e);
        if self.counts != before.0 {
            self.counts.store(&self.conn).map_err(fail)?;
        }
        if self.turn != before.1 {
            self.conn
                .prepare_cached("UPDATE meta SET value = ?1 WHERE name = 'turn'")
                .and_then(|mut stmt| stmt.execute([self.turn]))
                .map_err(fail)?;
        }
        self.exec("COMMIT", "committing")
    }

    fn publish(&self) {
        // A poisoned lock only means a reader panicked; the counts themselves are whole.
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        *shared = self.counts.frontier_counts();
    }

    fn exec(&self, sql: &str, context: &'static str) -> Result<(), DiskError> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute([]))
            .map(|_| ())
            .map_err(|e| DiskError::sql(context, e))
    }

    /// Runs one command. The outer `Err` means the transaction is broken and the group must
    /// not commit; the inner one is this command's own answer.
    ///
    /// No savepoint per command: SQLite copies every page a savepoint first touches into a
    /// statement journal, which cost a fifth of the insert time. None is needed, because the
    /// only error a command answers while the group goes on, a stale lease, is found by the
    /// command's first statement, before it writes anything. Any other error fails the group.
    fn run_one(&mut self, op: &Op) -> Result<Answer, DiskError> {
        let answer = match op {
            Op::Add(urls) => self.add(urls).map(Reply::Added),
            Op::Lease(max) => self.lease(*max).map(Reply::Leased),
            Op::Complete {
                key,
                token,
                outcome,
                discovered,
            } => self
                .complete(key, *token, outcome, discovered)
                .map(Reply::Added),
            Op::Release { key, token } => self.release(key, *token).map(|()| Reply::Released),
            Op::Claim { owner, target } => self.claim(owner, target).map(Reply::Claimed),
        };
        match answer {
            Err(DiskError::StaleLease) => Ok(Err(DiskError::StaleLease)),
            Err(e) => Err(e),
            Ok(reply) => Ok(Ok(reply)),
        }
    }

    fn add(&mut self, urls: &[NewUrl]) -> Result<u64, DiskError> {
        let fail = |e| DiskError::sql("adding URLs", e);
        let now = now();
        // Per host, in order of first appearance: how many URLs became queued.
        let mut per_host: Vec<(i64, i64)> = Vec::new();
        let mut slot: HashMap<i64, usize> = HashMap::new();
        let mut added = 0;
        for url in urls {
            if self.seen(url).map_err(fail)? {
                continue;
            }
            let host = self.host_id(&url.host).map_err(fail)?;
            self.conn
                .prepare_cached(
                    "INSERT INTO urls (fp, key, url, depth, host_id, state, added_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?6)",
                )
                .and_then(|mut stmt| {
                    stmt.execute(params![url.fp, url.key, url.url, url.depth, host, now])
                })
                .map_err(fail)?;
            let at = *slot.entry(host).or_insert_with(|| {
                per_host.push((host, 0));
                per_host.len() - 1
            });
            per_host[at].1 += 1;
            added += 1;
        }
        for (host, n) in per_host {
            self.requeue_host(host, n).map_err(fail)?;
        }
        self.counts.add(State::Queued, added as i64);
        Ok(added)
    }

    fn claim(&mut self, owner: &str, url: &NewUrl) -> Result<bool, DiskError> {
        let fail = |e| DiskError::sql("claiming a redirect target", e);
        let key = url.key.as_deref().unwrap_or(&url.url);
        let found: Option<(i64, Option<String>)> = self
            .conn
            .prepare_cached(
                "SELECT state, reason FROM urls WHERE fp = ?1 AND coalesce(key, url) = ?2",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![url.fp, key], |row| Ok((row.get(0)?, row.get(1)?)))
                    .optional()
            })
            .map_err(fail)?;
        if let Some((state, claimant)) = found {
            return Ok(state == CLAIMED && claimant.as_deref() == Some(owner));
        }
        let host = self.host_id(&url.host).map_err(fail)?;
        self.conn
            .prepare_cached(
                "INSERT INTO urls (fp, key, url, depth, host_id, state, reason, added_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    url.fp, url.key, url.url, url.depth, host, CLAIMED, owner, now()
                ])
            })
            .map_err(fail)?;
        Ok(true)
    }

    /// Whether the canonical key of `url` is already stored: the exact seen set, found
    /// through the fingerprint index.
    fn seen(&self, url: &NewUrl) -> rusqlite::Result<bool> {
        let key = url.key.as_deref().unwrap_or(&url.url);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT coalesce(key, url) = ?2 FROM urls WHERE fp = ?1")?;
        let mut rows = stmt.query(params![url.fp, key])?;
        while let Some(row) = rows.next()? {
            if row.get::<_, bool>(0)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn host_id(&mut self, host: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.hosts.get(host) {
            return Ok(*id);
        }
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM hosts WHERE host = ?1")?
            .query_row([host], |row| row.get(0))
            .optional()?;
        let id = match found {
            Some(id) => id,
            None => {
                self.conn
                    .prepare_cached("INSERT INTO hosts (host, queued, turn) VALUES (?1, 0, 0)")?
                    .execute([host])?;
                self.conn.last_insert_rowid()
            }
        };
        if self.hosts.len() >= HOST_CACHE {
            self.hosts.clear();
        }
        self.hosts.insert(host.to_owned(), id);
        Ok(id)
    }

    /// `n` more URLs of `host` are queued. A host whose queue was empty joins the back of
    /// the round robin, as a new arrival in the in-memory frontier does.
    fn requeue_host(&mut self, host: i64, n: i64) -> rusqlite::Result<()> {
        self.turn += 1;
        self.conn
            .prepare_cached(
                "UPDATE hosts SET turn = CASE WHEN queued = 0 THEN ?3 ELSE turn END,
                    queued = queued + ?2 WHERE id = ?1",
            )?
            .execute(params![host, n, self.turn])?;
        Ok(())
    }

    /// Hands out up to `max` queued URLs, one per host per round, hosts in turn order (the
    /// least recently served first); each served host goes to the back.
    fn lease(&mut self, max: usize) -> Result<Vec<Leased>, DiskError> {
        let fail = |e| DiskError::sql("leasing URLs", e);
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let hosts: Vec<(i64, i64)> = self
            .conn
            .prepare_cached("SELECT id, queued FROM hosts WHERE queued > 0 ORDER BY turn LIMIT ?1")
            .and_then(|mut stmt| {
                stmt.query_map([limit], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect()
            })
            .map_err(fail)?;
        let shares = round_robin(&hosts, max);
        let now = now();
        let mut queues: Vec<VecDeque<Row>> = Vec::new();
        for (&(host, _), &share) in hosts.iter().zip(&shares) {
            if share == 0 {
                continue;
            }
            let rows: VecDeque<Row> = self
                .conn
                .prepare_cached(
                    "SELECT id, fp, coalesce(key, url), url, depth FROM urls
                     WHERE host_id = ?1 AND state = 0 ORDER BY id LIMIT ?2",
                )
                .and_then(|mut stmt| {
                    stmt.query_map(params![host, share], |row| {
                        Ok((
                            row.get(0)?,
                            Leased {
                                fp: row.get(1)?,
                                key: row.get(2)?,
                                url: row.get(3)?,
                                depth: row.get(4)?,
                                token: 0,
                            },
                        ))
                    })?
                    .collect()
                })
                .map_err(fail)?;
            if rows.len() != share as usize {
                return Err(DiskError::damaged(
                    "leasing URLs",
                    format!(
                        "host {host} should have {share} queued URLs but has {}",
                        rows.len()
                    ),
                ));
            }
            self.turn += 1;
            self.conn
                .prepare_cached("UPDATE hosts SET queued = queued - ?2, turn = ?3 WHERE id = ?1")
                .and_then(|mut stmt| stmt.execute(params![host, share, self.turn]))
                .map_err(fail)?;
            queues.push(rows);
        }
        // Interleave the hosts' rows so the batch itself takes hosts in turn.
        let mut leased = Vec::with_capacity(max.min(shares.iter().sum::<i64>() as usize));
        while !queues.is_empty() {
            queues.retain_mut(|queue| {
                if let Some(row) = queue.pop_front() {
                    leased.push(row);
                }
                !queue.is_empty()
            });
        }
        let mut out = Vec::with_capacity(leased.len());
        for (id, mut row) in leased {
            self.leases += 1;
            let token = self.incarnation << 40 | self.leases;
            row.token = token;
            self.conn
                .prepare_cached(
                    "UPDATE urls SET state = 1, token = ?2, updated_at = ?3 WHERE id = ?1",
                )
                .and_then(|mut stmt| stmt.execute(params![id, token as i64, now]))
                .map_err(fail)?;
            out.push(row);
        }
        self.counts.add(State::Queued, -(out.len() as i64));
        self.counts.add(State::Leased, out.len() as i64);
        Ok(out)
    }

    fn complete(
        &mut self,
        key: &str,
        token: u64,
        outcome: &Outcome,
        discovered: &[NewUrl],
    ) -> Result<u64, DiskError> {
        let (state, attempts, reason) = match outcome {
            Outcome::Done { attempts } => (State::Done, *attempts, None),
            Outcome::Failed { reason, attempts } => (State::Failed, *attempts, Some(reason)),
        };
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE urls SET state = ?3, attempts = ?4, reason = ?5, token = NULL,
                    updated_at = ?6
                 WHERE token = ?1 AND state = 1 AND coalesce(key, url) = ?2",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    token as i64,
                    key,
                    state as i64,
                    attempts,
                    reason,
                    now()
                ])
            })
            .map_err(|e| DiskError::sql("completing a URL", e))?;
        if changed == 0 {
            return Err(DiskError::StaleLease);
        }
        self.counts.add(State::Leased, -1);
        self.counts.add(state, 1);
        self.add(discovered)
    }

    fn release(&mut self, key: &str, token: u64) -> Result<(), DiskError> {
        let fail = |e| DiskError::sql("releasing a URL", e);
        let host: Option<i64> = self
            .conn
            .prepare_cached(
                "UPDATE urls SET state = 0, token = NULL, updated_at = ?3
                 WHERE token = ?1 AND state = 1 AND coalesce(key, url) = ?2 RETURNING host_id",
            )
            .and_then(|mut stmt| {
                stmt.query_row(params![token as i64, key, now()], |row| row.get(0))
                    .optional()
            })
            .map_err(fail)?;
        let host = host.ok_or(DiskError::StaleLease)?;
        // Its id is older than anything queued since, so it is next in line for its host.
        self.requeue_host(host, 1).map_err(fail)?;
        self.counts.add(State::Leased, -1);
        self.counts.add(State::Queued, 1);
        Ok(())
    }
}

/// A queued row on its way to being leased: its row id and what the caller gets.
type Row = (i64, Leased);

/// How many URLs each host gives when `max` are dealt one per host per round, in order.
fn round_robin(hosts: &[(i64, i64)], max: usize) -> Vec<i64> {
    let mut shares = vec![0i64; hosts.len()];
    let mut left = max;
    while left > 0 {
        let mut dealt = false;
        for (share, &(_, queued)) in shares.iter_mut().zip(hosts) {
            if left == 0 {
                break;
            }
            if *share < queued {
                *share += 1;
                left -= 1;
                dealt = true;
            }
        }
        if !dealt {
            break;
        }
    }
    shares
}
