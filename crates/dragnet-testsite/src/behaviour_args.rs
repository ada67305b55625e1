//! The binary's rate-limit behaviour flags: a drawn behaviour (`--behaviour-seed`), one or a
//! list from a JSON file (`--behaviour`), or one spelled out with direct flags (`--bucket`,
//! `--window`, `--refuse-after-latency`, ...) for the benchmark's profiles.

use std::io::{Error, ErrorKind};
use std::path::PathBuf;

use clap::ValueEnum;
use dragnet_testsite::Latency;
use dragnet_testsite::limits::{Announce, Behaviour, Limit, RefusalTiming, RetryAfterForm};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum FormArg {
    Absent,
    Seconds,
    Date,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum AnnounceArg {
    None,
    Ietf,
    XRateLimit,
}

/// Flags that give the hosts a rate-limit behaviour.
#[derive(clap::Args, Debug)]
pub(crate) struct BehaviourArgs {
    /// Serve `Behaviour::draw(N)` on every host (latency, capacity and limit come from it).
    #[arg(long, conflicts_with = "behaviour")]
    behaviour_seed: Option<u64>,
    /// Serve the behaviour in this JSON file (one object, or a list: host i gets entry
    /// i % len).
    #[arg(long)]
    behaviour: Option<PathBuf>,
    /// Print the behaviours as JSON (a list, one per distinct entry) and exit.
    #[arg(long)]
    print_behaviour: bool,
    /// Token bucket: sustained rate, e.g. `60/s` or `60`.
    #[arg(long, conflicts_with_all = ["window", "behaviour", "behaviour_seed"])]
    bucket: Option<String>,
    /// Token bucket: requests allowed at once after a quiet spell (default: one second's
    /// worth).
    #[arg(long, requires = "bucket")]
    burst: Option<u32>,
    /// Fixed window: `Q/Ts`, e.g. `100/2s` (at most Q requests per T seconds).
    #[arg(long, conflicts_with_all = ["behaviour", "behaviour_seed"])]
    window: Option<String>,
    /// Answer refusals after the usual latency instead of at once.
    #[arg(long, conflicts_with_all = ["behaviour", "behaviour_seed"])]
    refuse_after_latency: bool,
    /// Status of a refusal: 429 or 503.
    #[arg(long, conflicts_with_all = ["behaviour", "behaviour_seed"])]
    status: Option<u16>,
    /// How a refusal says when to come back.
    #[arg(long, value_enum, conflicts_with_all = ["behaviour", "behaviour_seed"])]
    retry_after_form: Option<FormArg>,
    /// Announce the limit in headers on every response.
    #[arg(long, value_enum, conflicts_with_all = ["behaviour", "behaviour_seed"])]
    announce: Option<AnnounceArg>,
}

/// The legacy flags a behaviour spelled out with direct flags takes over.
pub(crate) struct Legacy {
    pub(crate) latency: Latency,
    pub(crate) cap_429: Option<usize>,
    pub(crate) retry_after: Option<u64>,
    pub(crate) capacity: Option<usize>,
}

impl BehaviourArgs {
    pub(crate) fn print(&self) -> bool {
        self.print_behaviour
    }

    /// The behaviours the flags ask for; empty when none do.
    pub(crate) fn behaviours(&self, legacy: &Legacy) -> std::io::Result<Vec<Behaviour>> {
        if let Some(seed) = self.behaviour_seed {
            return Ok(vec![Behaviour::draw(seed)]);
        }
        if let Some(file) = &self.behaviour {
            let text = std::fs::read_to_string(file)?;
            let parsed = serde_json::from_str::<Vec<Behaviour>>(&text)
                .or_else(|_| serde_json::from_str::<Behaviour>(&text).map(|b| vec![b]))
                .map_err(|e| invalid(format!("{}: {e}", file.display())))?;
            return Ok(parsed);
        }
        let direct = self.bucket.is_some()
            || self.window.is_some()
            || self.refuse_after_latency
            || self.status.is_some()
            || self.retry_after_form.is_some()
            || self.announce.is_some();
        if !direct {
            return Ok(Vec::new());
        }
        let limit = match (&self.bucket, &self.window, legacy.cap_429) {
            (Some(rate), None, None) => {
                let per_sec = parse_rate(rate)?;
                let burst = self.burst.unwrap_or(per_sec.ceil().max(1.0) as u32);
                Some(Limit::Bucket { per_sec, burst })
            }
            (None, Some(window), None) => Some(parse_window(window)?),
            (None, None, Some(max)) => Some(Limit::Cap { max }),
            (None, None, None) => None,
            _ => return Err(invalid("give one of --cap-429, --bucket, --window".into())),
        };
        let status = self.status.unwrap_or(429);
        if status != 429 && status != 503 {
            return Err(invalid(format!("--status {status}: 429 or 503")));
        }
        let is_cap = matches!(limit, Some(Limit::Cap { .. }));
        Ok(vec![Behaviour {
            latency_ms: legacy.latency.mean_ms,
            jitter_ms: legacy.latency.jitter_ms,
            tail_share: legacy.latency.tail_share,
            tail_ms: legacy.latency.tail_ms,
            capacity: legacy.capacity,
            limit,
            status,
            timing: if self.refuse_after_latency {
                RefusalTiming::AfterLatency
            } else {
                RefusalTiming::AtOnce
            },
            retry_after: match self.retry_after_form.unwrap_or(FormArg::Seconds) {
                FormArg::Absent => RetryAfterForm::Absent,
                FormArg::Seconds => RetryAfterForm::Seconds,
                FormArg::Date => RetryAfterForm::HttpDate,
            },
            cap_retry_after_secs: legacy.retry_after.unwrap_or(1),
            // A bucket or window says its own wait unless --retry-after pins it.
            fixed_retry_after_secs: legacy.retry_after.filter(|_| !is_cap),
            announce: match self.announce.unwrap_or(AnnounceArg::None) {
                AnnounceArg::None => Announce::None,
                AnnounceArg::Ietf => Announce::Ietf,
                AnnounceArg::XRateLimit => Announce::XRateLimit,
            },
            change: None,
        }])
    }
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidInput, msg)
}

