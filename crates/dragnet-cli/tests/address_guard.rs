//! The address guard, end to end: what the user typed is trusted, what a page sends is not.
//! A loopback seed crawls with no flag; its links and redirects to other loopback
//! listeners, in every spelling, directly and through an `HTTP_PROXY`, reach nothing and
//! are logged as `private_address`.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{assert_ok, pages_log};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

/// Proxy variables cleared from every run, so the test's own environment cannot change
/// the route.
const PROXY_VARIABLES: [&str; 8] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// Reads one request head (up to the blank line). Empty when the peer sent nothing.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// The request target of a head's first line (`GET TARGET HTTP/1.1`).
fn target_of(head: &str) -> String {
    head.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

async fn respond(stream: &mut TcpStream, status: &str, extra: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A listener that counts the connections it accepts and answers each with a page.
async fn counting_listener(ip: &str) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                read_head(&mut stream).await;
                respond(&mut stream, "200 OK", "", "<p>reached</p>").await;
            });
        }
    });
    (addr, count)
}

/// The seed's site: `/` links to `/page2` and to every target, and to `/r/N`, which
/// redirects to target N; `/sitemap.xml` lists its own `/page2` and every target with
/// `-sitemap` appended.
async fn seed_site(targets: Vec<String>) -> SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let own = format!("http://{addr}");
    let targets = Arc::new(targets);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let targets = Arc::clone(&targets);
            let own = own.clone();
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                // Through a proxy the target is absolute; the path is what matters here.
                let target = target_of(&head);
                let path = Url::parse(&target).map_or(target.clone(), |u| u.path().to_owned());
                if path == "/" {
                    let mut body = String::from("<a href=\"/page2\">same site</a>\n");
                    for (i, t) in targets.iter().enumerate() {
                        body += &format!(
                            "<a href=\"{t}\">link {i}</a>\n<a href=\"/r/{i}\">redirect {i}</a>\n"
                        );
                    }
                    respond(&mut stream, "200 OK", "", &body).await;
                } else if path == "/sitemap.xml" {
                    let mut body = String::from(
                        r#"<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">"#,
                    );
                    body += &format!("<url><loc>{own}/page2</loc></url>");
                    for t in targets.iter() {
                        body += &format!("<url><loc>{t}-sitemap</loc></url>");
                    }
                    body += "</urlset>";
                    respond(&mut stream, "200 OK", "", &body).await;
                } else if path == "/page2" {
                    respond(&mut stream, "200 OK", "", "<p>page two</p>").await;
                } else if let Some(t) = path
                    .strip_prefix("/r/")
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| targets.get(i))
                {
                    respond(&mut stream, "302 Found", &format!("location: {t}\r\n"), "").await;
                } else {
                    respond(&mut stream, "404 Not Found", "", "").await;
                }
            });
        }
    });
    addr
}

/// A small forward proxy for http: reads an absolute-form request, records its target,
/// connects where it says (resolving names itself, as proxies do) and relays.
async fn forward_proxy() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let recorded = Arc::clone(&recorded);
            tokio::spawn(async move {
                let head = read_head(&mut client).await;
                let target = target_of(&head);
                recorded.lock().unwrap().push(target.clone());
                let Ok(url) = Url::parse(&target) else {
                    return respond(&mut client, "400 Bad Request", "", "").await;
                };
                let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
                let port = url.port_or_known_default().unwrap_or(80);
                let Ok(mut upstream) = TcpStream::connect((host, port)).await else {
                    return respond(&mut client, "502 Bad Gateway", "", "").await;
                };
                let rest = head.split_once("\r\n").map_or("", |(_, rest)| rest);
                let request = format!("GET {} HTTP/1.1\r\n{rest}", url.path());
                if upstream.write_all(request.as_bytes()).await.is_ok() {
                    let _ = tokio::io::copy(&mut upstream, &mut client).await;
                }
                let _ = client.shutdown().await;
            });
        }
    });
    (addr, seen)
}

/// A name other than `localhost` that this machine's hosts file maps to loopback (Debian
/// maps its host name to 127.0.1.1), to show that names are checked by their address.
fn loopback_alias() -> Option<String> {
    let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
    hosts.lines().find_map(|line| {
        let mut fields = line.split('#').next()?.split_whitespace();
        let addr: std::net::Ipv4Addr = fields.next()?.parse().ok()?;
        if !addr.is_loopback() {
            return None;
        }
        fields
            .find(|name| !name.contains("localhost") && !name.contains(':'))
            .map(str::to_owned)
    })
}

