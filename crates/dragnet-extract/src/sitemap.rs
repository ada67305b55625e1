//! Sitemaps (sitemaps.org): XML `<urlset>` and `<sitemapindex>` files and plain-text URL lists,
//! gzip-compressed or not, parsed as a stream with hard caps so that a hostile file costs
//! bounded time and memory.

use std::io::{self, BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;
use quick_xml::Reader;
use quick_xml::events::Event;
use url::Url;

/// Most bytes a sitemap may have once decompressed: 50 MiB, the sitemaps.org limit. Larger ones
/// (gzip bombs included) end in [`SitemapError::TooLarge`] as soon as the limit is passed.
pub const SITEMAP_MAX_BYTES: u64 = 50 * 1024 * 1024;

/// Most entries kept from one sitemap or index: 50,000, the sitemaps.org limit. Further ones are
/// counted in [`ParsedSitemap::truncated`].
pub const SITEMAP_MAX_URLS: usize = 50_000;

/// Longest `<loc>`, `<lastmod>` or text line kept, in bytes. sitemaps.org caps URLs at 2,048
/// characters; longer values are counted invalid without being buffered whole.
const MAX_FIELD_BYTES: usize = 8 * 1024;

/// What a sitemap lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sitemap {
    /// A `<urlset>` or a plain-text list: pages.
    Urls(Vec<SitemapUrl>),
    /// A `<sitemapindex>`: more sitemaps to fetch.
    Index(Vec<Url>),
}

/// One page in a sitemap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SitemapUrl {
    /// The page (`<loc>`), resolved against the sitemap's URL; `http` or `https` only.
    pub loc: Url,
    /// `<lastmod>`, trimmed but otherwise as written (W3C datetime, unchecked).
    pub lastmod: Option<String>,
}

/// A parsed sitemap with what had to be left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedSitemap {
    /// The entries kept, in file order, at most [`SITEMAP_MAX_URLS`].
    pub sitemap: Sitemap,
    /// Entries beyond [`SITEMAP_MAX_URLS`], ignored.
    pub truncated: usize,
    /// Entries skipped: no `<loc>`, a value that is not an `http(s)` URL, or one too long.
    pub invalid: usize,
}

/// Why a body could not be read as a sitemap.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SitemapError {
    /// More than [`SITEMAP_MAX_BYTES`] once decompressed.
    #[error("sitemap is larger than {limit} bytes decompressed")]
    TooLarge {
        /// The limit, [`SITEMAP_MAX_BYTES`].
        limit: u64,
    },
    /// The body starts like gzip but does not decompress.
    #[error("corrupt gzip data: {message}")]
    Gzip {
        /// The decoder's message.
        message: String,
    },
    /// Malformed XML.
    #[error("malformed XML near byte {position}: {message}")]
    Xml {
        /// Offset in the decompressed body.
        position: u64,
        /// The parser's message.
        message: String,
    },
    /// Well-formed enough, but not a sitemap: an HTML page, another XML document, or a text
    /// body without a single URL.
    #[error("not a sitemap: {reason}")]
    NotASitemap {
        /// What was found instead.
        reason: String,
    },
}

