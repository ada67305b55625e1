//! Exit codes a script can rely on: 0 when the crawl ran (some URLs may have failed), 1 when
//! not a single page could be fetched, 2 for bad arguments or an unusable output; all of
//! them listed in `--help`.

mod common;

use common::*;
use dragnet_testsite::SiteConfig;

/// An address on 127.0.0.1 where nothing listens (a port just released).
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_say_whether_any_page_was_fetched() {
    let site = site(SiteConfig::default()).await;
    let good = site.list_url().to_string();
    let missing = site.base_url().join("/no/such/page").unwrap().to_string();
    let closed = closed_port_url();
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seeds: &[&str], extra: &[&str]| {
        let mut argv = args(&["crawl"]);
        argv.extend(seeds.iter().map(|s| (*s).to_owned()));
        argv.extend(args(&["--retries", "0", "-q", "--out"]));
        argv.push(dir.path().join(name).display().to_string());
        argv.extend(args(extra));
        argv
    };
    let cases: [(&str, Vec<String>, i32); 5] = [
        ("ok", run("ok", &[&good], &[]), 0),
        ("one of two failed", run("mixed", &[&good, &closed], &[]), 0),
        (
            "every seed failed",
            run("closed", &[&closed, &missing], &[]),
            1,
        ),
        (
            "unknown flag",
            run("flag", &[&good], &["--no-such-flag"]),
            2,
        ),
        (
            "unusable output",
            args(&[
                "crawl",
                &good,
                "-q",
                "--out",
                "/proc/dragnet-cannot-write-here",
            ]),
            2,
        ),
    ];
    for (what, argv, expected) in cases {
        let output = dragnet(argv).await;
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{what}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_lists_the_exit_codes() {
    let output = dragnet(args(&["--help"])).await;
    assert_ok(&output);
    let help = String::from_utf8_lossy(&output.stdout);
    for line in ["Exit codes:", "  0 ", "  1 ", "  2 ", "  130 "] {
        assert!(help.contains(line), "{line:?} in --help:\n{help}");
    }
}
