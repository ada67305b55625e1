//! The in-memory frontier: for tests and for runs that need no resume.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use dragnet_extract::Canonicalizer;

use super::{Frontier, FrontierCounts, FrontierError, Lease, Outcome};
use crate::request::CrawlRequest;

/// Everything in one mutex: each operation is short (no I/O, no await inside), and one lock
/// makes `complete` (outcome + discovered links) trivially atomic.
#[derive(Debug)]
pub struct MemoryFrontier {
    canon: Canonicalizer,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Canonical key → state, for every URL ever seen (the dedup set).
    states: HashMap<String, State>,
    /// Redirect targets claimed ([`Frontier::claim_redirect`]): key → the claiming key.
    claimed: HashMap<String, String>,
    /// Per-host FIFO queues of (key, request).
    queues: HashMap<String, VecDeque<(String, CrawlRequest)>>,
    /// Hosts with a non-empty queue, in the order they will be served (round robin).
    ready_hosts: VecDeque<String>,
    next_token: u64,
    counts: FrontierCounts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Queued,
    Leased(u64),
    Done,
    Failed,
}

impl MemoryFrontier {
    /// An empty frontier that dedups with `canon`.
    pub fn new(canon: Canonicalizer) -> Self {
        Self {
            canon,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, FrontierError> {
        self.inner
            .lock()
            .map_err(|_| FrontierError::Storage("in-memory frontier lock poisoned".into()))
    }
}

impl Default for MemoryFrontier {
    fn default() -> Self {
        Self::new(Canonicalizer::new())
    }
}

impl Inner {
    fn push(&mut self, key: String, request: CrawlRequest, front: bool) {
        let host = request.host_key();
        let queue = self.queues.entry(host.clone()).or_default();
        if queue.is_empty() {
            self.ready_hosts.push_back(host);
        }
        if front {
            queue.push_front((key, request));
        } else {
            queue.push_back((key, request));
        }
        self.counts.queued += 1;
    }

    fn add(&mut self, canon: &Canonicalizer, requests: Vec<CrawlRequest>) -> u64 {
        let mut added = 0;
        for request in requests {
            let key = canon.key(&request.url);
            if self.states.contains_key(&key) || self.claimed.contains_key(&key) {
                continue;
            }
            self.states.insert(key.clone(), State::Queued);
            self.push(key, request, false);
            added += 1;
        }
        added
    }

    fn check_current(&self, lease: &Lease) -> Result<(), FrontierError> {
        match self.states.get(&lease.key) {
            Some(State::Leased(token)) if *token == lease.token => Ok(()),
            _ => Err(FrontierError::StaleLease {
                key: lease.key.clone(),
                token: lease.token,
            }),
        }
    }
}

impl Frontier for MemoryFrontier {
    async fn add(&self, requests: Vec<CrawlRequest>) -> Result<u64, FrontierError> {
        Ok(self.lock()?.add(&self.canon, requests))
    }

    async fn lease(&self, max: usize) -> Result<Vec<Lease>, FrontierError> {
        let mut inner = self.lock()?;
        let mut leases = Vec::with_capacity(max.min(inner.counts.queued as usize));
        while leases.len() < max {
            let Some(host) = inner.ready_hosts.pop_front() else {
                break;
            };
            let Some(queue) = inner.queues.get_mut(&host) else {
                continue;
            };
            let Some((key, request)) = queue.pop_front() else {
                inner.queues.remove(&host);
                continue;
            };
            if queue.is_empty() {
                inner.queues.remove(&host);
            } else {
                inner.ready_hosts.push_back(host);
            }
            inner.next_token += 1;
            let token = inner.next_token;
            inner.states.insert(key.clone(), State::Leased(token));
            inner.counts.queued -= 1;
            inner.counts.leased += 1;
            leases.push(Lease {
                request,
                key,
                token,
            });
        }
        Ok(leases)
    }

    async fn complete(
        &self,
        lease: &Lease,
        outcome: Outcome,
        discovered: Vec<CrawlRequest>,
    ) -> Result<u64, FrontierError> {
        let mut inner = self.lock()?;
        inner.check_current(lease)?;
        let state = match outcome {
            Outcome::Done { .. } => {
                inner.counts.done += 1;
                State::Done
            }
            Outcome::Failed { .. } => {
                inner.counts.failed += 1;
                State::Failed
            }
        };
        inner.counts.leased -= 1;
        inner.states.insert(lease.key.clone(), state);
        Ok(inner.add(&self.canon, discovered))
    }

    async fn claim_redirect(
        &self,
        lease: &Lease,
        target: &url::Url,
    ) -> Result<bool, FrontierError> {
        let key = self.canon.key(target);
        if key == lease.key {
            return Ok(true);
        }
        let mut inner = self.lock()?;
        if inner.states.contains_key(&key) {
            return Ok(false);
        }
        match inner.claimed.get(&key) {
            Some(owner) => Ok(*owner == lease.key),
            None => {
                inner.claimed.insert(key, lease.key.clone());
                Ok(true)
            }
        }
    }

    async fn release(&self, lease: &Lease) -> Result<(), FrontierError> {
        let mut inner = self.lock()?;
        inner.check_current(lease)?;
        inner.counts.leased -= 1;
        inner.states.insert(lease.key.clone(), State::Queued);
        // Back at the front: it was next in line before it was leased.
        inner.push(lease.key.clone(), lease.request.clone(), true);
        Ok(())
    }

    async fn counts(&self) -> Result<FrontierCounts, FrontierError> {
        Ok(self.lock()?.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::frontier_conformance!(MemoryFrontier::default());
}
