//! robots.txt (RFC 9309), parsed once and queried many times, with Google's reference semantics.
//!
//! The parser and matcher follow google/robotstxt (`robots.cc`), which is what most sites test
//! their robots.txt against:
//!
//! - lines end at CR, LF or CRLF; a leading (even partial) UTF-8 BOM is skipped; `#` starts a
//!   comment; a line is cut after 16,663 bytes (Google's `8 * 2083` buffer), the rest ignored;
//! - `key: value`, or `key value` when the colon is missing and there are exactly two words;
//!   keys compare case-insensitively by prefix and accept Google's typos (`useragent`,
//!   `disalow`, `site-map`, ...);
//! - a group is one or more `user-agent` lines followed by rules; a rule line ends the list of
//!   agents, while `sitemap` and unknown lines never split a group (nor do blank lines); rules
//!   before the first `user-agent` line are ignored;
//! - a crawler obeys every group that names its product token (case-insensitively; merged),
//!   and only when there is none, every `*` group;
//! - the longest matching pattern (in bytes, after escaping) wins and `allow` wins ties; `*`
//!   matches any run of bytes and a trailing `$` anchors the end; an empty pattern never decides;
//! - patterns are percent-encoding-normalised (bytes ≥ 0x80 escaped, `%xx` uppercased); paths
//!   are compared as given, except that `%xx` is uppercased too (RFC 3986 §2.1: the hex case
//!   means nothing), so pass them percent-encoded, as [`Url::path`] always is;
//! - an `allow` pattern ending in `/index.htm…` also allows its directory (`/dir/$`).
//!
//! Beyond Google: `/robots.txt` itself is always allowed (RFC 9309 §2.2.2), the crawler's whole
//! `User-Agent` header may be passed (its [`product_token`] is used), and `crawl-delay` (not in
//! the RFC, but widely sent) is read. Google ignores `crawl-delay` as an unknown line; we treat
//! it as a group member, like a rule, so it ends the list of agents. Otherwise the very common
//!
//! ```text
//! User-agent: *
//! Crawl-delay: 10
//!
//! User-agent: BadBot
//! Disallow: /
//! ```
//!
//! would be one group, and `Disallow: /` would apply to every crawler.

use std::borrow::Cow;
use std::collections::HashSet;
use std::time::Duration;

use url::{Position, Url};

/// How much of a robots.txt is read: 500 KiB, the minimum RFC 9309 §2.5 asks crawlers to parse.
/// Anything after it is ignored, as if the file ended there.
pub const ROBOTS_MAX_BYTES: usize = 500 * 1024;

/// Google keeps at most `8 * 2083 - 1` bytes of a line (its buffer holds a final NUL): several
/// times the longest URL a browser accepts, so no real rule is cut.
const MAX_LINE_BYTES: usize = 8 * 2083 - 1;

/// A parsed robots.txt. Cheap to query; build one per host and cache it.
///
/// ```
/// use dragnet_extract::Robots;
/// use url::Url;
///
/// let robots = Robots::parse(b"User-agent: *\nDisallow: /private/\nAllow: /private/ok\n");
/// let ua = "dragnet/0.1 (+https://example.com/bot)";
/// assert!(!robots.allowed(ua, &Url::parse("https://a.example/private/x")?));
/// assert!(robots.allowed(ua, &Url::parse("https://a.example/private/ok")?));
/// # Ok::<(), url::ParseError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Robots {
    groups: Vec<Group>,
    sitemaps: Vec<String>,
}

/// One group: the agents it names and the rules under them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Group {
    /// Product tokens from `user-agent` lines, as written (compared ignoring ASCII case).
    agents: Vec<String>,
    /// Whether a `user-agent: *` line names this group.
    global: bool,
    rules: Vec<Rule>,
    /// The largest `crawl-delay` in the group.
    crawl_delay: Option<Duration>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// Escaped by [`escape_pattern`], so ASCII only; never empty.
    pattern: Box<[u8]>,
}

impl Group {
    fn names(&self, token: &str) -> bool {
        self.agents
            .iter()
            .any(|agent| agent.eq_ignore_ascii_case(token))
    }
}

