//! The behaviour every [`Frontier`] backend must show. Each check takes a fresh, empty
//! frontier and panics with a message on a violation. Run them all for a backend with
//! [`crate::frontier_conformance!`]:
//!
//! ```text
//! dragnet::frontier_conformance!(MyFrontier::open_temp().await);
//! ```

use std::collections::HashSet;
use std::ops::Deref;

use url::Url;

use super::{Frontier, FrontierCounts, FrontierError, Lease, Outcome};
use crate::request::CrawlRequest;

fn request(url: &str, depth: u32) -> CrawlRequest {
    CrawlRequest {
        // Invariant: the suite's own URLs are literals that parse.
        url: Url::parse(url).expect("conformance URL literal"),
        depth,
    }
}

async fn lease_all<F: Frontier>(frontier: &F) -> Vec<Lease> {
    let mut all = Vec::new();
    loop {
        let batch = frontier.lease(7).await.expect("lease");
        if batch.is_empty() {
            return all;
        }
        all.extend(batch);
    }
}

/// A redirect target is claimed once: a later link to it is a duplicate, another URL's
/// redirect to it is refused, the claimant's own retry is not, and a URL already known is
/// never claimed.
pub async fn redirect_targets_are_claimed_once<F: Frontier>(frontier: F) {
    let added = frontier
        .add(vec![
            request("http://example.com/a", 0),
            request("http://example.com/b", 0),
            request("http://example.com/known", 1),
        ])
        .await
        .expect("add");
    assert_eq!(added, 3);
    let leases = lease_all(&frontier).await;
    let lease = |path: &str| {
        leases
            .iter()
            .find(|l| l.request.url.path() == path)
            .unwrap_or_else(|| panic!("{path} leased"))
    };
    let (a, b) = (lease("/a"), lease("/b"));
    let target = Url::parse("http://EXAMPLE.com/c#x").expect("literal");
    let claim = |lease: &Lease, url: &str| {
        let url = Url::parse(url).expect("literal");
        let lease = lease.clone();
        let frontier = &frontier;
        async move { frontier.claim_redirect(&lease, &url).await.expect("claim") }
    };
    assert!(frontier.claim_redirect(a, &target).await.expect("claim"));
    assert!(
        claim(a, "http://example.com/c").await,
        "the claimant again (a retry)"
    );
    assert!(
        !claim(b, "http://example.com/c").await,
        "another URL's redirect"
    );
    assert!(
        !claim(a, "http://example.com/known").await,
        "a URL known on its own"
    );
    assert!(claim(a, "http://example.com/a#self").await, "its own key");
    let discovered = vec![
        request("http://example.com/c", 1),
        request("http://example.com/d", 1),
    ];
    let new = frontier
        .complete(a, Outcome::Done { attempts: 1 }, discovered)
        .await
        .expect("complete");
    assert_eq!(new, 1, "a link to a claimed target is a duplicate");
    let counts = frontier.counts().await.expect("counts");
    assert_eq!(
        (counts.queued, counts.leased, counts.done),
        (1, 2, 1),
        "a claimed target is not counted"
    );
}

/// Two spellings of one URL are one entry; the first spelling is the one requested.
pub async fn dedups_on_canonical_key<F: Frontier>(frontier: F) {
    let added = frontier
        .add(vec![
            request("http://Example.com:80/a/./b/../c#top", 0),
            request("http://example.com/a/c", 0),
            request("http://example.com/a/c#other", 1),
            request("http://example.com/d", 0),
        ])
        .await
        .expect("add");
    assert_eq!(added, 2, "canonical duplicates must be dropped");
    assert_eq!(
        frontier
            .add(vec![request("http://EXAMPLE.com/d", 0)])
            .await
            .expect("add"),
        0
    );
    let leases = lease_all(&frontier).await;
    let urls: Vec<&str> = leases.iter().map(|l| l.request.url.as_str()).collect();
    assert!(
        urls.contains(&"http://example.com/a/c#top"),
        "the URL as found is requested: {urls:?}"
    );
    assert_eq!(leases.len(), 2);
}

