//! The manifest: every content page the site serves, with the sha256 of its exact body, so a
//! crawl can be checked for completeness and integrity.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::web::Web;

/// Every content page of a site (also served as `GET /__manifest.json`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The pages, list first for the countries profile, by id for the web profile.
    pub pages: Vec<ManifestPage>,
}

/// One page of the [`Manifest`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ManifestPage {
    /// Absolute URL, spelled as the site links to it (e.g. `/wiki/C%C3%B4te_d%27Ivoire`).
    pub url: String,
    /// Lower-case hex sha256 of the exact body served.
    pub sha256: String,
    /// Body length.
    pub bytes: u64,
    /// `"list"`, `"country"` or `"page"`.
    pub kind: String,
}

/// Lower-case hex sha256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    out
}

/// The manifest entry of web page `id`.
pub(crate) fn web_page_entry(web: &Web, id: u64) -> ManifestPage {
    let body = web.page(id);
    ManifestPage {
        url: web.url(id),
        sha256: sha256_hex(body.as_bytes()),
        bytes: body.len() as u64,
        kind: "page".to_owned(),
    }
}

/// Pages per chunk when streaming the web manifest.
const STREAM_BATCH: u64 = 256;

/// Writes the web manifest as JSON into `tx`, a batch of pages at a time (blocking: run it on a
/// blocking thread). Stops early when the receiver is gone.
pub(crate) fn stream_web_manifest(web: &Web, tx: &mpsc::Sender<Bytes>) {
    let mut buf = Vec::with_capacity(64 * 1024);
    buf.extend_from_slice(b"{\"pages\":[");
    for id in 0..web.pages() {
        if id > 0 {
            buf.push(b',');
        }
        // Serialising a struct of strings and integers into a Vec cannot fail.
        if serde_json::to_writer(&mut buf, &web_page_entry(web, id)).is_err() {
            return;
        }
        if (id + 1) % STREAM_BATCH == 0
            && tx
                .blocking_send(Bytes::from(std::mem::take(&mut buf)))
                .is_err()
        {
            return;
        }
    }
    buf.extend_from_slice(b"]}");
    let _ = tx.blocking_send(Bytes::from(buf));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn streamed_manifest_parses() {
        let web = Web::new(1, 600, 4, 1_000, vec!["http://127.0.0.1:9".to_owned()]);
        let (tx, mut rx) = mpsc::channel(1024);
        stream_web_manifest(&web, &tx);
        drop(tx);
        let mut json = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            json.extend_from_slice(&chunk);
        }
        let m: Manifest = serde_json::from_slice(&json).expect("valid json");
        assert_eq!(m.pages.len(), 600);
        assert_eq!(m.pages[5], web_page_entry(&web, 5));
    }
}
