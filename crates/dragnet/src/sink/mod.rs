//! Outputs. Each sink runs on its own thread and receives records over a bounded channel:
//! a sink that falls behind fills its channel and so slows the crawl (backpressure); it
//! never drops a record. A sink that fails stops the crawl cleanly with its error; what it
//! already wrote stays intact.

pub mod conformance;
mod files;
mod items;
mod pages_log;
pub mod warc;

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use crate::fetch::Body;
use tokio::sync::mpsc;
use url::Url;

pub use files::{FilesSink, Layout};
pub use items::{ITEMS_FLUSH_INTERVAL, ITEMS_FLUSH_ROWS, ItemsCsv, ItemsJsonl};
pub use pages_log::{PagesLog, compact as compact_pages_log};
pub use warc::WarcSink;

/// Records waiting for one sink. Small: enough to absorb a burst while the sink writes,
/// small enough that a stalled disk stops the crawl within a few pages.
pub const SINK_CHANNEL_CAPACITY: usize = 16;

/// What happened to one URL: the unit every sink receives.
#[derive(Clone, Debug)]
pub struct PageRecord {
    /// The URL requested, as found.
    pub url: Url,
    /// The URL that answered, after redirects (absent when nothing answered).
    pub final_url: Option<Url>,
    /// The final HTTP status, when there was one.
    pub status: Option<u16>,
    /// Link depth.
    pub depth: u32,
    /// Attempts made (1 = first try).
    pub attempts: u32,
    /// Time of the last attempt, ms.
    pub fetch_ms: u64,
    /// When the record was made.
    pub fetched_at: SystemTime,
    /// The Content-Type header.
    pub content_type: Option<String>,
    /// The decoded body (successful fetches only).
    pub body: Option<Body>,
    /// sha256 of the body, lowercase hex.
    pub sha256: Option<String>,
    /// Whether the body is HTML.
    pub is_html: bool,
    /// The same body (by sha256) was seen earlier in this crawl under another URL.
    pub duplicate: bool,
    /// `<link rel=canonical>`, when the page has one.
    pub canonical: Option<Url>,
    /// Why a body was saved without being parsed although its Content-Type said HTML
    /// (`binary_as_html`: its first bytes are binary data).
    pub not_parsed: Option<&'static str>,
    /// Failure label (`http_404`, `timeout`, ...) when the URL failed.
    pub error: Option<String>,
    /// Failure detail.
    pub error_message: Option<String>,
    /// The exchange as it went over the wire (successful fetches only): request headers,
    /// response status, version and headers, and the body before content decoding. For
    /// archives (WARC).
    pub exchange: Option<Arc<crate::fetch::Fetched>>,
    /// Items extracted from the page by the crawl's item rules (empty without rules).
    pub items: Vec<dragnet_extract::Item>,
}