impl Robots {
    /// Parses a robots.txt body. Never fails: lines that mean nothing are ignored, and only the
    /// first [`ROBOTS_MAX_BYTES`] are read.
    pub fn parse(body: &[u8]) -> Robots {
        let body = &body[..body.len().min(ROBOTS_MAX_BYTES)];
        // Google skips any prefix of the UTF-8 BOM, even a broken one (`EF BB` then text).
        let bom = b"\xEF\xBB\xBF";
        let skip = body.iter().zip(bom).take_while(|(a, b)| a == b).count();
        let mut parser = Parser::default();
        for line in body[skip..].split(|&b| b == b'\n' || b == b'\r') {
            let line = &line[..line.len().min(MAX_LINE_BYTES)];
            // Google works on C strings: a NUL ends the line.
            let line = line.split(|&b| b == 0).next().unwrap_or_default();
            parser.line(line);
        }
        parser.finish()
    }

    /// Everything allowed: what an unavailable robots.txt (HTTP 4xx) means.
    pub fn allow_all() -> Robots {
        Robots::default()
    }

    /// Everything disallowed but `/robots.txt`: what an unreachable robots.txt (HTTP 5xx, network
    /// error) means until it can be read.
    pub fn disallow_all() -> Robots {
        let group = Group {
            global: true,
            rules: vec![Rule {
                allow: false,
                pattern: Box::from(&b"/"[..]),
            }],
            ..Group::default()
        };
        Robots {
            groups: vec![group],
            sitemaps: Vec::new(),
        }
    }

    /// Whether `user_agent` may fetch `url`. `user_agent` may be the whole `User-Agent` header
    /// (`dragnet/0.1 (+https://...)`): its [`product_token`] is what groups are matched on. The
    /// URL's path and query are matched; its scheme, host and port are not looked at.
    pub fn allowed(&self, user_agent: &str, url: &Url) -> bool {
        self.allowed_path(user_agent, &url[Position::BeforePath..Position::AfterQuery])
    }

    /// Whether `user_agent` may fetch `path_and_query` (the request target: `/path?query`,
    /// percent-encoded). A missing leading `/` is added, an empty target means `/`, and a
    /// `#fragment` is ignored.
    pub fn allowed_path(&self, user_agent: &str, path_and_query: &str) -> bool {
        let path = normalize_path(path_and_query);
        let before_query = path.split('?').next().unwrap_or_default();
        if before_query == "/robots.txt" {
            return true;
        }
        let path = path.as_bytes();
        // The best (longest) matching allow and disallow pattern lengths; 0 = none.
        let (mut allow, mut disallow) = (0, 0);
        for group in self.groups_for(product_token(user_agent)) {
            for rule in &group.rules {
                let best = if rule.allow {
                    &mut allow
                } else {
                    &mut disallow
                };
                // Only a longer pattern can change the answer: skip the match for the others.
                if rule.pattern.len() > *best && matches(path, &rule.pattern) {
                    *best = rule.pattern.len();
                }
            }
        }
        disallow <= allow
    }

    /// The `crawl-delay` that applies to `user_agent` (the largest one in its groups), if any.
    /// Seconds, decimals accepted; negative or unparseable values are ignored. Not capped: the
    /// caller decides how long a delay it honours.
    pub fn crawl_delay(&self, user_agent: &str) -> Option<Duration> {
        self.groups_for(product_token(user_agent))
            .filter_map(|group| group.crawl_delay)
            .max()
    }

    /// The `sitemap:` URLs, in file order without duplicates, as written (they belong to no
    /// group, and may be relative or on other hosts: resolve them against the robots.txt URL).
    pub fn sitemaps(&self) -> &[String] {
        &self.sitemaps
    }

    /// The groups `token` obeys: those naming it, or the `*` groups when none does.
    fn groups_for<'a>(&'a self, token: &'a str) -> impl Iterator<Item = &'a Group> + 'a {
        let specific = !token.is_empty() && self.groups.iter().any(|g| g.names(token));
        self.groups.iter().filter(move |group| {
            if specific {
                group.names(token)
            } else {
                group.global
            }
        })
    }
}

