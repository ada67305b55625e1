use std::sync::Mutex;

use super::*;

/// Answers from a script: each lookup of a name takes its next answer (the last one
/// repeats), so a test can make a name change its answer between lookups.
#[derive(Debug, Default)]
struct FakeLookup {
    answers: Mutex<HashMap<String, Vec<Vec<IpAddr>>>>,
    lookups: Mutex<Vec<String>>,
}

impl FakeLookup {
    fn with(entries: &[(&str, &[&[&str]])]) -> Arc<Self> {
        let fake = Self::default();
        {
            let mut answers = fake.answers.lock().unwrap();
            for (name, script) in entries {
                let script = script
                    .iter()
                    .map(|answer| answer.iter().map(|ip| ip.parse().unwrap()).collect())
                    .collect();
                answers.insert((*name).to_owned(), script);
            }
        }
        Arc::new(fake)
    }

    fn lookups(&self) -> Vec<String> {
        self.lookups.lock().unwrap().clone()
    }
}

impl Lookup for FakeLookup {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        self.lookups.lock().unwrap().push(host.clone());
        let mut answers = self.answers.lock().unwrap();
        let answer = match answers.get_mut(&host) {
            Some(script) if script.len() > 1 => Ok(script.remove(0)),
            Some(script) => Ok(script[0].clone()),
            None => Err(std::io::Error::other(format!("no such name {host}"))),
        };
        Box::pin(std::future::ready(answer))
    }
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

fn guard(seeds: &[&str], lookup: Arc<FakeLookup>) -> AddressGuard {
    let mut guard = AddressGuard::new(&Config::new(seeds.iter().map(|s| url(s)).collect()), lookup);
    // The environment of the test process is not the test's input.
    guard.proxied = false;
    guard
}

async fn refused(guard: &AddressGuard, target: &str) -> Option<FailureKind> {
    guard.check(&url(target)).await.err().map(|(kind, _)| kind)
}

/// Every spelling of a loopback, private or metadata address that a page can write,
/// refused without a lookup; allowed with `allow_private`.
#[tokio::test]
async fn literal_spellings_are_refused_unless_allowed() {
    let lookup = FakeLookup::with(&[]);
    let strict = guard(&["http://example.com/"], Arc::clone(&lookup));
    let mut allowing = strict.clone();
    allowing.allow_private = true;
    for target in [
        "http://127.0.0.1:8080/x",
        "http://2130706433/",         // decimal (regression)
        "http://0x7f000001/",         // hex (regression)
        "http://0177.0.0.1/",         // octal
        "http://127.1/",              // short form
        "http://[::ffff:127.0.0.1]/", // IPv4-mapped (regression)
        "http://[::ffff:7f00:2]/",
        "http://[::7f00:1]/",           // IPv4-compatible
        "http://[::ffff:0:7f00:1]/",    // SIIT
        "http://[64:ff9b::7f00:1]/",    // NAT64
        "http://[64:ff9b::a9fe:a9fe]/", // NAT64 of the metadata address
        "http://[64:ff9b:1::1]/",       // local-use NAT64
        "http://[2002:7f00:1::]/",      // 6to4
        "http://[2002:a9fe:a9fe::1]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", // Teredo
        "http://[::1]/",
        "http://[fe80::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://LOCALHOST/",
        "http://localhost./",
        "http://api.localhost:9000/",
    ] {
        assert_eq!(
            refused(&strict, target).await,
            Some(FailureKind::PrivateAddress),
            "{target}"
        );
        assert_eq!(refused(&allowing, target).await, None, "{target}");
    }
    assert_eq!(refused(&strict, "http://8.8.8.8/").await, None);
    assert_eq!(refused(&strict, "http://[64:ff9b::808:808]/").await, None);
    assert_eq!(
        refused(&strict, "http://unknown.example/").await,
        None,
        "a direct request leaves the name to the resolver"
    );
    assert_eq!(lookup.lookups(), Vec::<String>::new());
}

/// The seed's host and port are trusted; the same host on another port, and every other
/// private address, are not.
#[tokio::test]
async fn a_seed_origin_is_trusted_and_nothing_else() {
    let lookup = FakeLookup::with(&[("intranet", &[&["10.0.0.5"]])]);
    let guard = guard(
        &[
            "http://127.0.0.1:8000/start",
            "http://intranet/",
            "http://localhost:9000/",
        ],
        lookup,
    );
    for trusted in [
        "http://127.0.0.1:8000/other/page",
        "http://intranet:80/wiki",
        "http://LocalHost:9000/x",
    ] {
        assert_eq!(refused(&guard, trusted).await, None, "{trusted}");
    }
    for untrusted in [
        "http://127.0.0.1:8001/",
        "http://127.0.0.2:8000/",
        "http://localhost:9001/",
        "http://intranet:8080/", // trusted name, untrusted port: resolved and checked here
    ] {
        assert_eq!(
            refused(&guard, untrusted).await,
            Some(FailureKind::PrivateAddress),
            "{untrusted}"
        );
    }
}

