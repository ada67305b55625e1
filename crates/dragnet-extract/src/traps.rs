//! Crawler-trap guards: cheap checks on a URL's shape that stop endless URL spaces (session ids
//! appended forever, relative links that nest a path into itself, query strings that grow) before
//! they are queued.
//!
//! They cannot catch every trap: a calendar that links to next month with clean, absolute URLs
//! (`/calendar/2024/02/`, `/calendar/2024/03/`, ...) has a fine shape at every step. That is the
//! per-host page budget's job; see the `calendar_chains` test for which guard trips when.

use std::fmt;

use url::Url;

/// Limits on a URL's shape. [`Default`] holds values no ordinary site comes near.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrapGuard {
    /// Longest URL, in bytes of its serialisation (default 2048: browsers and sitemaps.org cap
    /// URLs near there, so longer ones are almost always generated).
    pub max_url_len: usize,
    /// Most path segments (default 32). Empty segments count, so `/a////////b` is deep too.
    pub max_path_depth: usize,
    /// Most times one segment, or one run of segments, may repeat back to back (default 3):
    /// `/a/b/a/b/a/b` passes, `/a/b/a/b/a/b/a/b` does not. Relative links resolved against the
    /// wrong base make exactly this shape. 0 counts as 1: no back-to-back repeat at all.
    pub max_repeated_segments: usize,
    /// Most `&`-separated query parameters (default 16).
    pub max_query_params: usize,
}

impl Default for TrapGuard {
    fn default() -> Self {
        TrapGuard {
            max_url_len: 2048,
            max_path_depth: 32,
            max_repeated_segments: 3,
            max_query_params: 16,
        }
    }
}

/// Which guard a URL tripped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrapReason {
    /// Longer than [`TrapGuard::max_url_len`].
    UrlTooLong,
    /// More path segments than [`TrapGuard::max_path_depth`].
    PathTooDeep,
    /// A segment or run of segments repeated more than [`TrapGuard::max_repeated_segments`]
    /// times in a row.
    RepeatedSegments,
    /// More query parameters than [`TrapGuard::max_query_params`].
    TooManyQueryParams,
}

impl TrapReason {
    /// A stable label for counters and failure records (`"trap_url_length"`, ...).
    pub fn label(&self) -> &'static str {
        match self {
            TrapReason::UrlTooLong => "trap_url_length",
            TrapReason::PathTooDeep => "trap_path_depth",
            TrapReason::RepeatedSegments => "trap_repeated_path",
            TrapReason::TooManyQueryParams => "trap_query_params",
        }
    }
}

