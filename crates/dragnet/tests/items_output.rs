//! Item files from the reference page, read back by the tools users read them with: Python's
//! csv module, pandas and jq. A missing tool prints one skip line and that check passes;
//! under `scripts/test` (`DRAGNET_REQUIRE_SERVICES`) a missing python3 or jq fails instead
//! (scripts/test installs both), while pandas, which it does not install, stays optional.

use std::path::Path;
use std::process::Command;

use dragnet::sink::conformance::WithItems;
use dragnet::sink::{ItemsCsv, ItemsJsonl};
use dragnet::{Config, Crawler};
use dragnet_extract::ItemRules;
use dragnet_testsite::{SiteConfig, TestSite};

fn python(script: &str, arg: &Path) -> Option<String> {
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(arg)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn has_python_module(module: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn country_items_read_back_with_python_csv_pandas_and_jq() {
    let rules = ItemRules::parse(
        Some("table.wikitable tr:has(.flagicon)"),
        &[
            "name=td .flagicon + a",
            "link=td .flagicon + a@href",
            "population=td:nth-child(2)",
        ],
    )
    .expect("rules");
    let dir = tempfile::tempdir().expect("temp dir");
    let csv_path = dir.path().join("countries.csv");
    let jsonl_path = dir.path().join("countries.jsonl");
    let site = TestSite::start(SiteConfig::default()).await.expect("site");
    let mut config = Config::new(vec![site.list_url()]);
    config.allow_private = true;
    let mut crawler = Crawler::new(config).expect("crawler");
    crawler.add_sink(Box::new(WithItems {
        inner: ItemsCsv::create(&csv_path, rules.field_names()).expect("csv"),
        rules: rules.clone(),
    }));
    crawler.add_sink(Box::new(WithItems {
        inner: ItemsJsonl::create(&jsonl_path).expect("jsonl"),
        rules,
    }));
    crawler.run().await.expect("crawl");
    site.shutdown().await;

    let csv_check = r#"
import csv, sys
with open(sys.argv[1], newline='', encoding='utf-8') as f:
    rows = list(csv.DictReader(f))
assert list(rows[0].keys()) == ['url', 'fetched_at', 'name', 'link', 'population'], rows[0].keys()
assert all(r['name'] and r['link'].startswith('http') and r['population'].replace(',', '').isdigit() for r in rows)
print(len(rows), len({r['link'] for r in rows}))
"#;
    match python(csv_check, &csv_path) {
        Some(out) => assert_eq!(out, "233 233", "python csv"),
        None => dragnet::testing::missing_service(
            "the Python csv check: python3 not found (scripts/test installs it)",
        ),
    }
    if has_python_module("pandas") {
        let pandas_check = r#"
import sys, pandas
frame = pandas.read_csv(sys.argv[1])
assert frame['population'].str.replace(',', '').astype('int64').min() > 0
print(frame.shape[0], frame.shape[1], frame['fetched_at'].iloc[0].endswith('Z'))
"#;
        let out = python(pandas_check, &csv_path).expect("python3");
        assert_eq!(out, "233 5 True", "pandas");
        let jsonl_check = r#"
import sys, pandas
frame = pandas.read_json(sys.argv[1], lines=True)
print(frame.shape[0], list(frame.columns))
"#;
        let out = python(jsonl_check, &jsonl_path).expect("python3");
        assert_eq!(
            out, "233 ['url', 'fetched_at', 'name', 'link', 'population']",
            "pandas JSONL"
        );
    } else {
        println!("skipped the pandas checks: python3 with pandas not found (pip install pandas)");
    }
    match Command::new("jq")
        .args(["-s", "-r", "map(select(.name != null)) | length"])
        .arg(&jsonl_path)
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "233", "jq");
        }
        Err(_) => dragnet::testing::missing_service(
            "the jq check: jq not found (scripts/test installs it)",
        ),
    }
}