/// What fetching `/robots.txt` gave, with RFC 9309 §2.3.1's rules for each outcome, so that the
/// fetcher cannot get them wrong: query this instead of a [`Robots`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RobotsStatus {
    /// A 2xx response: its rules apply.
    Fetched(Robots),
    /// A 4xx response other than 429 (or a redirect chain that did not end, §2.3.1.2): there are
    /// no rules, everything is allowed.
    Unavailable,
    /// A 5xx or 429 response, or a network error: everything is disallowed (§2.3.1.4) until the
    /// file can be read. Retry it later; after a long time (the RFC suggests 30 days) a cached
    /// copy may be used instead.
    Unreachable,
}

impl RobotsStatus {
    /// Classifies an HTTP response to `GET /robots.txt`, after redirects were followed (the RFC
    /// asks for at least five hops). 429 counts as unreachable, as Google does: the server is
    /// asking us to slow down, not saying there are no rules. Informational and unknown codes
    /// count as unreachable too.
    pub fn from_http(status: u16, body: &[u8]) -> RobotsStatus {
        match status {
            200..=299 => RobotsStatus::Fetched(Robots::parse(body)),
            429 => RobotsStatus::Unreachable,
            300..=499 => RobotsStatus::Unavailable,
            _ => RobotsStatus::Unreachable,
        }
    }

    /// See [`Robots::allowed`].
    pub fn allowed(&self, user_agent: &str, url: &Url) -> bool {
        self.allowed_path(user_agent, &url[Position::BeforePath..Position::AfterQuery])
    }

    /// See [`Robots::allowed_path`]. While unreachable, only `/robots.txt` is allowed.
    pub fn allowed_path(&self, user_agent: &str, path_and_query: &str) -> bool {
        match self {
            RobotsStatus::Fetched(robots) => robots.allowed_path(user_agent, path_and_query),
            RobotsStatus::Unavailable => true,
            RobotsStatus::Unreachable => {
                normalize_path(path_and_query).split('?').next() == Some("/robots.txt")
            }
        }
    }

    /// See [`Robots::crawl_delay`]; `None` unless fetched.
    pub fn crawl_delay(&self, user_agent: &str) -> Option<Duration> {
        match self {
            RobotsStatus::Fetched(robots) => robots.crawl_delay(user_agent),
            _ => None,
        }
    }

    /// See [`Robots::sitemaps`]; empty unless fetched.
    pub fn sitemaps(&self) -> &[String] {
        match self {
            RobotsStatus::Fetched(robots) => robots.sitemaps(),
            _ => &[],
        }
    }
}

/// The robots.txt URL for `url`'s origin: `scheme://host[:port]/robots.txt`, without user
/// information. Meaningful for `http` and `https` URLs.
pub fn robots_url(url: &Url) -> Url {
    let mut robots = url.clone();
    robots.set_path("/robots.txt");
    robots.set_query(None);
    robots.set_fragment(None);
    // These only fail on URLs that cannot have credentials, which then have none to remove.
    let _ = robots.set_username("");
    let _ = robots.set_password(None);
    robots
}

/// The product token of a `User-Agent` value: its leading run of `[A-Za-z_-]`, as RFC 9309
/// §2.2.1 defines it (`dragnet/0.1 (+https://...)` → `dragnet`). Empty if it starts with
/// anything else; an empty token obeys only the `*` groups.
pub fn product_token(user_agent: &str) -> &str {
    let end = user_agent
        .bytes()
        .position(|b| !(b.is_ascii_alphabetic() || b == b'-' || b == b'_'))
        .unwrap_or(user_agent.len());
    &user_agent[..end]
}

/// Builds [`Robots`] line by line, keeping Google's grouping state.
#[derive(Default)]
struct Parser {
    groups: Vec<Group>,
    /// The group `user-agent` lines and rules currently go to.
    current: Option<Group>,
    /// Whether `current` has had a rule (or crawl-delay): the next `user-agent` line then starts
    /// a new group.
    rules_seen: bool,
    sitemaps: Vec<String>,
    seen_sitemaps: HashSet<String>,
}

enum Key {
    UserAgent,
    Allow,
    Disallow,
    Sitemap,
    CrawlDelay,
    Unknown,
}

