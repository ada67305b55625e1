//! PostgreSQL output for dragnet: every extracted item becomes a row of one table, written in
//! batches with `COPY … FROM STDIN (FORMAT binary)`.
//!
//! Its own crate because it brings a database client (and that client's small private tokio
//! runtime) and its tests need a real server.
//!
//! ```text
//! let sink = PostgresItems::connect("postgres://postgres@127.0.0.1/db", "countries",
//!                                   rules.field_names())?;
//! crawler.add_sink(Box::new(sink));
//! ```
//!
//! - The table is created if missing: `url text NOT NULL, fetched_at timestamptz NOT NULL`,
//!   then one `text` column per field, in order. An existing table must have those columns
//!   (text or varchar, and timestamptz); others may exist beside them.
//! - Names are validated (not empty, at most 63 bytes, no control characters; a table may be
//!   `schema.table`) and always double-quoted, so any other character is safe and case is
//!   kept as given.
//! - Rows are kept in memory and copied every [`DEFAULT_BATCH_ROWS`] rows or
//!   [`DEFAULT_BATCH_INTERVAL`] (checked as records arrive), on [`Sink::flush`] and on
//!   [`Sink::finish`]. One COPY is one transaction: a batch is stored whole or not at all.
//! - A field that matched nothing is `NULL`. `url` is the page that answered (after
//!   redirects).
//! - No TLS (`NoTls`): meant for a server on the same host or network.
#![deny(missing_docs)]

mod ident;

use std::time::{Duration, Instant, SystemTime};

use dragnet::sink::{PageRecord, Sink, SinkError};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls};

pub use ident::{MAX_IDENTIFIER_LEN, quote_identifier};

const NAME: &str = "postgres";

/// Rows per COPY, at most.
pub const DEFAULT_BATCH_ROWS: usize = 1000;
/// Longest a row waits in memory before its batch is copied (checked as records arrive).
pub const DEFAULT_BATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Writes items into a PostgreSQL table.
pub struct PostgresItems {
    /// `None` once closed. A `postgres::Client` owns a small tokio runtime (see `Drop`).
    client: Option<Client>,
    /// `postgres://host:port/db table "t"`, for messages (never the password).
    target: String,
    copy_sql: String,
    fields: Vec<String>,
    rows: Vec<Row>,
    batch_rows: usize,
    batch_interval: Duration,
    last_copy: Instant,
}

struct Row {
    url: String,
    fetched_at: SystemTime,
    values: Vec<Option<String>>,
}

impl std::fmt::Debug for PostgresItems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresItems")
            .field("target", &self.target)
            .field("fields", &self.fields)
            .field("pending_rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

impl PostgresItems {
    /// Connects to `url` (`postgres://user@host:port/database`, or the key=value form),
    /// creates `table` if missing and checks its columns. Safe to call from async code (the
    /// blocking client runs on a thread of its own), though it blocks until connected.
    ///
    /// # Errors
    /// [`SinkError::Rejected`] for an unusable URL, table or field name, a server that cannot
    /// be reached, or an existing table without the needed columns.
    pub fn connect(url: &str, table: &str, field_names: Vec<String>) -> Result<Self, SinkError> {
        let config: Config = url
            .parse()
            .map_err(|e| rejected(&redacted(url), "not a PostgreSQL URL", Some(e)))?;
        let target = format!("{} table {table:?}", describe(&config));
        let table_sql =
            ident::qualified_table(table).map_err(|m| rejected(&target, &m, None::<Error>))?;
        ident::check_fields(&field_names).map_err(|m| rejected(&target, &m, None::<Error>))?;
        let columns: Vec<String> = ["url", "fetched_at"]
            .iter()
            .map(|c| (*c).to_owned())
            .chain(field_names.iter().map(|f| quote_identifier(f)))
            .collect();
        let copy_sql = format!(
            "COPY {table_sql} ({}) FROM STDIN (FORMAT binary)",
            columns.join(", ")
        );
        let setup = || -> Result<Client, SinkError> {
            let mut client = config
                .connect(NoTls)
                .map_err(|e| rejected(&target, "cannot connect", Some(e)))?;
            create_and_check(&mut client, &table_sql, &field_names, &columns)
                .map_err(|(message, e)| rejected(&target, &message, e))?;
            Ok(client)
        };
        // The blocking client starts its own runtime, which panics inside another one: do
        // the connecting on a plain thread, wherever we are called from.
        let client = std::thread::scope(|scope| scope.spawn(setup).join())
            .unwrap_or_else(|_| Err(rejected(&target, "connecting panicked", None::<Error>)))?;
        Ok(Self {
            client: Some(client),
            target,
            copy_sql,
            fields: field_names,
            rows: Vec::new(),
            batch_rows: DEFAULT_BATCH_ROWS,
            batch_interval: DEFAULT_BATCH_INTERVAL,
            last_copy: Instant::now(),
        })
    }

    /// Copies every `rows` rows or after `interval`, instead of the defaults.
    pub fn with_batch(mut self, rows: usize, interval: Duration) -> Self {
        self.batch_rows = rows.max(1);
        self.batch_interval = interval;
        self
    }

    /// Where the rows go: `postgres://host:port/db table "name"` (no password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Copies the waiting rows in one COPY (one transaction).
    fn copy_rows(&mut self) -> Result<(), SinkError> {
        self.last_copy = Instant::now();
        if self.rows.is_empty() {
            return Ok(());
        }
        let Some(client) = self.client.as_mut() else {
            return Err(SinkError::Stopped { sink: NAME });
        };
        let types: Vec<Type> = [Type::TEXT, Type::TIMESTAMPTZ]
            .into_iter()
            .chain(self.fields.iter().map(|_| Type::TEXT))
            .collect();
        let result = (|| {
            let mut writer = BinaryCopyInWriter::new(client.copy_in(&self.copy_sql)?, &types);
            for row in &self.rows {
                let mut values: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(types.len());
                values.push(&row.url);
                values.push(&row.fetched_at);
                values.extend(row.values.iter().map(|v| v as &(dyn ToSql + Sync)));
                writer.write(&values)?;
            }
            writer.finish()
        })();
        match result {
            Ok(_) => {
                self.rows.clear();
                Ok(())
            }
            Err(e) => Err(rejected(
                &self.target,
                &format!("COPY of {} rows failed", self.rows.len()),
                Some(e),
            )),
        }
    }
}

impl Sink for PostgresItems {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write(&mut self, record: &PageRecord) -> Result<(), SinkError> {
        if record.items.is_empty() {
            return Ok(());
        }
        let url = record.final_url.as_ref().unwrap_or(&record.url).as_str();
        for item in &record.items {
            self.rows.push(Row {
                url: url.to_owned(),
                fetched_at: record.fetched_at,
                values: self
                    .fields
                    .iter()
                    .map(|f| item.get(f).map(str::to_owned))
                    .collect(),
            });
        }
        if self.rows.len() >= self.batch_rows || self.last_copy.elapsed() >= self.batch_interval {
            self.copy_rows()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.copy_rows()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.copy_rows()?;
        if let Some(client) = self.client.take() {
            client
                .close()
                .map_err(|e| rejected(&self.target, "closing the connection failed", Some(e)))?;
        }
        Ok(())
    }
}

impl Drop for PostgresItems {
    fn drop(&mut self) {
        // The client owns a runtime, and dropping a runtime inside another one panics: if we
        // are dropped on an async thread (a crawl that never started its sinks), let a plain
        // thread drop it.
        if let Some(client) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new()
                    .name("dragnet-postgres-close".into())
                    .spawn(move || drop(client));
            }
        }
    }
}