impl PageRecord {
    /// Whether this URL was fetched successfully.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// A sink could not write. The crawl stops; earlier output is intact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing a file failed.
    #[error("{sink}: failed to write {path}")]
    Io {
        /// Which sink.
        sink: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The output refused the data or cannot be used as it is (a database error, an
    /// existing file of another shape).
    #[error("{sink}: {target}: {message}")]
    Rejected {
        /// Which sink.
        sink: &'static str,
        /// The file, table or server.
        target: String,
        /// What went wrong, for people.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The sink's thread ended (after an error or a panic) and takes no more records.
    #[error("{sink} stopped")]
    Stopped {
        /// Which sink.
        sink: &'static str,
    },
}

/// An output. Called from the sink's own thread, so blocking I/O is fine here.
pub trait Sink: Send + 'static {
    /// A short name for messages.
    fn name(&self) -> &'static str;

    /// Writes one record.
    ///
    /// # Errors
    /// A [`SinkError`]; the crawl then stops, and no more records arrive.
    fn write(&mut self, record: &PageRecord) -> Result<(), SinkError>;

    /// Pushes what was written so far out of this process's buffers, so that a crash of the
    /// process (kill -9) cannot lose it. Called before a durable send is acknowledged; sinks
    /// that write straight through need not do anything.
    ///
    /// # Errors
    /// A [`SinkError`] when the data cannot be written.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Flushes and closes; called once after the last record, on success and on stop.
    ///
    /// # Errors
    /// A [`SinkError`] when the final flush fails.
    fn finish(&mut self) -> Result<(), SinkError>;
}

/// A record on its way to one sink; with `ack`, the sender waits until it is written and
/// flushed.
#[derive(Debug)]
struct Envelope {
    record: Arc<PageRecord>,
    ack: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Records a sink thread writes before one flush, when acknowledgements are waiting: one
/// write syscall for a burst instead of one per record.
const ACK_BATCH: usize = 64;

/// The running sinks: one thread and one bounded channel each.
#[derive(Debug)]
pub struct SinkSet {
    senders: Vec<(&'static str, mpsc::Sender<Envelope>)>,
    threads: Vec<JoinHandle<Result<(), SinkError>>>,
}

impl SinkSet {
    /// Starts one thread per sink.
    ///
    /// # Errors
    /// [`SinkError::Io`] when a thread cannot be started.
    pub fn start(sinks: Vec<Box<dyn Sink>>) -> Result<Self, SinkError> {
        let mut senders = Vec::with_capacity(sinks.len());
        let mut threads = Vec::with_capacity(sinks.len());
        for mut sink in sinks {
            let name = sink.name();
            let (tx, mut rx) = mpsc::channel::<Envelope>(SINK_CHANNEL_CAPACITY);
            let thread = std::thread::Builder::new()
                .name(format!("dragnet-sink-{name}"))
                .spawn(move || {
                    let mut acks = Vec::new();
                    while let Some(first) = rx.blocking_recv() {
                        let mut next = Some(first);
                        while let Some(Envelope { record, ack }) = next.take() {
                            if let Err(error) = sink.write(&record) {
                                // Still try to flush what was written before the failure.
                                let _ = sink.finish();
                                return Err(error);
                            }
                            acks.extend(ack);
                            if !acks.is_empty() && acks.len() < ACK_BATCH {
                                next = rx.try_recv().ok();
                            }
                        }
                        if !acks.is_empty() {
                            if let Err(error) = sink.flush() {
                                let _ = sink.finish();
                                return Err(error);
                            }
                            for ack in acks.drain(..) {
                                // A sender that stopped waiting needs no answer.
                                let _ = ack.send(());
                            }
                        }
                    }
                    sink.finish()
                })
                .map_err(|source| SinkError::Io {
                    sink: name,
                    path: PathBuf::new(),
                    source,
                })?;
            senders.push((name, tx));
            threads.push(thread);
        }
        Ok(Self { senders, threads })
    }

    /// Hands a record to every sink, waiting while a sink's channel is full.
    ///
    /// # Errors
    /// [`SinkError::Stopped`] when a sink has stopped; [`SinkSet::finish`] then says why.
    pub async fn send(&self, record: Arc<PageRecord>) -> Result<(), SinkError> {
        for (name, sender) in &self.senders {
            let envelope = Envelope {
                record: Arc::clone(&record),
                ack: None,
            };
            sender
                .send(envelope)
                .await
                .map_err(|_| SinkError::Stopped { sink: name })?;
        }
        Ok(())
    }

    /// Hands a record to every sink and waits until each has written it and flushed it out
    /// of the process: after this, a kill -9 cannot lose it. A resumable crawl records a URL
    /// as done only after this, so a done URL is always in the outputs.
    ///
    /// # Errors
    /// [`SinkError::Stopped`] when a sink has stopped; [`SinkSet::finish`] then says why.
    pub async fn send_durable(&self, record: Arc<PageRecord>) -> Result<(), SinkError> {
        let mut waiting = Vec::with_capacity(self.senders.len());
        for (name, sender) in &self.senders {
            let (ack, done) = tokio::sync::oneshot::channel();
            let envelope = Envelope {
                record: Arc::clone(&record),
                ack: Some(ack),
            };
            sender
                .send(envelope)
                .await
                .map_err(|_| SinkError::Stopped { sink: name })?;
            waiting.push((*name, done));
        }
        for (name, done) in waiting {
            done.await.map_err(|_| SinkError::Stopped { sink: name })?;
        }
        Ok(())
    }

    /// Closes the channels, lets every sink drain and flush, and reports the first error.
    ///
    /// # Errors
    /// The first sink's error, if any sink failed.
    pub async fn finish(self) -> Result<(), SinkError> {
        let Self { senders, threads } = self;
        drop(senders);
        let joined = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|thread| {
                    thread.join().unwrap_or(Err(SinkError::Stopped {
                        sink: "sink thread (panicked)",
                    }))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        joined.into_iter().find(Result::is_err).unwrap_or(Ok(()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record for sink tests.
    pub(crate) fn record(url: &str, body: Option<&'static [u8]>) -> PageRecord {
        PageRecord {
            url: Url::parse(url).unwrap(),
            final_url: Some(Url::parse(url).unwrap()),
            status: body.map(|_| 200),
            depth: 1,
            attempts: 1,
            fetch_ms: 12,
            fetched_at: SystemTime::UNIX_EPOCH,
            content_type: Some("text/html".into()),
            body: body.map(Body::from),
            sha256: body.map(|_| "00".into()),
            is_html: true,
            duplicate: false,
            canonical: None,
            not_parsed: None,
            error: if body.is_none() {
                Some("http_404".into())
            } else {
                None
            },
            error_message: None,
            exchange: None,
            items: Vec::new(),
        }
    }

    struct Failing;
    impl Sink for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }
        fn write(&mut self, _: &PageRecord) -> Result<(), SinkError> {
            Err(SinkError::Io {
                sink: "failing",
                path: "x".into(),
                source: std::io::Error::other("disk full"),
            })
        }
        fn finish(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
    }

    /// Shares what it has flushed with the test.
    struct Recording(Arc<std::sync::Mutex<(Vec<String>, Vec<String>)>>);
    impl Sink for Recording {
        fn name(&self) -> &'static str {
            "recording"
        }
        fn write(&mut self, record: &PageRecord) -> Result<(), SinkError> {
            self.0.lock().unwrap().0.push(record.url.to_string());
            Ok(())
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            let mut state = self.0.lock().unwrap();
            let written = std::mem::take(&mut state.0);
            state.1.extend(written);
            Ok(())
        }
        fn finish(&mut self) -> Result<(), SinkError> {
            self.flush()
        }
    }

    #[tokio::test]
    async fn a_durable_send_returns_after_the_record_is_flushed() {
        let state = Arc::new(std::sync::Mutex::new((Vec::new(), Vec::new())));
        let set = SinkSet::start(vec![Box::new(Recording(Arc::clone(&state)))]).unwrap();
        for i in 0..20 {
            let url = format!("http://a.test/{i}");
            set.send_durable(Arc::new(record(&url, Some(b"x"))))
                .await
                .unwrap();
            assert!(
                state.lock().unwrap().1.contains(&url),
                "{url} flushed before the ack"
            );
        }
        set.finish().await.unwrap();
    }

    #[tokio::test]
    async fn a_failing_sink_stops_the_set_and_reports_why() {
        let set = SinkSet::start(vec![Box::new(Failing)]).unwrap();
        let mut stopped = false;
        for _ in 0..(SINK_CHANNEL_CAPACITY * 2 + 2) {
            if set
                .send(Arc::new(record("http://a.test/", Some(b"x"))))
                .await
                .is_err()
            {
                stopped = true;
                break;
            }
        }
        assert!(
            stopped,
            "sending to a failed sink errors instead of blocking forever"
        );
        let err = set.finish().await.unwrap_err();
        assert!(
            matches!(
                err,
                SinkError::Io {
                    sink: "failing",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