/// A URL is handed out once; counts follow it through every state.
pub async fn leases_are_exclusive_and_counted<F: Frontier>(frontier: F) {
    let urls: Vec<CrawlRequest> = (0..20)
        .map(|i| request(&format!("http://h{}.test/{i}", i % 3), 0))
        .collect();
    assert_eq!(frontier.add(urls).await.expect("add"), 20);
    let counts = frontier.counts().await.expect("counts");
    assert_eq!((counts.queued, counts.leased, counts.done), (20, 0, 0));
    let leases = lease_all(&frontier).await;
    assert_eq!(leases.len(), 20);
    let keys: HashSet<&str> = leases.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(keys.len(), 20, "no URL is leased twice");
    let tokens: HashSet<u64> = leases.iter().map(|l| l.token).collect();
    assert_eq!(tokens.len(), 20, "every lease has its own token");
    let counts = frontier.counts().await.expect("counts");
    assert_eq!((counts.queued, counts.leased), (0, 20));
    assert!(!counts.is_finished());
    for (i, lease) in leases.iter().enumerate() {
        let outcome = if i % 4 == 0 {
            Outcome::Failed {
                reason: "http_404".into(),
                attempts: 1,
            }
        } else {
            Outcome::Done { attempts: 1 }
        };
        frontier
            .complete(lease, outcome, Vec::new())
            .await
            .expect("complete");
    }
    let counts = frontier.counts().await.expect("counts");
    assert_eq!(
        (counts.queued, counts.leased, counts.done, counts.failed),
        (0, 0, 15, 5)
    );
    assert!(counts.is_finished());
    assert_eq!(counts.seen(), 20);
}