type Error = postgres::Error;

/// Creates the table if missing and checks the columns we write.
fn create_and_check(
    client: &mut Client,
    table_sql: &str,
    fields: &[String],
    columns: &[String],
) -> Result<(), (String, Option<Error>)> {
    let definitions: Vec<String> = [
        "url text NOT NULL".to_owned(),
        "fetched_at timestamptz NOT NULL".to_owned(),
    ]
    .into_iter()
    .chain(
        fields
            .iter()
            .map(|f| format!("{} text", quote_identifier(f))),
    )
    .collect();
    let create = format!(
        "CREATE TABLE IF NOT EXISTS {table_sql} ({})",
        definitions.join(", ")
    );
    client
        .batch_execute(&create)
        .map_err(|e| ("cannot create the table".to_owned(), Some(e)))?;
    let probe = format!("SELECT {} FROM {table_sql} LIMIT 0", columns.join(", "));
    let statement = client
        .prepare(&probe)
        .map_err(|e| ("the table lacks a needed column".to_owned(), Some(e)))?;
    for (i, column) in statement.columns().iter().enumerate() {
        let want_time = i == 1;
        let ok = if want_time {
            *column.type_() == Type::TIMESTAMPTZ
        } else {
            matches!(*column.type_(), Type::TEXT | Type::VARCHAR)
        };
        if !ok {
            let want = if want_time { "timestamptz" } else { "text" };
            return Err((
                format!(
                    "column {:?} is {}, expected {want}",
                    column.name(),
                    column.type_()
                ),
                None,
            ));
        }
    }
    Ok(())
}

/// `postgres://user@host:port/db` from a parsed config: no password.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{host}:{port}/{db}")
}

/// A URL for an error message, with any password masked.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ if url.contains("password") => "(connection string)".to_owned(),
        _ => url.to_owned(),
    }
}

fn rejected<E: std::error::Error + Send + Sync + 'static>(
    target: &str,
    message: &str,
    source: Option<E>,
) -> SinkError {
    SinkError::Rejected {
        sink: NAME,
        target: target.to_owned(),
        message: message.to_owned(),
        source: source.map(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redacted("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redacted("host=h password=secret"), "(connection string)");
        let config: Config = "postgres://u:secret@h:6000/db".parse().unwrap();
        assert_eq!(describe(&config), "postgres://u@h:6000/db");
    }

    #[test]
    fn bad_names_are_refused_before_connecting() {
        let bad = |table: &str, fields: &[&str]| {
            let fields = fields.iter().map(|f| (*f).to_owned()).collect();
            // Port 1: nothing listens; the name check must come first.
            let error = PostgresItems::connect("postgres://postgres@127.0.0.1:1/x", table, fields)
                .unwrap_err();
            dragnet::sink::conformance::error_chain(&error)
        };
        assert!(bad("", &["a"]).contains("empty"), "{}", bad("", &["a"]));
        assert!(bad("a.b.c", &["a"]).contains("schema.table"));
        assert!(bad("t", &["url"]).contains("url"));
        assert!(bad("t", &["a", "a"]).contains("twice"));
        assert!(bad("t\u{0}", &["a"]).contains("control"));
        assert!(bad("t", &["a"]).contains("cannot connect"));
        assert!(bad("t", &["a"]).contains("postgres://postgres@127.0.0.1:1/x"));
    }
}
