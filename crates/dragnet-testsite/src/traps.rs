//! Crawler traps, generated per request: an endless calendar, an endless repeating path,
//! session ids and tracking parameters that make endless distinct URLs for five pages, and
//! pages reachable under two URLs that name their canonical one.
//!
//! - `/traps/`: links to the entry point of each trap.
//! - `/calendar/{year}/{month}`: links to the previous and next month (forever), and to
//!   `/files/calendar-exit`.
//! - `/repeat/{path}`: links to `/repeat/{path}/{path}` and `/repeat/{path}/{first segment}`.
//! - `/session/{1..5}?sid=S`: links to `/session/1..5?sid=S'` and to
//!   `/session/{n}?utm_source=…&utm_medium=link&sid=S'`, where `S'` is a hash of `S`; the
//!   title, text and `rel=canonical` (`/session/{n}`) do not depend on the query, only the
//!   links do.
//! - `/canonical/{n}`: `<link rel="canonical" href="/canonical/{n}">` and a link to
//!   `/canonical/{n}?ref=x`, which serves the same bytes (the query is ignored).

use crate::response::Routed;
use crate::rng;
use crate::text::escape;

/// The session pages are `/session/1` to `/session/SESSION_PAGES`.
pub(crate) const SESSION_PAGES: u32 = 5;

/// The entry points the `/traps/` index links to.
pub(crate) const ENTRY_POINTS: &[&str] = &[
    "/calendar/2024/01",
    "/repeat/a/b",
    "/session/1",
    "/canonical/1",
    "/canonical/2?ref=x",
];

/// The trap pages, `None` for any other path.
pub(crate) fn route(seed: u64, path: &str, query: Option<&str>) -> Option<Routed> {
    if path == "/traps/" {
        return Some(Routed::html(page(
            "Crawler traps",
            None,
            "Entry points of the crawler traps.",
            ENTRY_POINTS.iter().map(|l| (*l).to_owned()),
        )));
    }
    let body = if let Some(rest) = path.strip_prefix("/calendar/") {
        calendar(rest)
    } else if let Some(rest) = path.strip_prefix("/repeat/") {
        Some(repeat(rest))
    } else if let Some(n) = path.strip_prefix("/session/") {
        session(seed, n, query)
    } else if let Some(n) = path.strip_prefix("/canonical/") {
        canonical(n)
    } else {
        return None;
    };
    Some(body.map_or_else(Routed::not_found, Routed::html))
}

/// `/calendar/{year}/{month}` (month 1 to 12, with or without a leading zero).
fn calendar(rest: &str) -> Option<String> {
    let (year, month) = rest.split_once('/')?;
    let year: u32 = year.parse().ok()?;
    let month: u32 = month.parse().ok().filter(|m| (1..=12).contains(m))?;
    let prev = match month {
        1 => year.checked_sub(1).map(|y| (y, 12)),
        m => Some((year, m - 1)),
    };
    let next = match month {
        12 => year.checked_add(1).map(|y| (y, 1)),
        m => Some((year, m + 1)),
    };
    let links = [prev, next]
        .into_iter()
        .flatten()
        .map(|(y, m)| format!("/calendar/{y}/{m:02}"))
        .chain(["/files/calendar-exit".to_owned()]);
    let days = (1..=days_in_month(year, month))
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    Some(page(
        &format!("Calendar {year}-{month:02}"),
        None,
        &format!("Days: {days}."),
        links,
    ))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `/repeat/{rest}`: every page links deeper, repeating its own path.
fn repeat(rest: &str) -> String {
    let rest = rest.trim_end_matches('/');
    let links: Vec<String> = if rest.is_empty() {
        vec!["/repeat/a/b".to_owned()]
    } else {
        let first = rest.split('/').next().unwrap_or(rest);
        vec![
            format!("/repeat/{rest}/{rest}"),
            format!("/repeat/{rest}/{first}"),
        ]
    };
    page(
        &format!("Repeat {rest}"),
        None,
        "Every link goes one level deeper.",
        links,
    )
}

/// The session id that links from a page whose own session id is `sid` carry.
pub(crate) fn next_sid(seed: u64, sid: &str) -> String {
    format!("{:016x}", rng::hash_str(seed ^ 0x5e55_10a1, sid))
}

/// `/session/{n}`: five pages whose links each carry a fresh session id.
fn session(seed: u64, n: &str, query: Option<&str>) -> Option<String> {
    let n: u32 = n.parse().ok().filter(|n| (1..=SESSION_PAGES).contains(n))?;
    let sid = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("sid="))
        .unwrap_or("");
    let next = next_sid(seed, sid);
    let links = (1..=SESSION_PAGES)
        .map(|m| format!("/session/{m}?sid={next}"))
        .chain([format!(
            "/session/{n}?utm_source=trap-{short}&utm_medium=link&sid={next}",
            short = &next[..8]
        )]);
    Some(page(
        &format!("Session page {n}"),
        Some(&format!("/session/{n}")),
        &format!("The content of session page {n} is the same whatever the session id."),
        links,
    ))
}

/// `/canonical/{n}`: the same bytes whatever the query, naming `/canonical/{n}` canonical.
fn canonical(n: &str) -> Option<String> {
    let n: u64 = n.parse().ok()?;
    Some(page(
        &format!("Canonical page {n}"),
        Some(&format!("/canonical/{n}")),
        "This page is also served with a query; its canonical URL has none.",
        [format!("/canonical/{n}?ref=x")],
    ))
}