/// `60/s` or `60`: requests per second.
fn parse_rate(text: &str) -> std::io::Result<f64> {
    let number = text.strip_suffix("/s").unwrap_or(text);
    match number.trim().parse::<f64>() {
        Ok(rate) if rate > 0.0 && rate.is_finite() => Ok(rate),
        _ => Err(invalid(format!(
            "--bucket {text}: want a rate such as 60/s"
        ))),
    }
}

/// `100/2s`: 100 requests per 2-second window.
fn parse_window(text: &str) -> std::io::Result<Limit> {
    let bad = || invalid(format!("--window {text}: want Q/Ts such as 100/2s"));
    let (quota, secs) = text.split_once('/').ok_or_else(bad)?;
    let quota = quota.trim().parse::<u32>().map_err(|_| bad())?;
    let secs = secs.trim().strip_suffix('s').unwrap_or(secs.trim());
    let secs = if secs.is_empty() {
        1.0
    } else {
        secs.parse::<f64>().map_err(|_| bad())?
    };
    if quota == 0 || !(secs > 0.0 && secs.is_finite()) {
        return Err(bad());
    }
    Ok(Limit::Window {
        quota,
        window_ms: (secs * 1000.0).round() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_windows_parse() {
        assert_eq!(parse_rate("60/s").unwrap(), 60.0);
        assert_eq!(parse_rate("2.5").unwrap(), 2.5);
        assert!(parse_rate("0/s").is_err());
        assert_eq!(
            parse_window("100/2s").unwrap(),
            Limit::Window {
                quota: 100,
                window_ms: 2000
            }
        );
        assert_eq!(
            parse_window("5/s").unwrap(),
            Limit::Window {
                quota: 5,
                window_ms: 1000
            }
        );
        assert!(parse_window("5").is_err());
    }
}