/// Parses a sitemap, a sitemap index or a plain-text sitemap (one absolute URL per line).
///
/// - Gzip is recognised by its magic bytes (`1f 8b`), whatever `content_type` says: a gzip
///   `content_type` on a body without them means the transport already decompressed it.
///   Concatenated gzip members are read as one stream.
/// - XML or text is decided by the first non-blank byte (`<` means XML), since servers often
///   label sitemaps `text/plain` or `application/octet-stream`; `content_type` breaks the tie
///   only when the start of the body is blank.
/// - `<loc>` values are resolved against `base` (the sitemap's own URL), so relative ones work;
///   text lines must be absolute. Only `http(s)` URLs are kept. Hosts are not checked: whether
///   a sitemap may list URLs on other hosts is the caller's scope decision.
/// - Tags match by local name (`<loc>`, `<sm:loc>`), `<loc>` only directly inside `<url>` /
///   `<sitemap>` (so `<image:loc>` inside `<image:image>` is not taken for the page); entities,
///   character references and CDATA are joined into one value; a stray `&` is kept as is.
///
/// Memory stays bounded: the body is streamed, never held decompressed. The largest buffer is
/// one XML token (normally tiny; at most [`SITEMAP_MAX_BYTES`] for a hostile single text run).
///
/// ```
/// use dragnet_extract::{Sitemap, parse_sitemap};
/// use url::Url;
///
/// let base = Url::parse("https://h.example/sitemap.xml")?;
/// let xml = br#"<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
///   <url><loc>https://h.example/a?x=1&amp;y=2</loc><lastmod>2024-05-01</lastmod></url>
///   <url><loc>/relative</loc></url>
///   <url><loc>mailto:someone@h.example</loc></url>
/// </urlset>"#;
/// let parsed = parse_sitemap(xml, Some("application/xml"), &base)?;
/// let Sitemap::Urls(urls) = parsed.sitemap else { unreachable!() };
/// assert_eq!(urls[0].loc.as_str(), "https://h.example/a?x=1&y=2");
/// assert_eq!(urls[0].lastmod.as_deref(), Some("2024-05-01"));
/// assert_eq!(urls[1].loc.as_str(), "https://h.example/relative");
/// assert_eq!(parsed.invalid, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_sitemap(
    body: &[u8],
    content_type: Option<&str>,
    base: &Url,
) -> Result<ParsedSitemap, SitemapError> {
    if body.starts_with(&[0x1f, 0x8b]) {
        parse_stream(Capped::new(MultiGzDecoder::new(body)), content_type, base)
    } else if body.len() as u64 > SITEMAP_MAX_BYTES {
        Err(too_large())
    } else {
        parse_stream(Capped::new(body), content_type, base)
    }
}

fn too_large() -> SitemapError {
    SitemapError::TooLarge {
        limit: SITEMAP_MAX_BYTES,
    }
}

fn parse_stream<R: Read>(
    reader: Capped<R>,
    content_type: Option<&str>,
    base: &Url,
) -> Result<ParsedSitemap, SitemapError> {
    let mut input = BufReader::with_capacity(64 * 1024, reader);
    let mut entries = Entries::new(base);
    let result = sniff_xml(&mut input, content_type)
        .map_err(SitemapError::from)
        .and_then(|xml| {
            if xml {
                parse_xml(&mut input, &mut entries)
            } else {
                parse_text(&mut input, &mut entries)
            }
        });
    // Whatever broke, passing the size cap is the real reason (the cap surfaces as an I/O error,
    // or as XML cut short).
    if input.get_ref().exceeded {
        return Err(too_large());
    }
    result?;
    Ok(entries.finish())
}

impl From<io::Error> for SitemapError {
    /// Only the gzip decoder fails with I/O errors: reading a slice cannot.
    fn from(error: io::Error) -> Self {
        SitemapError::Gzip {
            message: error.to_string(),
        }
    }
}

/// Whether the body looks like XML: its first non-blank byte (after a BOM) is `<`.
fn sniff_xml(input: &mut impl BufRead, content_type: Option<&str>) -> io::Result<bool> {
    let head = input.fill_buf()?;
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    Ok(match head.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(&first) => first == b'<',
        None => content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("xml")),
    })
}

