//! Deterministic misbehaviour: latency, injected 500s and dropped connections per path and
//! attempt, and the per-host capacity queue.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::{Latency, SiteConfig};
use crate::rng;

const SHARDS: usize = 16;

/// What happens to one request after its latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Served normally.
    None,
    /// Answered with a 500.
    Error,
    /// Headers and part of the body, then the connection is closed.
    Drop,
}

/// The fate of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Delay before the response headers.
    pub(crate) delay: Duration,
    /// Injected fault, if any.
    pub(crate) fault: Fault,
}

/// Decides the fault for attempt `attempt` on a path that has already failed `failures` times.
pub(crate) fn decide(
    seed: u64,
    path_hash: u64,
    attempt: u32,
    failures: u32,
    error_rate: f64,
    drop_rate: f64,
    max_errors: u32,
) -> Fault {
    if failures >= max_errors || (error_rate <= 0.0 && drop_rate <= 0.0) {
        return Fault::None;
    }
    let u = rng::unit(rng::key(seed, path_hash, u64::from(attempt), 0xfa17));
    if u < error_rate {
        Fault::Error
    } else if u < error_rate + drop_rate {
        Fault::Drop
    } else {
        Fault::None
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct PathState {
    attempts: u32,
    failures: u32,
}

/// Per-site fault state: attempt counters per path and the capacity semaphores.
#[derive(Debug)]
pub(crate) struct Faults {
    seed: u64,
    error_rate: f64,
    drop_rate: f64,
    max_errors: u32,
    track: bool,
    shards: Vec<Mutex<HashMap<u64, PathState>>>,
    /// Per host; `None` where the host has no capacity limit.
    capacity: Vec<Option<Arc<Semaphore>>>,
}

impl Faults {
    pub(crate) fn new(config: &SiteConfig, hosts: usize) -> Faults {
        Faults {
            seed: config.seed,
            error_rate: config.error_rate.clamp(0.0, 1.0),
            drop_rate: config.drop_rate.clamp(0.0, 1.0),
            max_errors: config.max_errors_per_path,
            track: config.tracks_attempts(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            capacity: (0..hosts)
                .map(|h| {
                    config
                        .host_capacity(h)
                        .map(|k| Arc::new(Semaphore::new(k.max(1))))
                })
                .collect(),
        }
    }

    /// Counts an attempt on `path` and decides its latency (drawn from `latency`, the
    /// host's) and fault.
    pub(crate) fn plan(&self, path: &str, latency: &Latency) -> Plan {
        if !self.track {
            return Plan {
                delay: latency.delay(self.seed, 0, 0),
                fault: Fault::None,
            };
        }
        let h = rng::hash_str(self.seed, path);
        let shard = &self.shards[(h % SHARDS as u64) as usize];
        // Poisoning would only follow a panic while updating two integers: still consistent.
        let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
        let state = map.entry(h).or_default();
        let attempt = state.attempts;
        let fault = decide(
            self.seed,
            h,
            attempt,
            state.failures,
            self.error_rate,
            self.drop_rate,
            self.max_errors,
        );
        state.attempts = state.attempts.saturating_add(1);
        if fault != Fault::None {
            state.failures += 1;
        }
        Plan {
            delay: latency.delay(self.seed, h, attempt),
            fault,
        }
    }

    /// Waits for a capacity slot on `host` (FIFO); `None` when no capacity is configured.
    pub(crate) async fn acquire(&self, host: usize) -> Option<OwnedSemaphorePermit> {
        let sem = self.capacity.get(host)?.as_ref()?;
        // The semaphore is never closed, so acquiring cannot fail.
        Arc::clone(sem).acquire_owned().await.ok()
    }

    /// The seed every draw starts from.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    /// Forgets every attempt, so the same faults happen again.
    pub(crate) fn reset(&self) {
        for shard in &self.shards {
            shard.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(error_rate: f64, drop_rate: f64) -> SiteConfig {
        SiteConfig {
            error_rate,
            drop_rate,
            ..SiteConfig::default()
        }
    }

    #[test]
    fn failures_are_bounded_per_path() {
        let f = Faults::new(&config(1.0, 0.0), 1);
        let faults: Vec<Fault> = (0..5)
            .map(|_| f.plan("/a", &Latency::none()).fault)
            .collect();
        assert_eq!(
            faults,
            [
                Fault::Error,
                Fault::Error,
                Fault::None,
                Fault::None,
                Fault::None
            ]
        );
        f.reset();
        assert_eq!(f.plan("/a", &Latency::none()).fault, Fault::Error);
    }

    #[test]
    fn same_seed_same_faults() {
        let a = Faults::new(&config(0.3, 0.2), 1);
        let b = Faults::new(&config(0.3, 0.2), 1);
        let mut errors = 0;
        let mut drops = 0;
        for i in 0..500 {
            let path = format!("/p/{i}");
            let fa = a.plan(&path, &Latency::none()).fault;
            assert_eq!(fa, b.plan(&path, &Latency::none()).fault);
            errors += usize::from(fa == Fault::Error);
            drops += usize::from(fa == Fault::Drop);
        }
        assert!((100..200).contains(&errors), "{errors}");
        assert!((60..140).contains(&drops), "{drops}");
    }

    #[test]
    fn no_faults_without_rates() {
        let f = Faults::new(&SiteConfig::default(), 1);
        assert!((0..100).all(|_| f.plan("/x", &Latency::none()).fault == Fault::None));
    }
}
