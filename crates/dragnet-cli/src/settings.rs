//! Command-line values → a validated `dragnet::Config`. Every parse error names the flag.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dragnet::{Config, LinkSelector, Scope};
use url::Url;

use crate::args::{Knobs, OutputArgs};

/// Parses a seed or input URL; a bare `example.com/x` gets `https://`, as browsers do.
pub(crate) fn parse_url(text: &str) -> Result<Url> {
    let text = text.trim();
    let parsed = match Url::parse(text) {
        Ok(url) => url,
        Err(url::ParseError::RelativeUrlWithoutBase) => Url::parse(&format!("https://{text}"))
            .with_context(|| format!("invalid URL {text:?}"))?,
        Err(error) => return Err(error).with_context(|| format!("invalid URL {text:?}")),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("invalid URL {text:?}: only http and https are supported");
    }
    Ok(parsed)
}

/// A CSS selector, with the selector's own complaint when it is invalid.
pub(crate) fn parse_selector(css: &str, flag: &str) -> Result<LinkSelector> {
    LinkSelector::parse(css).with_context(|| format!("{flag}: invalid selector"))
}

/// Applies the fetch knobs to `config`.
pub(crate) fn apply_knobs(config: &mut Config, knobs: &Knobs) -> Result<()> {
    if let Some(max) = knobs.max_concurrency {
        config.max_concurrency = max;
    }
    match knobs.concurrency.as_deref().map(str::trim) {
        _ if knobs.sequential => {
            config.concurrency = 1;
            config.per_host = 1;
        }
        None | Some("auto") => {
            config.auto_concurrency = true;
            // Auto finds each host's level; the per-host cap is auto's cap unless given.
            config.per_host = config.max_concurrency;
        }
        Some(text) => {
            let n: usize = text.parse().ok().filter(|n| *n > 0).with_context(|| {
                format!("--concurrency {text:?}: expected auto or a number of at least 1")
            })?;
            config.concurrency = n;
            // One number from the user means "this many in flight": do not cap it lower
            // per host unless they also say --per-host.
            config.per_host = config.per_host.max(n);
        }
    }
    if let Some(n) = knobs.per_host {
        config.per_host = n;
    }
    if let Some(n) = knobs.threads {
        config.threads = n;
    }
    if let Some(n) = knobs.retries {
        config.retries = n;
    }
    if let Some(text) = &knobs.timeout {
        config.timeout = parse_duration(text).context("--timeout")?;
    }
    if let Some(text) = &knobs.max_body {
        config.max_body = parse_size(text).context("--max-body")?;
    }
    if let Some(agent) = &knobs.user_agent {
        config.user_agent = agent.clone();
    }
    config.max_pages = knobs.max_pages;
    config.obey_robots = match knobs.robots.as_str() {
        "obey" => true,
        "ignore" => false,
        other => bail!("--robots {other:?}: expected obey or ignore"),
    };
    if let Some(text) = &knobs.max_crawl_delay {
        config.max_crawl_delay = parse_duration(text).context("--max-crawl-delay")?;
    }
    if let Some(text) = &knobs.delay {
        config.delay = parse_duration(text).context("--delay")?;
    }
    config.allow_private = knobs.allow_private;
    config.resolve = knobs
        .resolve
        .iter()
        .map(|entry| parse_resolve(entry).with_context(|| format!("--resolve {entry:?}")))
        .collect::<Result<_>>()?;
    Ok(())
}

/// Compiles `--allow`/`--deny` patterns, naming the flag and pattern that is invalid.
pub(crate) fn parse_patterns(patterns: &[String], flag: &str) -> Result<Vec<regex::Regex>> {
    patterns
        .iter()
        .map(|p| {
            regex::Regex::new(p)
                .with_context(|| format!("{flag} {p:?}: invalid regular expression"))
        })
        .collect()
}

/// Sets the output paths: pages into DIR, the pages log beside them unless named.
pub(crate) fn apply_output(config: &mut Config, output: &OutputArgs) -> Result<()> {
    config.layout = match output.layout.as_str() {
        "flat" => dragnet::sink::Layout::Flat,
        "mirror" => dragnet::sink::Layout::Mirror,
        other => bail!("--layout {other:?}: expected flat or mirror"),
    };
    config.dedup_content = output.dedup_content;
    config.out_dir = output.out.clone();
    config.pages_log = output
        .pages_log
        .clone()
        .or_else(|| output.out.as_ref().map(|dir| dir.join("pages.jsonl")));
    Ok(())
}