/// Sitemap URLs the crawl is given are typed by the user too; the entries they list are not.
#[tokio::test]
async fn sitemap_urls_given_to_the_crawl_are_trusted() {
    let mut config = Config::new(vec![url("http://example.com/")]);
    config.sitemaps = vec![url("http://10.0.0.9:8080/sitemap.xml")];
    let mut guard = AddressGuard::new(&config, FakeLookup::with(&[]));
    guard.proxied = false;
    assert_eq!(
        refused(&guard, "http://10.0.0.9:8080/listed/page").await,
        None
    );
    assert_eq!(
        refused(&guard, "http://10.0.0.10:8080/listed/page").await,
        Some(FailureKind::PrivateAddress)
    );
}

/// `--resolve` entries are trusted for their own port; the name on another port is
/// checked against the address the entry gives.
#[tokio::test]
async fn resolve_entries_are_trusted_for_their_port() {
    let mut config = Config::new(vec![url("http://example.com/")]);
    config.resolve = vec![("Site.Test".into(), "127.0.0.2:8080".parse().unwrap())];
    let mut guard = AddressGuard::new(&config, FakeLookup::with(&[]));
    guard.proxied = false;
    assert_eq!(refused(&guard, "http://site.test:8080/a").await, None);
    assert_eq!(
        refused(&guard, "http://site.test:8081/a").await,
        Some(FailureKind::PrivateAddress)
    );
}

/// Behind a proxy, the guard resolves untrusted names itself: any private answer refuses.
#[tokio::test]
async fn behind_a_proxy_names_are_resolved_and_checked_first() {
    let lookup = FakeLookup::with(&[
        ("public.example", &[&["93.184.216.34"]]),
        ("internal.example", &[&["10.1.2.3"]]),
        ("mixed.example", &[&["93.184.216.34", "127.0.0.1"]]),
        ("nat64.example", &[&["64:ff9b::7f00:1"]]),
    ]);
    let mut proxied = guard(&["http://seed.example/"], Arc::clone(&lookup));
    proxied.proxied = true;
    assert_eq!(refused(&proxied, "http://public.example/").await, None);
    for target in [
        "http://internal.example/",
        "http://mixed.example/",
        "http://nat64.example/",
    ] {
        assert_eq!(
            refused(&proxied, target).await,
            Some(FailureKind::PrivateAddress),
            "{target}"
        );
    }
    assert_eq!(
        refused(&proxied, "http://nowhere.example/").await,
        Some(FailureKind::Connect),
        "an unresolvable name is not handed to the proxy"
    );
    assert_eq!(
        refused(&proxied, "http://seed.example/x").await,
        None,
        "the seed's origin is trusted without a lookup"
    );
    assert!(!lookup.lookups().contains(&"seed.example".to_owned()));
}

/// The connection's own lookup is checked each time, so a name that answers public and
/// then private (DNS rebinding) is refused when it is used.
#[tokio::test]
async fn the_resolver_checks_every_answer_it_connects_with() {
    let lookup = FakeLookup::with(&[
        ("rebind.example", &[&["93.184.216.34"], &["127.0.0.1"]]),
        ("seed.example", &[&["192.168.0.10"]]),
    ]);
    let resolver = guard(&["http://seed.example:8080/"], lookup).resolver();
    let first: Vec<SocketAddr> = resolver
        .resolve("rebind.example".parse().unwrap())
        .await
        .unwrap()
        .collect();
    assert_eq!(first, vec!["93.184.216.34:0".parse().unwrap()]);
    let second = resolver
        .resolve("rebind.example".parse().unwrap())
        .await
        .err()
        .expect("the private answer is refused");
    assert!(
        second.to_string().contains(PRIVATE_ADDRESS_MESSAGE),
        "{second}"
    );
    let seed: Vec<SocketAddr> = resolver
        .resolve("seed.example".parse().unwrap())
        .await
        .unwrap()
        .collect();
    assert_eq!(
        seed,
        vec!["192.168.0.10:0".parse().unwrap()],
        "the user's own host name may resolve privately"
    );
}

#[test]
fn proxies_are_read_from_the_variables_reqwest_reads() {
    let env: HashMap<&str, &str> = [
        ("http_proxy", "http://Proxy.Internal:3128"),
        ("HTTPS_PROXY", "127.0.0.1:8443"), // bare host:port, as curl and reqwest accept
        ("ALL_PROXY", "  "),
        ("NO_PROXY", "example.com"),
    ]
    .into_iter()
    .collect();
    let hosts: Vec<String> = proxies_from(|name| env.get(name).map(|v| (*v).to_owned()))
        .iter()
        .filter_map(|u| u.host_str().map(str::to_owned))
        .collect();
    assert_eq!(hosts, vec!["proxy.internal", "127.0.0.1"]);
    assert!(proxies_from(|_| None).is_empty());
}