/// A plain-text sitemap: one absolute URL per line, blank lines ignored.
fn parse_text(input: &mut impl BufRead, entries: &mut Entries<'_>) -> Result<(), SitemapError> {
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        // `take` bounds the line buffer; `read_until` and `skip_until` search with std's memchr.
        let read = (&mut *input)
            .take(MAX_FIELD_BYTES as u64 + 1)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            break;
        }
        if line.len() > MAX_FIELD_BYTES {
            if line.last() != Some(&b'\n') {
                input.skip_until(b'\n')?;
            }
            entries.invalid += 1;
            continue;
        }
        let text = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line);
        let text = text.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let absolute = ["http://", "https://"].iter().any(|scheme| {
            text.get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme.as_bytes()))
        });
        if absolute {
            entries.push(text, None);
        } else {
            entries.invalid += 1;
        }
    }
    if entries.is_empty() {
        return Err(SitemapError::NotASitemap {
            reason: "a text body without any http(s) URL line".into(),
        });
    }
    Ok(())
}

/// The element being read inside an entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Loc,
    Lastmod,
}

fn parse_xml(input: &mut impl BufRead, entries: &mut Entries<'_>) -> Result<(), SitemapError> {
    let mut reader = Reader::from_reader(input);
    let config = reader.config_mut();
    // Real sitemaps are sloppy: bare `&` in query strings, mismatched end tags. Be lenient
    // wherever the meaning stays clear.
    config.allow_dangling_amp = true;
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    let mut buf = Vec::new();
    // Element depth: the root is 1, entries 2, their fields 3.
    let mut depth = 0usize;
    let mut in_entry = false;
    let mut field = None;
    let mut value = Value::default();
    let (mut loc, mut lastmod) = (None::<Value>, None::<Value>);
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|error| match error {
                // The gzip decoder's errors reach us wrapped by the XML reader.
                quick_xml::Error::Io(error) => SitemapError::Gzip {
                    message: error.to_string(),
                },
                error => SitemapError::Xml {
                    position: reader.error_position(),
                    message: error.to_string(),
                },
            })?;
        let (start, end) = match &event {
            Event::Start(e) => (Some(e.local_name()), false),
            Event::Empty(e) => (Some(e.local_name()), true),
            Event::End(_) => (None, true),
            _ => (None, false),
        };
        if let Some(name) = start {
            let name = name.as_ref();
            depth += 1;
            match depth {
                1 if entries.kind.is_none() => {
                    entries.kind = Some(match name {
                        b"urlset" => Kind::Urls,
                        b"sitemapindex" => Kind::Index,
                        _ => {
                            let name = String::from_utf8_lossy(&name[..name.len().min(64)]);
                            return Err(SitemapError::NotASitemap {
                                reason: format!("the root element is <{name}>"),
                            });
                        }
                    });
                }
                2 if entries.kind.is_some_and(|kind| kind.entry() == name) => {
                    in_entry = true;
                    (loc, lastmod) = (None, None);
                }
                3 if in_entry => {
                    field = match name {
                        b"loc" => Some(Field::Loc),
                        b"lastmod" => Some(Field::Lastmod),
                        _ => None,
                    };
                    value = Value::default();
                }
                _ => {}
            }
        }
        match event {
            Event::Text(text) if field.is_some() => value.push(&text),
            Event::CData(data) if field.is_some() => value.push(&data),
            Event::GeneralRef(reference) if field.is_some() => {
                // `&amp;` arrives as its own event (quick-xml ≥ 0.38): resolve and join it.
                let name = String::from_utf8_lossy(&reference);
                if let Ok(Some(ch)) = reference.resolve_char_ref() {
                    value.push(ch.encode_utf8(&mut [0; 4]).as_bytes());
                } else if let Some(text) = quick_xml::escape::resolve_predefined_entity(&name) {
                    value.push(text.as_bytes());
                } else {
                    // Unknown entities (no DTD is read) and bad character references stay as
                    // written.
                    value.push(format!("&{name};").as_bytes());
                }
            }
            Event::Eof => break,
            _ => {}
        }
        if end {
            match depth {
                3 if in_entry => match field.take() {
                    Some(Field::Loc) => loc = Some(std::mem::take(&mut value)),
                    Some(Field::Lastmod) => lastmod = Some(std::mem::take(&mut value)),
                    None => {}
                },
                2 if in_entry => {
                    in_entry = false;
                    match loc.take() {
                        Some(loc) if !loc.too_long => {
                            let lastmod = lastmod
                                .take()
                                .filter(|lastmod| !lastmod.too_long)
                                .map(|lastmod| lastmod.bytes.trim_ascii().to_vec())
                                .filter(|lastmod| !lastmod.is_empty())
                                .map(|lastmod| String::from_utf8_lossy(&lastmod).into_owned());
                            entries.push(loc.bytes.trim_ascii(), lastmod);
                        }
                        _ => entries.invalid += 1,
                    }
                }
                _ => {}
            }
            depth = depth.saturating_sub(1);
        }
        buf.clear();
    }
    if entries.kind.is_none() {
        return Err(SitemapError::NotASitemap {
            reason: "no root element".into(),
        });
    }
    Ok(())
}