impl fmt::Display for TrapReason {
    /// The [`label`](TrapReason::label).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl std::error::Error for TrapReason {}

impl TrapGuard {
    /// `Ok` if `url` passes every guard, else the first one it trips, checked in the order
    /// length, query, depth, repetition (cheapest first; the length cap also bounds the others'
    /// work).
    pub fn check(&self, url: &Url) -> Result<(), TrapReason> {
        if url.as_str().len() > self.max_url_len {
            return Err(TrapReason::UrlTooLong);
        }
        let params = url.query().map_or(0, |query| {
            query.split('&').filter(|p| !p.is_empty()).count()
        });
        if params > self.max_query_params {
            return Err(TrapReason::TooManyQueryParams);
        }
        let path = url.path();
        let path = path.strip_prefix('/').unwrap_or(path);
        // A trailing `/` ends the last segment rather than starting an empty one.
        let path = path.strip_suffix('/').unwrap_or(path);
        let segments: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        if segments.len() > self.max_path_depth {
            return Err(TrapReason::PathTooDeep);
        }
        if repeats_more_than(&segments, self.max_repeated_segments) {
            return Err(TrapReason::RepeatedSegments);
        }
        Ok(())
    }
}

/// Whether some run of `period` segments occurs more than `max` times back to back, for any
/// period. A run repeats `k` times exactly when `segments[i] == segments[i + period]` holds for
/// `(k - 1) * period` consecutive `i`, so each period is one linear scan: O(n²/max) in all.
fn repeats_more_than(segments: &[&str], max: usize) -> bool {
    // Every segment occurs once; a limit of 0 can only mean "no repeats", as 1 does.
    let max = max.max(1);
    let n = segments.len();
    let needed = |period: usize| max.saturating_mul(period);
    // A period repeated more than `max` times needs `(max + 1) * period` segments. Saturating:
    // `usize::MAX` (no limit) must not wrap to a division by zero.
    (1..=n / max.saturating_add(1)).any(|period| {
        let mut run = 0;
        (0..n - period).any(|i| {
            run = if segments[i] == segments[i + period] {
                run + 1
            } else {
                0
            };
            run >= needed(period)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str) -> Result<(), TrapReason> {
        TrapGuard::default().check(&Url::parse(url).unwrap())
    }

    #[test]
    fn labels_are_stable() {
        assert_eq!(TrapReason::UrlTooLong.label(), "trap_url_length");
        assert_eq!(TrapReason::PathTooDeep.label(), "trap_path_depth");
        assert_eq!(TrapReason::RepeatedSegments.label(), "trap_repeated_path");
        assert_eq!(TrapReason::TooManyQueryParams.label(), "trap_query_params");
        assert_eq!(TrapReason::PathTooDeep.to_string(), "trap_path_depth");
    }

    #[test]
    fn url_length() {
        let base = "https://h.example/";
        let fits = format!("{base}{}", "a".repeat(2048 - base.len()));
        assert_eq!(check(&fits), Ok(()));
        assert_eq!(check(&format!("{fits}b")), Err(TrapReason::UrlTooLong));
    }

    #[test]
    fn path_depth() {
        let path = |n: usize| {
            let segments: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
            format!("https://h.example/{}/", segments.join("/"))
        };
        assert_eq!(check(&path(32)), Ok(()));
        assert_eq!(check(&path(33)), Err(TrapReason::PathTooDeep));
        assert_eq!(check("https://h.example/"), Ok(()));
        assert_eq!(check("https://h.example"), Ok(()));
        // Empty segments count: 40 slashes in a row is a trap shape.
        let slashes = format!("https://h.example/a{}b", "/".repeat(40));
        assert_eq!(check(&slashes), Err(TrapReason::PathTooDeep));
    }

    #[test]
    fn repeated_segments() {
        let trips = [
            "https://h.example/a/b/a/b/a/b/a/b",
            "https://h.example/x/a/a/a/a/",
            "https://h.example/p/q/r/p/q/r/p/q/r/p/q/r/end",
            "https://h.example/a/////b",
        ];
        for url in trips {
            assert_eq!(check(url), Err(TrapReason::RepeatedSegments), "{url}");
        }
        let passes = [
            "https://h.example/a/b/a/b/a/b",
            "https://h.example/2024/01/01/",
            "https://h.example/a/a/",
            "https://h.example/a/a/a/",
            "https://h.example/a//b",
            "https://h.example/a/x/a/y/a/z/a/w/a",
            "https://h.example/docs/v1/docs/v1/api",
        ];
        for url in passes {
            assert_eq!(check(url), Ok(()), "{url}");
        }
        let strict = TrapGuard {
            max_repeated_segments: 1,
            ..TrapGuard::default()
        };
        let url = Url::parse("https://h.example/a/a").unwrap();
        assert_eq!(strict.check(&url), Err(TrapReason::RepeatedSegments));
        let zero = TrapGuard {
            max_repeated_segments: 0,
            ..TrapGuard::default()
        };
        assert_eq!(zero.check(&url), Err(TrapReason::RepeatedSegments));
        assert_eq!(
            zero.check(&Url::parse("https://h.example/a/b/a").unwrap()),
            Ok(())
        );
    }

    /// Found by fuzzing: `usize::MAX` limits (guards switched off) panicked on every URL,
    /// the repetition scan computing `max + 1`.
    #[test]
    fn unlimited_guards_pass_everything() {
        let off = TrapGuard {
            max_url_len: usize::MAX,
            max_path_depth: usize::MAX,
            max_repeated_segments: usize::MAX,
            max_query_params: usize::MAX,
        };
        for url in [
            "https://h.example/",
            "https://h.example/a/a/a/a/a/a/a/a",
            "https://h.example/a/////b?x&y",
        ] {
            assert_eq!(off.check(&Url::parse(url).unwrap()), Ok(()), "{url}");
        }
    }

    #[test]
    fn query_params() {
        let query = |n: usize| {
            let pairs: Vec<String> = (0..n).map(|i| format!("k{i}=v")).collect();
            format!("https://h.example/s?{}", pairs.join("&"))
        };
        assert_eq!(check(&query(16)), Ok(()));
        assert_eq!(check(&query(17)), Err(TrapReason::TooManyQueryParams));
        // Empty pairs (`&&&`) are not parameters.
        assert_eq!(check(&format!("{}&&&&&&&&", query(16))), Ok(()));
        assert_eq!(check("https://h.example/?"), Ok(()));
    }

    /// Which guard a generated calendar trips, and when.
    #[test]
    fn calendar_chains() {
        let guard = TrapGuard::default();
        let month = |step: u32| (2024 + step / 12, step % 12 + 1);

        // Absolute next-month links: every URL is well-shaped forever. Only the per-host page
        // budget stops this one.
        for step in 0..12 * 200 {
            let (year, month) = month(step);
            let url =
                Url::parse(&format!("https://h.example/calendar/{year}/{month:02}/")).unwrap();
            assert_eq!(guard.check(&url), Ok(()));
        }

        // Relative next-month links (`href="2024/02/"` from `/calendar/2024/01/`) nest: each
        // step adds two segments, so the depth guard trips on the 15th step (33 segments).
        let mut url = Url::parse("https://h.example/calendar/2024/01/").unwrap();
        let mut steps = 0;
        let tripped = loop {
            steps += 1;
            let (year, month) = month(steps);
            url = url.join(&format!("{year}/{month:02}/")).unwrap();
            if let Err(reason) = guard.check(&url) {
                break reason;
            }
        };
        assert_eq!((tripped, steps), (TrapReason::PathTooDeep, 15));

        // The same with the depth guard off: the years repeat (2024/01/2024/02/...), not the
        // segment pairs, so the repetition guard stays quiet and the length guard trips last.
        let lenient = TrapGuard {
            max_path_depth: usize::MAX,
            ..guard
        };
        let mut url = Url::parse("https://h.example/calendar/2024/01/").unwrap();
        let mut steps = 0;
        let tripped = loop {
            steps += 1;
            let (year, month) = month(steps);
            url = url.join(&format!("{year}/{month:02}/")).unwrap();
            if let Err(reason) = lenient.check(&url) {
                break reason;
            }
        };
        assert_eq!(tripped, TrapReason::UrlTooLong);
        assert!(steps > 200, "{steps}");

        // A query-string calendar that keeps appending its state trips the parameter guard.
        let mut url = Url::parse("https://h.example/events?view=month").unwrap();
        let mut steps = 0;
        let tripped = loop {
            steps += 1;
            let query = format!("{}&m{steps}=next", url.query().unwrap_or_default());
            url.set_query(Some(&query));
            if let Err(reason) = guard.check(&url) {
                break reason;
            }
        };
        assert_eq!((tripped, steps), (TrapReason::TooManyQueryParams, 16));
    }
}
