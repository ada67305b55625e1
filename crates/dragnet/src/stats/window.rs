//! Per-window counters for the concurrency controller: what happened since the last tick,
//! per host and overall. Recorded on every attempt, taken (and reset) once per window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::fetch::FailureKind;

/// Latencies kept per host per window; enough for a stable median, bounded whatever the
/// request rate.
const MAX_LATENCIES: usize = 1024;

/// One host's window.
#[derive(Clone, Debug, Default)]
pub struct HostWindow {
    /// Attempts that succeeded.
    pub completed: u64,
    /// Their latencies (up to `MAX_LATENCIES`).
    pub latencies: Vec<Duration>,
    /// 429 and 503 answers.
    pub overloads: u64,
    /// Transport failures (timeouts, refused or reset connections).
    pub errors: u64,
}

impl HostWindow {
    /// Median and minimum latency, when anything completed.
    pub fn latency_p50_min(&mut self) -> (Option<Duration>, Option<Duration>) {
        if self.latencies.is_empty() {
            return (None, None);
        }
        self.latencies.sort_unstable();
        (
            Some(self.latencies[self.latencies.len() / 2]),
            self.latencies.first().copied(),
        )
    }
}

/// The attempts of the current window, by host.
#[derive(Debug, Default)]
pub struct WindowRecorder {
    hosts: Mutex<HashMap<String, HostWindow>>,
}

impl WindowRecorder {
    /// Records one attempt's outcome.
    pub fn record(&self, host: &str, outcome: Result<Duration, FailureKind>) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let window = match hosts.get_mut(host) {
            Some(window) => window,
            None => hosts.entry(host.to_owned()).or_default(),
        };
        match outcome {
            Ok(latency) => {
                window.completed += 1;
                if window.latencies.len() < MAX_LATENCIES {
                    window.latencies.push(latency);
                }
            }
            Err(kind) if kind.is_overload() => window.overloads += 1,
            Err(FailureKind::Timeout | FailureKind::Connect | FailureKind::BodyInterrupted) => {
                window.errors += 1
            }
            Err(_) => {}
        }
    }

    /// Everything recorded since the last call, by host; starts a new window.
    pub fn take(&self) -> HashMap<String, HostWindow> {
        std::mem::take(&mut *self.hosts.lock().unwrap_or_else(|p| p.into_inner()))
    }
}