/// The text of one field, joined from its pieces, capped at [`MAX_FIELD_BYTES`].
#[derive(Default)]
struct Value {
    bytes: Vec<u8>,
    too_long: bool,
}

impl Value {
    fn push(&mut self, piece: &[u8]) {
        if self.bytes.len() + piece.len() > MAX_FIELD_BYTES {
            self.too_long = true;
        } else if !self.too_long {
            self.bytes.extend_from_slice(piece);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Urls,
    Index,
}

impl Kind {
    /// The local name of an entry element.
    fn entry(self) -> &'static [u8] {
        match self {
            Kind::Urls => b"url",
            Kind::Index => b"sitemap",
        }
    }
}

/// Collects entries up to the cap and counts the rest.
struct Entries<'a> {
    base: &'a Url,
    /// `None` until the XML root is seen; text sitemaps are `Urls`.
    kind: Option<Kind>,
    urls: Vec<SitemapUrl>,
    sitemaps: Vec<Url>,
    truncated: usize,
    invalid: usize,
}

impl<'a> Entries<'a> {
    fn new(base: &'a Url) -> Self {
        Entries {
            base,
            kind: None,
            urls: Vec::new(),
            sitemaps: Vec::new(),
            truncated: 0,
            invalid: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.urls.is_empty() && self.sitemaps.is_empty() && self.truncated == 0
    }

    fn push(&mut self, loc: &[u8], lastmod: Option<String>) {
        if loc.is_empty() {
            // Joining "" would give the sitemap's own URL.
            self.invalid += 1;
            return;
        }
        let loc = String::from_utf8_lossy(loc);
        let Some(loc) = self
            .base
            .join(&loc)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
        else {
            self.invalid += 1;
            return;
        };
        if self.urls.len() + self.sitemaps.len() >= SITEMAP_MAX_URLS {
            self.truncated += 1;
        } else if self.kind == Some(Kind::Index) {
            self.sitemaps.push(loc);
        } else {
            self.urls.push(SitemapUrl { loc, lastmod });
        }
    }

    fn finish(self) -> ParsedSitemap {
        let sitemap = match self.kind {
            Some(Kind::Index) => Sitemap::Index(self.sitemaps),
            _ => Sitemap::Urls(self.urls),
        };
        ParsedSitemap {
            sitemap,
            truncated: self.truncated,
            invalid: self.invalid,
        }
    }
}

/// Counts decompressed bytes and fails once they pass [`SITEMAP_MAX_BYTES`].
struct Capped<R> {
    inner: R,
    read: u64,
    exceeded: bool,
}

impl<R> Capped<R> {
    fn new(inner: R) -> Self {
        Capped {
            inner,
            read: 0,
            exceeded: false,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded {
            return Err(io::Error::other("sitemap size limit passed"));
        }
        let read = self.inner.read(buf)?;
        self.read += read as u64;
        if self.read > SITEMAP_MAX_BYTES {
            self.exceeded = true;
            return Err(io::Error::other("sitemap size limit passed"));
        }
        Ok(read)
    }
}

#[cfg(test)]
mod tests;
