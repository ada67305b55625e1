//! Outputs people use, end to end through the CLI: WARC read back by warcio, the country
//! table as items in CSV, JSONL and PostgreSQL, in the same run as the reference job.

mod common;

use std::process::Command;

use common::*;
use dragnet_testsite::SiteConfig;

const ROWS: &str = "table.wikitable tr:has(.flagicon)";

fn item_args() -> Vec<String> {
    args(&[
        "--item",
        ROWS,
        "--extract",
        "name=td .flagicon + a",
        "--extract",
        "link=td .flagicon + a@href",
        "--extract",
        "population=td:nth-child(2)",
    ])
}

fn have(command: &str, probe: &[&str]) -> bool {
    Command::new(command)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warc_and_items_in_one_run_of_the_reference_job() {
    let site = site(SiteConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let warc = dir.path().join("crawl.warc.gz");
    let csv = dir.path().join("countries.csv");
    let mut argv = reference_job(
        &site,
        &out,
        &[
            "--warc",
            warc.to_str().unwrap(),
            "--items",
            csv.to_str().unwrap(),
        ],
    );
    argv.extend(item_args());
    assert_ok(&dragnet(argv).await);
    assert_same_pages(&saved_pages(&out), &expected_pages(&site));

    let mut reader = csv::Reader::from_path(&csv).unwrap();
    assert_eq!(
        reader.headers().unwrap(),
        vec!["url", "fetched_at", "name", "link", "population"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 233, "one item per country row");
    let links: Vec<String> = rows.iter().map(|r| r[3].to_owned()).collect();
    let countries: Vec<String> = country_urls(&site);
    assert_eq!(
        links, countries,
        "each row's link is its country page, in table order"
    );
    assert!(
        rows.iter().all(|r| !r[2].is_empty() && !r[4].is_empty()),
        "every row has a name and a population"
    );

    if !have("warcio", &["--help"]) {
        dragnet::testing::missing_service(
            "the warcio check: warcio is not installed (scripts/test installs it)",
        );
        return;
    }
    let check = Command::new("warcio")
        .args(["check", "-v"])
        .arg(&warc)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "warcio check: {report}");
    assert_eq!(
        report.matches("digest pass").count(),
        2 * 234 + 1,
        "every record's digests pass (responses, requests, warcinfo)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_go_to_a_postgresql_table() {
    let admin = [
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-Atc",
    ];
    if !have("psql", &[&admin[..], &["select 1"]].concat()) {
        dragnet::testing::missing_service(
            "the PostgreSQL items test: no PostgreSQL on 127.0.0.1:5432 (scripts/test sets one up)",
        );
        return;
    }
    let database = format!("dragnet_cli_{}", std::process::id());
    assert!(have(
        "psql",
        &[&admin[..], &[&format!("create database {database}")]].concat()
    ));
    let site = site(SiteConfig::default()).await;
    let url = format!("postgres://postgres@127.0.0.1:5432/{database}");
    let mut argv = args(&[
        "crawl",
        site.list_url().as_str(),
        "--depth",
        "0",
        "--allow-private",
        "-q",
        "--items",
        &url,
        "--items-table",
        "countries",
    ]);
    argv.extend(item_args());
    let output = dragnet(argv).await;
    let count = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &database,
            "-Atc",
            "select count(*), count(distinct link) from countries",
        ])
        .output()
        .unwrap();
    let _ = Command::new("psql")
        .args(
            [
                &admin[..],
                &[&format!("drop database {database} with (force)")],
            ]
            .concat(),
        )
        .output();
    assert_ok(&output);
    assert_eq!(
        String::from_utf8_lossy(&count.stdout).trim(),
        "233|233",
        "233 rows, one per country"
    );
}