async fn crawl(seed: &str, sitemap: &str, out: &Path, proxy: Option<SocketAddr>) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dragnet"));
    command
        .args([
            "crawl",
            seed,
            "--sitemap",
            sitemap,
            "--scope",
            "any",
            "--depth",
            "1",
            "--retries",
            "0",
            "-q",
        ])
        .arg("--out")
        .arg(out)
        .env("RUST_LOG", "warn");
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
    if let Some(proxy) = proxy {
        command.env("HTTP_PROXY", format!("http://{proxy}"));
    }
    tokio::task::spawn_blocking(move || command.output().expect("dragnet runs"))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_and_redirects_to_other_local_addresses_reach_nothing_by_any_route() {
    // 127.0.0.2, and another port of the seed's own address.
    let (other_ip, other_ip_count) = counting_listener("127.0.0.2").await;
    let (other_port, other_port_count) = counting_listener("127.0.0.1").await;
    let (q, r) = (other_ip.port(), other_port.port());
    let mut targets = vec![
        format!("http://127.0.0.2:{q}/plain"),
        format!("http://2130706434:{q}/decimal"),
        format!("http://0x7f000002:{q}/hex"),
        format!("http://0177.0.0.2:{q}/octal"),
        format!("http://[::ffff:127.0.0.2]:{q}/mapped"),
        format!("http://[::7f00:2]:{q}/compatible"),
        format!("http://[64:ff9b::7f00:2]:{q}/nat64"),
        format!("http://[2002:7f00:2::]:{q}/6to4"),
        format!("http://127.0.0.1:{r}/other-port"),
        format!("http://localhost:{r}/localhost"),
        format!("http://LocalHost.:{r}/trailing-dot"),
    ];
    match loopback_alias() {
        Some(name) => targets.push(format!("http://{name}:{r}/alias")),
        None => eprintln!("no loopback alias in /etc/hosts: the name-resolution case is not run"),
    }
    let seed_addr = seed_site(targets.clone()).await;
    let seed = format!("http://127.0.0.1:{}/", seed_addr.port());
    // A sitemap typed with --sitemap, on an address of its own: trusted like a seed; the
    // entries it lists are what the web sends.
    let sitemap_site = format!("http://{}", seed_site(targets.clone()).await);
    let sitemap = format!("{sitemap_site}/sitemap.xml");
    let (proxy, proxy_seen) = forward_proxy().await;

    // The same URL may be written several ways; the log holds the parsed form.
    let refused: BTreeSet<String> = targets
        .iter()
        .map(|t| Url::parse(t).unwrap().to_string())
        .chain((0..targets.len()).map(|i| format!("{seed}r/{i}")))
        .chain(
            targets
                .iter()
                .map(|t| Url::parse(&format!("{t}-sitemap")).unwrap().to_string()),
        )
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for (route, via) in [("direct", None), ("proxy", Some(proxy))] {
        let out = dir.path().join(route);
        let output = crawl(&seed, &sitemap, &out, via).await;
        assert_ok(&output);
        let log = pages_log(&out);
        let status_of = |url: &str| {
            log.iter()
                .find(|l| l["url"] == url)
                .map(|l| (l["status"].clone(), l["error"].clone()))
        };
        assert_eq!(
            status_of(&seed).map(|s| s.0),
            Some(200.into()),
            "{route}: the typed loopback seed is fetched without --allow-private"
        );
        assert_eq!(
            status_of(&format!("{seed}page2")).map(|s| s.0),
            Some(200.into()),
            "{route}: the seed's own host and port are trusted"
        );
        assert_eq!(
            status_of(&format!("{sitemap_site}/page2")).map(|s| s.0),
            Some(200.into()),
            "{route}: the typed sitemap's host and port are trusted"
        );
        for url in &refused {
            assert_eq!(
                status_of(url).map(|s| s.1),
                Some("private_address".into()),
                "{route}: {url}"
            );
        }
        assert_eq!(
            other_ip_count.load(Ordering::SeqCst),
            0,
            "{route}: 127.0.0.2 reached"
        );
        assert_eq!(
            other_port_count.load(Ordering::SeqCst),
            0,
            "{route}: other port reached"
        );
    }
    let seen = proxy_seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|t| t == &seed),
        "the proxy route carried the crawl: {seen:?}"
    );
    let typed = [
        format!("127.0.0.1:{}", seed_addr.port()),
        sitemap_site.trim_start_matches("http://").to_owned(),
    ];
    assert!(
        seen.iter()
            .all(|t| Url::parse(t).is_ok_and(|u| typed.iter().any(|a| a == u.authority()))),
        "only the typed sites went through the proxy: {seen:?}"
    );
}

/// The same crawl with `--allow-private` does reach them: the counters can count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_private_reaches_the_other_listeners() {
    let (other_ip, other_ip_count) = counting_listener("127.0.0.2").await;
    let (other_port, other_port_count) = counting_listener("127.0.0.1").await;
    let targets = vec![
        format!("http://[::ffff:127.0.0.2]:{}/mapped", other_ip.port()),
        format!("http://localhost:{}/", other_port.port()),
    ];
    let seed = format!("http://127.0.0.1:{}/", seed_site(targets).await.port());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dragnet"));
    command
        .args([
            "crawl",
            &seed,
            "--scope",
            "any",
            "--depth",
            "1",
            "--allow-private",
            "-q",
        ])
        .arg("--out")
        .arg(&out);
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert_ok(&output);
    assert!(other_ip_count.load(Ordering::SeqCst) > 0);
    assert!(other_port_count.load(Ordering::SeqCst) > 0);
    let log = pages_log(&out);
    // The redirects lead to pages the links reach too: each is fetched once, and the
    // redirect that came second is logged as such, not as a refusal.
    assert!(
        log.iter()
            .all(|l| l["error"].is_null() || l["error"] == "redirect_to_seen"),
        "{log:?}"
    );
}
