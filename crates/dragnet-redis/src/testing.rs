//! Test harness (feature `testing`): a throwaway `redis-server` for tests of this crate and of
//! others (the CLI's fleet tests use it too).
//!
//! [`RedisServer::shared`] gives the server named by `DRAGNET_TEST_REDIS` (`redis://...`), or
//! starts one on a free port in a temporary directory, with persistence off, stopped when its
//! last user drops it. When `redis-server` is not installed it prints one skip line and
//! returns `None`, so a test can `let Some(server) = ... else { return };` and pass; under
//! `scripts/test` (`DRAGNET_REQUIRE_SERVICES` set) it fails the test instead.
//! Every test should use its own job ([`unique_job`]); jobs never see each other.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use dragnet::frontier::conformance::Guarded;
use tempfile::TempDir;

use crate::{RedisFrontier, RedisOptions};

/// Names an existing Redis to use instead of starting one.
pub const REDIS_URL_ENV: &str = "DRAGNET_TEST_REDIS";
/// How long a fresh server gets to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The shared server of this test process, while anyone holds it.
static SHARED: tokio::sync::Mutex<Weak<RedisServer>> = tokio::sync::Mutex::const_new(Weak::new());

/// A Redis for tests: either one this harness started (killed on drop) or an external one.
#[derive(Debug)]
pub struct RedisServer {
    url: String,
    port: u16,
    /// The server process; `None` for an external server.
    child: Mutex<Option<Child>>,
    /// Where the server keeps its files (AOF, log); `None` for an external server.
    dir: Option<TempDir>,
    persistent: bool,
}

/// Prints the one line that tells a test was skipped, and why; fails the test instead under
/// `scripts/test` ([`dragnet::testing::REQUIRE_SERVICES_ENV`]).
fn skip() {
    dragnet::testing::missing_service(&format!(
        "redis-server is not installed; install it (scripts/test does) or set \
         {REDIS_URL_ENV}=redis://HOST:PORT to run the Redis tests"
    ));
}

impl RedisServer {
    /// The server for ordinary tests: `DRAGNET_TEST_REDIS` if set, else one started here and
    /// shared by the tests of this process that run at the same time. `None` (after one skip
    /// line) when `redis-server` is missing.
    pub async fn shared() -> Option<Arc<RedisServer>> {
        if let Ok(url) = std::env::var(REDIS_URL_ENV) {
            return Some(Arc::new(RedisServer {
                url,
                port: 0,
                child: Mutex::new(None),
                dir: None,
                persistent: false,
            }));
        }
        let mut shared = SHARED.lock().await;
        if let Some(server) = shared.upgrade() {
            return Some(server);
        }
        let server = Arc::new(Self::start(false).await?);
        *shared = Arc::downgrade(&server);
        Some(server)
    }

    /// A server of its own, for tests that restart it or read its statistics. With
    /// `persistent`, it runs with `appendonly yes` and `appendfsync always`, so
    /// [`restart`](Self::restart) keeps every acknowledged write. `None` (after one skip line)
    /// when `redis-server` is missing.
    ///
    /// # Panics
    /// When the server does not start.
    pub async fn start(persistent: bool) -> Option<RedisServer> {
        let dir = tempfile::tempdir().expect("temporary directory for redis-server");
        for _attempt in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                url: format!("redis://127.0.0.1:{port}/"),
                port,
                child: Mutex::new(None),
                dir: None,
                persistent,
            };
            match server.spawn(dir.path().into()) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    skip();
                    return None;
                }
                Err(error) => panic!("cannot start redis-server: {error}"),
                Ok(()) => {}
            }
            if server.wait_ready().await {
                server.dir = Some(dir);
                return Some(server);
            }
            // Most likely the port was taken between our probe and the server's bind.
            server.stop();
        }
        panic!(
            "redis-server did not start; its log: {}",
            std::fs::read_to_string(dir.path().join("redis.log")).unwrap_or_default()
        );
    }

    fn spawn(&self, dir: PathBuf) -> std::io::Result<()> {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .arg("--dir")
            .arg(&dir)
            .args(["--logfile", "redis.log", "--daemonize", "no"]);
        if self.persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        Ok(())
    }

    /// Polls PING until the server answers (true) or exits or times out (false).
    async fn wait_ready(&self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            let exited = self
                .child
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
                .is_some_and(|child| !matches!(child.try_wait(), Ok(None)));
            if exited {
                return false;
            }
            if ping(&self.url).await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// The server's URL, `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills the server (SIGKILL: no chance to flush anything that was not already synced).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|p| p.into_inner()).take() {
            // Already gone is fine: we only want it gone.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts it again on the same port and directory.
    ///
    /// # Panics
    /// For an external server, or when it does not come back.
    pub async fn restart(&self) {
        let dir = self
            .dir
            .as_ref()
            .expect("only a server this harness started can be restarted")
            .path()
            .to_path_buf();
        self.stop();
        self.spawn(dir).expect("restart redis-server");
        assert!(self.wait_ready().await, "redis-server did not come back");
    }

    /// A frontier on a fresh job of this server.
    ///
    /// # Panics
    /// When it cannot connect.
    pub async fn frontier(&self, tag: &str, options: RedisOptions) -> RedisFrontier {
        self.frontier_for(&unique_job(tag), options).await
    }

    /// A frontier on job `job` of this server (for several workers on one job).
    ///
    /// # Panics
    /// When it cannot connect.
    pub async fn frontier_for(&self, job: &str, options: RedisOptions) -> RedisFrontier {
        RedisFrontier::connect(&self.url, job, options)
            .await
            .expect("connect to the test redis")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn ping(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    redis::cmd("PING")
        .query_async::<String>(&mut conn)
        .await
        .is_ok()
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}

/// A job name no other test (in this or another run against the same Redis) uses.
pub fn unique_job(tag: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let salt: u32 = rand::random();
    format!("test-{tag}-{}-{n}-{salt:08x}", std::process::id())
}

/// A [`RedisFrontier`] that keeps its server alive; what the conformance suite runs on.
pub type TestFrontier = Guarded<RedisFrontier, Arc<RedisServer>>;

/// A fresh job on the shared server, with no per-host limit (the conformance suite leases a
/// host's URLs without completing them). `None` when Redis tests are skipped.
pub async fn conformance_frontier() -> Option<TestFrontier> {
    let server = RedisServer::shared().await?;
    let options = RedisOptions {
        per_host_leases: 1_000_000,
        ..RedisOptions::default()
    };
    let frontier = server.frontier("conformance", options).await;
    Some(Guarded {
        frontier,
        guard: server,
    })
}
