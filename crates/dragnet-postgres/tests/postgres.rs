//! Against a real PostgreSQL server on 127.0.0.1:5432 (trust auth, user `postgres`): each test
//! makes its own database `dragnet_test_<random>` and drops it at the end. Without a server,
//! each test prints one skip line and passes; under `scripts/test` (`DRAGNET_REQUIRE_SERVICES`)
//! each fails.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use dragnet::sink::conformance::{FIELD_NAMES, SinkHarness, WithItems, error_chain, page};
use dragnet::sink::{PageRecord, Sink, SinkError};
use dragnet::{Config, Crawler};
use dragnet_extract::ItemRules;
use dragnet_postgres::{PostgresItems, quote_identifier};
use dragnet_testsite::{SiteConfig, TestSite};
use postgres::{Client, NoTls};

const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database, dropped when this is dropped.
struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// `None` (after one skip line per test binary) when no server answers.
    fn create() -> Option<Self> {
        let mut admin = match Client::connect(ADMIN, NoTls) {
            Ok(client) => client,
            Err(error) => {
                let why = format!(
                    "the PostgreSQL tests: no server at {ADMIN} ({error}); scripts/test sets one up"
                );
                // Fails every test under scripts/test (outside the Once, which a panic
                // would poison); one skip line per test binary by hand.
                if dragnet::testing::services_required() {
                    dragnet::testing::missing_service(&why);
                }
                static SKIP: Once = Once::new();
                SKIP.call_once(|| dragnet::testing::missing_service(&why));
                return None;
            }
        };
        let name = format!("dragnet_test_{:016x}", rand::random::<u64>());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        Some(Self { name, url })
    }

    fn client(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect to the test database")
    }

    fn count(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).expect(sql).get(0)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = Client::connect(ADMIN, NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn field_names() -> Vec<String> {
    FIELD_NAMES.iter().map(|f| (*f).to_owned()).collect()
}

mod conformance {
    use super::*;

    struct Pg {
        db: Option<TestDb>,
    }

    impl Pg {
        fn new() -> Self {
            Self {
                db: TestDb::create(),
            }
        }

        fn db(&self) -> &TestDb {
            self.db.as_ref().expect("checked by available()")
        }
    }

    /// One table per target folder the suite hands out.
    fn table_for(dir: &Path) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        dir.hash(&mut hasher);
        format!("items_{:016x}", hasher.finish())
    }

    impl SinkHarness for Pg {
        type Sink = PostgresItems;
        fn make(&self, dir: &Path) -> Result<PostgresItems, SinkError> {
            PostgresItems::connect(&self.db().url, &table_for(dir), field_names())
        }
        fn read_back(&self, dir: &Path) -> Vec<String> {
            let sql = format!(
                "SELECT url, title FROM {}",
                quote_identifier(&table_for(dir))
            );
            self.db()
                .client()
                .query(&sql, &[])
                .expect("read the table")
                .iter()
                .map(|row| {
                    let title: String = row.get(1);
                    assert!(title.starts_with("Page "), "{title:?}");
                    row.get(0)
                })
                .collect()
        }
        fn rows_for(&self, record: &PageRecord) -> usize {
            record.items.len()
        }
        /// An existing table whose `url` column is an integer.
        fn unwritable(&self) -> (Result<PostgresItems, SinkError>, String) {
            self.db()
                .client()
                .batch_execute(
                    "CREATE TABLE wrong (url integer, fetched_at timestamptz, title text, n text)",
                )
                .expect("create the wrong table");
            let made = PostgresItems::connect(&self.db().url, "wrong", field_names());
            (made, "table \"wrong\"".to_owned())
        }
        fn writes_files(&self) -> bool {
            false
        }
        fn available(&self) -> bool {
            self.db.is_some()
        }
    }

    dragnet::sink_conformance!(Pg::new());
}

