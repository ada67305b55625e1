//! The response body: whole, throttled, cut off mid-way, or streamed from a producer.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::{Instant, Sleep};

use crate::stats::{InFlight, Open};

/// Error returned by the body of a dropped response; hyper then closes the connection.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped mid-body (injected fault)")]
pub(crate) struct InjectedDrop;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Pause between the last bytes sent and the drop, so the partial body reaches the client.
const DROP_PAUSE: Duration = Duration::from_millis(5);
/// Chunks per second when throttling.
const TICKS_PER_SEC: u64 = 20;

/// Held for as long as the body is alive: the in-flight and open counts and the capacity slot. The
/// fields are never read: dropping them is their whole job.
#[derive(Debug, Default)]
#[allow(dead_code)]
pub(crate) struct Guards {
    pub(crate) in_flight: Option<InFlight>,
    pub(crate) permit: Option<OwnedSemaphorePermit>,
    pub(crate) open: Option<Open>,
}

/// A response body.
#[derive(Debug)]
pub(crate) struct SiteBody {
    kind: Kind,
    _guards: Guards,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Paced(Paced),
    Channel(mpsc::Receiver<Bytes>),
}

#[derive(Debug)]
struct Paced {
    data: Bytes,
    sent: usize,
    /// Bytes to send before failing (`data.len()` when not failing).
    end: usize,
    fail: bool,
    paused: bool,
    bytes_per_sec: Option<u64>,
    chunk: usize,
    started: Option<Instant>,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl SiteBody {
    /// A body sent at once.
    pub(crate) fn full(data: impl Into<Bytes>) -> SiteBody {
        SiteBody {
            kind: Kind::Full(Some(data.into())),
            _guards: Guards::default(),
        }
    }

    /// A body throttled to `bytes_per_sec` and/or cut off after about half of it. The
    /// announced length is always the full length.
    pub(crate) fn paced(data: Bytes, bytes_per_sec: Option<u64>, drop_mid_body: bool) -> SiteBody {
        if bytes_per_sec.is_none() && !drop_mid_body {
            return SiteBody::full(data);
        }
        let len = data.len();
        let chunk = match bytes_per_sec {
            Some(bps) => usize::try_from((bps / TICKS_PER_SEC).max(1)).unwrap_or(usize::MAX),
            None => len.max(1),
        };
        SiteBody {
            kind: Kind::Paced(Paced {
                data,
                sent: 0,
                end: if drop_mid_body { len / 2 } else { len },
                fail: drop_mid_body,
                paused: false,
                bytes_per_sec: bytes_per_sec.map(|b| b.max(1)),
                chunk,
                started: None,
                sleep: None,
            }),
            _guards: Guards::default(),
        }
    }

    /// A body of unknown length, fed by a producer through a channel.
    pub(crate) fn channel(rx: mpsc::Receiver<Bytes>) -> SiteBody {
        SiteBody {
            kind: Kind::Channel(rx),
            _guards: Guards::default(),
        }
    }

    /// Keeps `guards` alive until the body is finished or dropped.
    pub(crate) fn with_guards(mut self, guards: Guards) -> SiteBody {
        self._guards = guards;
        self
    }
}

impl Body for SiteBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match &mut this.kind {
            Kind::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::Channel(rx) => rx.poll_recv(cx).map(|d| d.map(|d| Ok(Frame::data(d)))),
            Kind::Paced(p) => p.poll(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(data) => data.is_none(),
            Kind::Channel(_) => false,
            Kind::Paced(p) => !p.fail && p.sent >= p.data.len(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Kind::Channel(_) => SizeHint::default(),
            Kind::Paced(p) => SizeHint::with_exact((p.data.len() - p.sent) as u64),
        }
    }
}

impl Paced {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(sleep) = &mut self.sleep {
            ready!(sleep.as_mut().poll(cx));
            self.sleep = None;
        }
        if self.sent < self.end {
            let started = *self.started.get_or_insert_with(Instant::now);
            let n = self.chunk.min(self.end - self.sent);
            let frame = self.data.slice(self.sent..self.sent + n);
            self.sent += n;
            if let Some(bps) = self.bytes_per_sec {
                let due = started + Duration::from_secs_f64(self.sent as f64 / bps as f64);
                self.sleep = Some(Box::pin(tokio::time::sleep_until(due)));
            }
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        if !self.fail {
            return Poll::Ready(None);
        }
        if !self.paused {
            self.paused = true;
            let mut sleep = Box::pin(tokio::time::sleep(DROP_PAUSE));
            if sleep.as_mut().poll(cx).is_pending() {
                self.sleep = Some(sleep);
                return Poll::Pending;
            }
        }
        Poll::Ready(Some(Err(Box::new(InjectedDrop))))
    }
}