impl Parser {
    fn line(&mut self, line: &[u8]) {
        let Some((key, value)) = key_value(line) else {
            return;
        };
        match classify(key) {
            Key::UserAgent => self.user_agent(value),
            Key::Allow => self.rule(true, value),
            Key::Disallow => self.rule(false, value),
            Key::Sitemap => {
                let sitemap = String::from_utf8_lossy(value).into_owned();
                if !sitemap.is_empty() && self.seen_sitemaps.insert(sitemap.clone()) {
                    self.sitemaps.push(sitemap);
                }
            }
            Key::CrawlDelay => {
                if let Some(group) = self.current.as_mut() {
                    // A group member: see the module docs for why it ends the agent list.
                    self.rules_seen = true;
                    group.crawl_delay = group.crawl_delay.max(parse_delay(value));
                }
            }
            Key::Unknown => {}
        }
    }

    fn user_agent(&mut self, value: &[u8]) {
        if self.rules_seen || self.current.is_none() {
            self.groups.extend(self.current.take());
            self.rules_seen = false;
        }
        let group = self.current.get_or_insert_with(Group::default);
        // Google: `*` alone or followed by whitespace (`* # all`, `* foo`) names every crawler.
        if value.first() == Some(&b'*') && value.get(1).is_none_or(|&b| is_space(b)) {
            group.global = true;
        } else {
            // Only the product token counts: `FOO BAR` names `foo` (Google; the RFC forbids
            // spaces, webmasters write them anyway). The token is ASCII by construction.
            let token = String::from_utf8_lossy(value);
            let token = product_token(&token);
            if !token.is_empty() {
                group.agents.push(token.to_owned());
            }
        }
    }

    fn rule(&mut self, allow: bool, value: &[u8]) {
        // Rules before any user-agent line belong to no group and are ignored.
        let Some(group) = self.current.as_mut() else {
            return;
        };
        self.rules_seen = true;
        if value.is_empty() {
            // An empty pattern matches with length 0, which never decides: `Disallow:` allows.
            return;
        }
        let pattern = escape_pattern(value);
        if allow {
            // Google: allowing `/dir/index.htm…` also allows the directory itself. Its pattern
            // `/dir/$` is shorter, so adding it changes nothing where the original matches.
            if let Some(slash) = pattern.iter().rposition(|&b| b == b'/') {
                if pattern[slash..].starts_with(b"/index.htm") {
                    let mut directory = pattern[..=slash].to_vec();
                    directory.push(b'$');
                    group.rules.push(Rule {
                        allow,
                        pattern: directory.into(),
                    });
                }
            }
        }
        group.rules.push(Rule {
            allow,
            pattern: pattern.into(),
        });
    }

    fn finish(mut self) -> Robots {
        self.groups.extend(self.current.take());
        Robots {
            groups: self.groups,
            sitemaps: self.sitemaps,
        }
    }
}

/// Splits a line into trimmed key and value, or `None` if it holds no directive.
fn key_value(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let line = line.split(|&b| b == b'#').next().unwrap_or_default();
    let line = trim(line);
    let (key, value) = match line.iter().position(|&b| b == b':') {
        Some(colon) => (&line[..colon], &line[colon + 1..]),
        None => {
            // Google: `disallow /x` means `disallow: /x`, but only with exactly two words.
            let gap = line.iter().position(|&b| b == b' ' || b == b'\t')?;
            let value = trim(&line[gap..]);
            if value.iter().any(|&b| b == b' ' || b == b'\t') {
                return None;
            }
            (&line[..gap], value)
        }
    };
    let key = trim(key);
    (!key.is_empty()).then(|| (key, trim(value)))
}