pub(crate) fn parse_scope(text: &str, same_host: bool) -> Result<Scope> {
    if same_host {
        return Ok(Scope::Host);
    }
    text.parse::<Scope>().map_err(|_| {
        anyhow::anyhow!("--scope {text:?}: expected host, domain, subdomains, prefix or any")
    })
}

/// `30`, `30s`, `1500ms`, `2m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        if seconds.is_finite() && seconds > 0.0 {
            return Ok(Duration::from_secs_f64(seconds));
        }
        bail!("{text:?} is not a positive duration");
    }
    let (number, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let value: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("{text:?} is not a duration"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => bail!("{text:?}: unknown unit {unit:?} (use ms, s, m or h)"),
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        bail!("{text:?} is not a positive duration");
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `1048576`, `512K`, `16M`, `1G` (binary multiples; a trailing `B`/`iB` is accepted).
pub(crate) fn parse_size(text: &str) -> Result<u64> {
    let upper = text.trim().to_ascii_uppercase();
    let trimmed = upper.trim_end_matches("IB").trim_end_matches('B');
    let (number, multiplier) = match trimmed.chars().last() {
        Some('K') => (&trimmed[..trimmed.len() - 1], 1u64 << 10),
        Some('M') => (&trimmed[..trimmed.len() - 1], 1 << 20),
        Some('G') => (&trimmed[..trimmed.len() - 1], 1 << 30),
        _ => (trimmed, 1),
    };
    let value: f64 = number
        .trim()
        .parse()
        .with_context(|| format!("{text:?} is not a size"))?;
    if !(value.is_finite() && value >= 1.0) {
        bail!("{text:?} is not a positive size");
    }
    Ok((value * multiplier as f64) as u64)
}

/// `host:port:addr`, as curl's --resolve.
pub(crate) fn parse_resolve(text: &str) -> Result<(String, SocketAddr)> {
    let mut parts = text.splitn(3, ':');
    let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("expected HOST:PORT:ADDR");
    };
    let port: u16 = port.parse().context("bad port")?;
    let ip: IpAddr = addr
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .context("bad address")?;
    Ok((host.to_ascii_lowercase(), SocketAddr::new(ip, port)))
}

/// Reads the URL list for `fetch`: one per line, blank lines and `#` comments skipped.
/// Bad lines are reported with their line number and skipped, not fatal.
pub(crate) fn read_url_list(path: &Path) -> Result<(Vec<Url>, Vec<String>)> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("failed to read URLs from stdin")?
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("failed to read {}", path.display()))?
    };
    let mut urls = Vec::new();
    let mut bad = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_url(line) {
            Ok(url) => urls.push(url),
            Err(error) => bad.push(format!("line {}: {error:#}", number + 1)),
        }
    }
    Ok((urls, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("16M").unwrap(), 16 << 20);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn resolve_entries() {
        let (host, addr) = parse_resolve("Example.com:443:127.0.0.2").unwrap();
        assert_eq!(host, "example.com");
        assert_eq!(addr, "127.0.0.2:443".parse().unwrap());
        assert_eq!(
            parse_resolve("h:80:[::1]").unwrap().1,
            "[::1]:80".parse().unwrap()
        );
        assert!(parse_resolve("nohost").is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("example.com/a").unwrap().as_str(),
            "https://example.com/a"
        );
        assert!(parse_url("ftp://example.com/").is_err());
        assert!(parse_url("http://").is_err());
    }

    #[test]
    fn one_concurrency_number_is_not_capped_per_host() {
        let mut config = Config::new(vec![parse_url("http://a.test/").unwrap()]);
        let knobs = Knobs {
            concurrency: Some("128".into()),
            max_concurrency: None,
            per_host: None,
            sequential: false,
            threads: None,
            retries: None,
            timeout: None,
            max_body: None,
            user_agent: None,
            max_pages: None,
            allow_private: false,
            resolve: Vec::new(),
            robots: "obey".into(),
            max_crawl_delay: None,
            delay: None,
        };
        apply_knobs(&mut config, &knobs).unwrap();
        assert_eq!((config.concurrency, config.per_host), (128, 128));
        assert!(!config.auto_concurrency);
        let auto = Knobs {
            concurrency: None,
            max_concurrency: Some(64),
            ..knobs.clone()
        };
        let mut config = Config::new(vec![parse_url("http://a.test/").unwrap()]);
        apply_knobs(&mut config, &auto).unwrap();
        assert!(config.auto_concurrency);
        assert_eq!((config.max_concurrency, config.per_host), (64, 64));
        let bad = Knobs {
            concurrency: Some("lots".into()),
            ..knobs
        };
        assert!(apply_knobs(&mut config, &bad).is_err());
    }
}