/// Completing records the outcome and queues new discoveries, dropping seen ones.
pub async fn complete_adds_discovered<F: Frontier>(frontier: F) {
    frontier
        .add(vec![request("http://a.test/", 0)])
        .await
        .expect("add");
    let lease = frontier.lease(10).await.expect("lease").remove(0);
    let discovered = vec![
        request("http://a.test/", 1),
        request("http://a.test/x", 1),
        request("http://a.test/x#frag", 1),
        request("http://a.test/y", 1),
    ];
    let added = frontier
        .complete(&lease, Outcome::Done { attempts: 1 }, discovered)
        .await
        .expect("complete");
    assert_eq!(added, 2, "only /x and /y are new");
    let next = lease_all(&frontier).await;
    let mut paths: Vec<&str> = next.iter().map(|l| l.request.url.path()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/x", "/y"]);
    assert!(next.iter().all(|l| l.request.depth == 1), "depth is kept");
}

/// A lease that is no longer current cannot record a result (fencing).
pub async fn stale_leases_are_refused<F: Frontier>(frontier: F) {
    frontier
        .add(vec![request("http://a.test/1", 0)])
        .await
        .expect("add");
    let lease = frontier.lease(1).await.expect("lease").remove(0);
    frontier
        .complete(&lease, Outcome::Done { attempts: 1 }, Vec::new())
        .await
        .expect("complete");
    let again = frontier
        .complete(
            &lease,
            Outcome::Done { attempts: 1 },
            vec![request("http://a.test/2", 1)],
        )
        .await;
    assert!(
        matches!(again, Err(FrontierError::StaleLease { .. })),
        "second completion: {again:?}"
    );
    let forged = Lease {
        token: lease.token + 1000,
        ..lease.clone()
    };
    assert!(
        frontier.release(&forged).await.is_err(),
        "a forged token is refused"
    );
    let counts = frontier.counts().await.expect("counts");
    assert_eq!(
        (counts.done, counts.queued),
        (1, 0),
        "the refused completion recorded nothing"
    );
}

/// Released work goes back to the queue and is leased again with a new token.
pub async fn release_requeues<F: Frontier>(frontier: F) {
    frontier
        .add(vec![
            request("http://a.test/1", 0),
            request("http://a.test/2", 0),
        ])
        .await
        .expect("add");
    let first = frontier.lease(1).await.expect("lease").remove(0);
    frontier.release(&first).await.expect("release");
    let counts = frontier.counts().await.expect("counts");
    assert_eq!((counts.queued, counts.leased), (2, 0));
    let again = lease_all(&frontier).await;
    assert_eq!(again.len(), 2);
    let same = again
        .iter()
        .find(|l| l.key == first.key)
        .expect("released URL is leased again");
    assert_ne!(same.token, first.token, "a new lease gets a new token");
    assert!(
        frontier
            .complete(&first, Outcome::Done { attempts: 1 }, Vec::new())
            .await
            .is_err()
    );
}

/// Hosts take turns: a big host does not starve a small one.
pub async fn hosts_take_turns<F: Frontier>(frontier: F) {
    let mut urls: Vec<CrawlRequest> = (0..50)
        .map(|i| request(&format!("http://big.test/{i}"), 0))
        .collect();
    urls.push(request("http://small.test/1", 0));
    frontier.add(urls).await.expect("add");
    let first = frontier.lease(4).await.expect("lease");
    assert!(
        first
            .iter()
            .any(|l| l.request.url.host_str() == Some("small.test")),
        "the small host is served within the first lease batch"
    );
}

/// An empty frontier is finished and leases nothing.
pub async fn empty_is_finished<F: Frontier>(frontier: F) {
    assert!(frontier.lease(10).await.expect("lease").is_empty());
    assert!(frontier.counts().await.expect("counts").is_finished());
}

/// A frontier under test with what must outlive it (its temporary folder, its server): the
/// checks take a frontier by value, and `guard` is dropped after `frontier` (fields drop in
/// order). Every method is the frontier's own.
#[derive(Debug)]
pub struct Guarded<F, G> {
    /// The backend under test.
    pub frontier: F,
    /// Kept alive until the frontier is gone.
    pub guard: G,
}

impl<F, G> Deref for Guarded<F, G> {
    type Target = F;
    fn deref(&self) -> &F {
        &self.frontier
    }
}

impl<F: Frontier, G: Send + Sync + 'static> Frontier for Guarded<F, G> {
    async fn add(&self, requests: Vec<CrawlRequest>) -> Result<u64, FrontierError> {
        self.frontier.add(requests).await
    }
    async fn lease(&self, max: usize) -> Result<Vec<Lease>, FrontierError> {
        self.frontier.lease(max).await
    }
    async fn complete(
        &self,
        lease: &Lease,
        outcome: Outcome,
        discovered: Vec<CrawlRequest>,
    ) -> Result<u64, FrontierError> {
        self.frontier.complete(lease, outcome, discovered).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), FrontierError> {
        self.frontier.release(lease).await
    }
    async fn claim_redirect(&self, lease: &Lease, target: &Url) -> Result<bool, FrontierError> {
        self.frontier.claim_redirect(lease, target).await
    }
    async fn counts(&self) -> Result<FrontierCounts, FrontierError> {
        self.frontier.counts().await
    }
    fn is_durable(&self) -> bool {
        self.frontier.is_durable()
    }
    fn is_shared(&self) -> bool {
        self.frontier.is_shared()
    }
}

/// Generates one `#[tokio::test]` per conformance check for a backend. The argument is an
/// expression (it may `.await`) that builds a fresh, empty frontier; it is evaluated once
/// per check.
#[macro_export]
macro_rules! frontier_conformance {
    ($make:expr) => {
        $crate::frontier_conformance!(@tests $make;
            dedups_on_canonical_key,
            redirect_targets_are_claimed_once,
            leases_are_exclusive_and_counted,
            complete_adds_discovered,
            stale_leases_are_refused,
            release_requeues,
            hosts_take_turns,
            empty_is_finished
        );
    };
    (@tests $make:expr; $($check:ident),*) => {
        mod frontier_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    $crate::frontier::conformance::$check($make).await;
                }
            )*
        }
    };
}