fn classify(key: &[u8]) -> Key {
    let starts = |prefix: &str| {
        key.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    let any = |prefixes: &[&str]| prefixes.iter().any(|prefix| starts(prefix));
    if any(&["user-agent", "useragent", "user agent"]) {
        Key::UserAgent
    } else if starts("allow") {
        Key::Allow
    } else if any(&[
        "disallow",
        "dissallow",
        "dissalow",
        "disalow",
        "diasllow",
        "disallaw",
    ]) {
        Key::Disallow
    } else if any(&["sitemap", "site-map"]) {
        Key::Sitemap
    } else if any(&["crawl-delay", "crawldelay", "crawl delay"]) {
        Key::CrawlDelay
    } else {
        Key::Unknown
    }
}

/// `crawl-delay` seconds: a non-negative finite decimal number.
fn parse_delay(value: &[u8]) -> Option<Duration> {
    let seconds: f64 = std::str::from_utf8(value).ok()?.trim().parse().ok()?;
    // `try_from_secs_f64` refuses negative, NaN, infinite and overflowing values.
    Duration::try_from_secs_f64(seconds).ok()
}

/// Google's `MaybeEscapePattern`: bytes ≥ 0x80 become `%XX`, existing `%xx` escapes are
/// uppercased, everything else is kept (`/SanJoséSellers` → `/SanJos%C3%A9Sellers`).
fn escape_pattern(value: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let byte = value[i];
        if let Some(hex) = escape_at(value, i) {
            out.push(b'%');
            out.extend_from_slice(&hex.map(|b| b.to_ascii_uppercase()));
            i += 3;
            continue;
        }
        if byte >= 0x80 {
            out.extend_from_slice(&[
                b'%',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 15)],
            ]);
        } else {
            out.push(byte);
        }
        i += 1;
    }
    out
}

/// The two hex digits of a `%xx` escape starting at `i`, if there is one.
fn escape_at(bytes: &[u8], i: usize) -> Option<[u8; 2]> {
    match bytes.get(i..i + 3)? {
        [b'%', a, b] if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => Some([*a, *b]),
        _ => None,
    }
}

/// The request target as matched: fragment dropped, leading `/` ensured, `%xx` uppercased.
/// Borrows in the common case where nothing changes.
fn normalize_path(target: &str) -> Cow<'_, str> {
    let target = target.split('#').next().unwrap_or_default();
    let bytes = target.as_bytes();
    let lower_escape = (0..bytes.len())
        .any(|i| escape_at(bytes, i).is_some_and(|hex| hex.iter().any(u8::is_ascii_lowercase)));
    if target.starts_with('/') && !lower_escape {
        return Cow::Borrowed(target);
    }
    let mut out = String::with_capacity(target.len() + 1);
    if !target.starts_with('/') {
        out.push('/');
    }
    let mut i = 0;
    while i < bytes.len() {
        if let Some(hex) = escape_at(bytes, i) {
            out.push('%');
            out.extend(hex.map(|b| char::from(b.to_ascii_uppercase())));
            i += 3;
        } else {
            // Copy up to the next `%` in one piece, keeping UTF-8 intact.
            let next = bytes[i + 1..]
                .iter()
                .position(|&b| b == b'%')
                .map_or(bytes.len(), |p| i + 1 + p);
            out.push_str(&target[i..next]);
            i = next;
        }
    }
    Cow::Owned(out)
}

/// Whether `pattern` matches a prefix of `path` (all of it with a trailing `$`); `*` matches any
/// run of bytes. Literal pieces are found leftmost-first, which is optimal for every piece but
/// an end-anchored last one, handled apart. O(path × pattern) at worst, like Google's.
fn matches(path: &[u8], pattern: &[u8]) -> bool {
    let (pattern, anchored) = match pattern.strip_suffix(b"$") {
        Some(pattern) => (pattern, true),
        None => (pattern, false),
    };
    let mut pieces = pattern.split(|&b| b == b'*').peekable();
    let first = pieces.next().unwrap_or_default();
    if !path.starts_with(first) {
        return false;
    }
    let mut at = first.len();
    if pieces.peek().is_none() {
        return !anchored || at == path.len();
    }
    while let Some(piece) = pieces.next() {
        if anchored && pieces.peek().is_none() {
            return path.len() >= at + piece.len() && path.ends_with(piece);
        }
        match find(&path[at..], piece) {
            Some(found) => at += found + piece.len(),
            None => return false,
        }
    }
    true
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `absl::ascii_isspace`, which Google trims with: also vertical tab and form feed.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r')
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |e| e + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests;