#[test]
fn rows_are_copied_in_batches_and_nulls_stay_null() {
    let Some(db) = TestDb::create() else { return };
    let mut sink = PostgresItems::connect(&db.url, "Items Table", field_names())
        .expect("connect")
        .with_batch(10, Duration::from_secs(3600));
    let count = || db.count("SELECT count(*) FROM \"Items Table\"");
    // One item per page, two on page 5, none on failed page 3: 9 rows.
    for i in [1, 2, 3, 4, 5, 6, 8, 9, 12] {
        sink.write(&page(i, 10)).expect("write");
    }
    assert_eq!(count(), 0, "below the batch size nothing is copied yet");
    sink.write(&page(13, 10)).expect("write");
    assert_eq!(count(), 10, "the tenth row triggers a COPY");
    sink.write(&page(14, 10)).expect("write");
    sink.flush().expect("flush");
    assert_eq!(count(), 11);
    sink.finish().expect("finish");
    let nulls = db.count("SELECT count(*) FROM \"Items Table\" WHERE n IS NULL");
    assert_eq!(nulls, 1, "page 5's second item has no n");
    let row = db
        .client()
        .query_one(
            "SELECT title, fetched_at = to_timestamp(1700000001) FROM \"Items Table\" WHERE n = '1'",
            &[],
        )
        .expect("page 1's row");
    assert_eq!(row.get::<_, String>(0), "Page 1, \"item\" 0\r\nline two: ü");
    assert!(row.get::<_, bool>(1), "fetched_at is the record's time");
}

#[test]
fn a_failed_copy_is_a_clear_error_and_earlier_batches_stay() {
    let Some(db) = TestDb::create() else { return };
    let mut sink = PostgresItems::connect(&db.url, "t", field_names())
        .expect("connect")
        .with_batch(1, Duration::from_secs(3600));
    sink.write(&page(1, 10)).expect("first batch");
    db.client()
        .batch_execute("ALTER TABLE t ADD CONSTRAINT no_two CHECK (n <> '2')")
        .expect("add a constraint");
    let error = sink
        .write(&page(2, 10))
        .expect_err("the COPY breaks the constraint");
    let text = error_chain(&error);
    assert!(
        text.contains("table \"t\"") && text.contains("COPY of 1 rows failed"),
        "{text}"
    );
    assert!(
        text.contains("no_two"),
        "the server's reason is kept: {text}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM t"),
        1,
        "the first batch is intact"
    );
}

/// The reference: the country table of the list page, one row per country with
/// name, population and link.
#[test]
fn country_table_from_the_list_page() {
    let Some(db) = TestDb::create() else { return };
    let fields = [
        "name=td .flagicon + a",
        "link=td .flagicon + a@href",
        "population=td:nth-child(2)",
    ];
    let every_row = ItemRules::parse(Some("table.wikitable tbody tr"), &fields).expect("rules");
    let countries =
        ItemRules::parse(Some("table.wikitable tr:has(.flagicon)"), &fields).expect("rules");
    let sinks: Vec<(ItemRules, &str)> = vec![(every_row, "rows"), (countries, "countries")];
    let sinks: Vec<Box<dyn Sink>> = sinks
        .into_iter()
        .map(|(rules, table)| {
            let inner =
                PostgresItems::connect(&db.url, table, rules.field_names()).expect("connect");
            Box::new(WithItems { rules, inner }) as Box<dyn Sink>
        })
        .collect();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let want: BTreeSet<String> = runtime.block_on(async {
        let site = TestSite::start(SiteConfig::default()).await.expect("site");
        let mut config = Config::new(vec![site.list_url()]);
        config.allow_private = true;
        let mut crawler = Crawler::new(config).expect("crawler");
        for sink in sinks {
            crawler.add_sink(sink);
        }
        crawler.run().await.expect("crawl");
        let manifest = site.manifest();
        site.shutdown().await;
        manifest
            .pages
            .into_iter()
            .filter(|p| p.kind == "country")
            .map(|p| url::Url::parse(&p.url).expect("manifest URL").to_string())
            .collect()
    });

    // Every <tr> of the table: the header row (only <th>) gives no item; the "World" row
    // has a population but no flag, so it is a row with NULL name and link.
    assert_eq!(db.count("SELECT count(*) FROM rows"), 234);
    assert_eq!(db.count("SELECT count(name) FROM rows"), 233);
    assert_eq!(db.count("SELECT count(*) FROM countries"), 233);
    let bad = db.count("SELECT count(*) FROM countries WHERE population !~ '^[0-9,]+$'");
    assert_eq!(bad, 0, "populations are the cells' text");
    let links: BTreeSet<String> = db
        .client()
        .query("SELECT link FROM countries", &[])
        .expect("links")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(links.len(), 233);
    assert_eq!(links, want, "absolute links, one per country");
}

/// The client owns a runtime: connecting and dropping on an async thread must not panic.
#[test]
fn connect_and_drop_inside_async_code() {
    let Some(db) = TestDb::create() else { return };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sink = PostgresItems::connect(&db.url, "t", field_names()).expect("connect");
        assert!(sink.target().ends_with("table \"t\""), "{}", sink.target());
        drop(sink);
    });
}