/// A small HTML page with an optional `rel=canonical` and a list of links.
fn page(
    title: &str,
    canonical: Option<&str>,
    text: &str,
    links: impl IntoIterator<Item = String>,
) -> String {
    let title = escape(title);
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{title}</title>\n"
    );
    if let Some(c) = canonical {
        out.push_str(&format!(
            "<link rel=\"canonical\" href=\"{}\">\n",
            escape(c)
        ));
    }
    out.push_str(&format!(
        "</head>\n<body>\n<h1>{title}</h1>\n<p>{}</p>\n<ul>\n",
        escape(text)
    ));
    for link in links {
        let link = escape(&link);
        out.push_str(&format!("<li><a href=\"{link}\">{link}</a></li>\n"));
    }
    out.push_str("</ul>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    /// The hrefs of a page, entities decoded (only `&amp;` occurs).
    fn hrefs(r: &Routed) -> Vec<String> {
        let html = std::str::from_utf8(&r.body).expect("utf-8");
        html.split("<a href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(|h| h.replace("&amp;", "&"))
            .collect()
    }

    fn get(path: &str, query: Option<&str>) -> Routed {
        route(1, path, query).expect("a trap route")
    }

    #[test]
    fn index_links_every_entry_point() {
        assert_eq!(hrefs(&get("/traps/", None)), ENTRY_POINTS);
        for entry in ENTRY_POINTS {
            let (path, query) = entry
                .split_once('?')
                .map_or((*entry, None), |(p, q)| (p, Some(q)));
            assert_eq!(get(path, query).status, StatusCode::OK, "{entry}");
        }
    }

    #[test]
    fn calendar_goes_on_forever() {
        assert_eq!(
            hrefs(&get("/calendar/2024/01", None)),
            [
                "/calendar/2023/12",
                "/calendar/2024/02",
                "/files/calendar-exit"
            ]
        );
        assert_eq!(
            hrefs(&get("/calendar/2024/12", None)),
            [
                "/calendar/2024/11",
                "/calendar/2025/01",
                "/files/calendar-exit"
            ]
        );
        assert_eq!(hrefs(&get("/calendar/0/1", None))[0], "/calendar/0/02");
        let feb = get("/calendar/2024/2", None);
        assert!(
            std::str::from_utf8(&feb.body)
                .expect("utf-8")
                .contains(" 29.")
        );
        for bad in [
            "/calendar/2024/13",
            "/calendar/2024",
            "/calendar/x/01",
            "/calendar/2024/01/02",
        ] {
            assert_eq!(get(bad, None).status, StatusCode::NOT_FOUND, "{bad}");
        }
    }

    #[test]
    fn repeat_repeats_the_path() {
        assert_eq!(
            hrefs(&get("/repeat/a/b", None)),
            ["/repeat/a/b/a/b", "/repeat/a/b/a"]
        );
        assert_eq!(
            hrefs(&get("/repeat/a/b/a", None)),
            ["/repeat/a/b/a/a/b/a", "/repeat/a/b/a/a"]
        );
        assert_eq!(hrefs(&get("/repeat/", None)), ["/repeat/a/b"]);
    }

    #[test]
    fn session_ids_chain_but_content_does_not_change() {
        let first = get("/session/3", Some("sid=abc"));
        let links = hrefs(&first);
        let next = next_sid(1, "abc");
        assert_eq!(links.len(), 6);
        for (m, link) in links.iter().take(5).enumerate() {
            assert_eq!(link, &format!("/session/{}?sid={next}", m + 1));
        }
        assert!(links[5].starts_with("/session/3?utm_source=trap-"));
        assert!(links[5].ends_with(&format!("&utm_medium=link&sid={next}")));
        // Following a link gives yet another session id.
        let second = get("/session/1", Some(&format!("sid={next}")));
        assert!(hrefs(&second)[0].ends_with(&next_sid(1, &next)));
        assert_ne!(next, next_sid(1, &next));
        // Same text and canonical, whatever the query.
        let strip = |r: &Routed| {
            let html = std::str::from_utf8(&r.body).expect("utf-8").to_owned();
            html[..html.find("<ul>").expect("links")].to_owned()
        };
        let plain = get("/session/3", None);
        assert_eq!(strip(&first), strip(&plain));
        assert!(strip(&plain).contains("<link rel=\"canonical\" href=\"/session/3\">"));
        assert_eq!(
            get("/session/3", Some("utm_source=x&sid=abc")).body,
            first.body
        );
        assert_eq!(get("/session/0", None).status, StatusCode::NOT_FOUND);
        assert_eq!(get("/session/6", None).status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn canonical_pages_ignore_the_query() {
        let plain = get("/canonical/7", None);
        assert_eq!(plain.body, get("/canonical/7", Some("ref=x")).body);
        let html = std::str::from_utf8(&plain.body).expect("utf-8");
        assert!(html.contains("<link rel=\"canonical\" href=\"/canonical/7\">"));
        assert_eq!(hrefs(&plain), ["/canonical/7?ref=x"]);
        assert_eq!(get("/canonical/x", None).status, StatusCode::NOT_FOUND);
        assert!(route(1, "/other", None).is_none());
    }
}
