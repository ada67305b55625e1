//! A body as the pieces the connection handed over, never glued into one buffer on the way
//! through the pipeline. Gluing costs a pass over every byte and a fresh buffer per page,
//! whose pages the kernel must fault in: 13% of the CPU of `dragnet fetch` on the reference
//! job at zero latency (`perf record`, 4 in flight). Hashing and writing go piece by piece;
//! only parsing wants one slice, and it asks for one on the CPU pool.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, IoSlice, Write};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;

/// A body's bytes, in order. Cheap to clone (one shared list); a body read off the wire
/// holds its share of the fetcher's memory budget until its last clone is dropped.
#[derive(Clone, Default)]
pub struct Body(Arc<Pieces>);

#[derive(Default)]
struct Pieces {
    chunks: Vec<Bytes>,
    len: usize,
    /// Given back to the budget when the last clone is dropped.
    _permit: Option<OwnedSemaphorePermit>,
}

/// Slices handed to one `write_vectored` call (Linux's `IOV_MAX` is 1024).
const SLICES_PER_WRITE: usize = 64;

impl Body {
    /// `chunks` in order, holding `permit` (the budget share) for as long as they live.
    pub(crate) fn held(mut chunks: Vec<Bytes>, permit: Option<OwnedSemaphorePermit>) -> Self {
        chunks.retain(|c| !c.is_empty());
        let len = chunks.iter().map(Bytes::len).sum();
        Self(Arc::new(Pieces {
            chunks,
            len,
            _permit: permit,
        }))
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len
    }

    /// Whether the body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.len == 0
    }

    /// The pieces, in order, none empty.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.0.chunks.iter().map(|c| &c[..])
    }

    /// The whole body as one slice: borrowed when it is one piece, else a copy. CPU work
    /// for large bodies; call it on the pool.
    pub fn contiguous(&self) -> Cow<'_, [u8]> {
        match self.0.chunks.as_slice() {
            [] => Cow::Borrowed(&[]),
            [one] => Cow::Borrowed(one),
            many => Cow::Owned(many.concat()),
        }
    }

    /// At most the first `max` bytes as one slice (content sniffing looks at a prefix).
    pub fn head(&self, max: usize) -> Cow<'_, [u8]> {
        match self.0.chunks.first() {
            None => Cow::Borrowed(&[]),
            Some(first) if first.len() >= max || self.0.chunks.len() == 1 => {
                Cow::Borrowed(&first[..first.len().min(max)])
            }
            Some(_) => {
                let mut head = Vec::with_capacity(max.min(self.0.len));
                for chunk in self.chunks() {
                    let room = max - head.len();
                    head.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if head.len() == max {
                        break;
                    }
                }
                Cow::Owned(head)
            }
        }
    }

    /// A copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.contiguous().into_owned()
    }

    /// Writes every byte to `out`, several pieces per call.
    ///
    /// # Errors
    /// The first write error (`WriteZero` when `out` takes nothing).
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        for group in self.0.chunks.chunks(SLICES_PER_WRITE) {
            let mut slices: Vec<IoSlice<'_>> = group.iter().map(|c| IoSlice::new(c)).collect();
            let mut rest = &mut slices[..];
            while !rest.is_empty() {
                match out.write_vectored(rest) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(written) => IoSlice::advance_slices(&mut rest, written),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
}

/// A body from pieces, in order (holding no budget share).
impl FromIterator<Bytes> for Body {
    fn from_iter<I: IntoIterator<Item = Bytes>>(pieces: I) -> Self {
        Self::held(pieces.into_iter().collect(), None)
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Self::held(vec![bytes], None)
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from(Bytes::from(bytes))
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Self::from(Bytes::from_static(bytes))
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.contiguous() == other.contiguous()
    }
}

impl Eq for Body {}

impl PartialEq<[u8]> for Body {
    fn eq(&self, other: &[u8]) -> bool {
        self.len() == other.len() && *self.contiguous() == *other
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("len", &self.0.len)
            .field("pieces", &self.0.chunks.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(parts: &[&'static [u8]]) -> Body {
        parts.iter().map(|p| Bytes::from_static(p)).collect()
    }

    #[test]
    fn pieces_read_as_one_body() {
        let body = pieces(&[b"<html>", b"", b"<body>", b"hi"]);
        assert_eq!(body.len(), 14);
        assert_eq!(body.chunks().count(), 3, "empty pieces are dropped");
        assert_eq!(&*body.contiguous(), b"<html><body>hi");
        assert_eq!(body, *b"<html><body>hi".as_slice());
        assert_eq!(body, Body::from(b"<html><body>hi".to_vec()));
    }

    #[test]
    fn one_piece_is_borrowed_not_copied() {
        let body = pieces(&[b"whole"]);
        assert!(matches!(body.contiguous(), Cow::Borrowed(b"whole")));
        assert!(matches!(Body::default().contiguous(), Cow::Borrowed(b"")));
    }

    #[test]
    fn head_takes_a_prefix_across_pieces() {
        let body = pieces(&[b"ab", b"cd", b"ef"]);
        assert_eq!(&*body.head(3), b"abc");
        assert_eq!(&*body.head(100), b"abcdef");
        assert_eq!(&*body.head(1), b"a");
        assert_eq!(&*Body::default().head(4), b"");
    }

    /// Takes at most 3 bytes a call, to exercise partial vectored writes.
    struct Dribble(Vec<u8>);

    impl Write for Dribble {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_to_survives_partial_writes() {
        let body: Body = (0..200u8).map(|i| Bytes::from(vec![i; 5])).collect();
        let mut out = Dribble(Vec::new());
        body.write_to(&mut out).unwrap();
        assert_eq!(out.0, body.to_vec());
        assert_eq!(out.0.len(), 1000);
        let mut all = Vec::new();
        body.write_to(&mut all).unwrap();
        assert_eq!(all, out.0);
    }

    #[test]
    fn a_writer_that_takes_nothing_is_an_error() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Ok(0)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let err = pieces(&[b"x"]).write_to(&mut Full).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WriteZero);
    }
}
