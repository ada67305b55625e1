//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use sha2::{Digest, Sha256};
use url::Url;

/// A client that does not follow redirects (reqwest is built without a TLS provider, so one is
/// installed first; the tests only use http://).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// GET `url`: status and whole body.
pub async fn get(client: &reqwest::Client, url: Url) -> (u16, Vec<u8>) {
    let resp = client.get(url).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// Lower-case hex sha256.
pub fn hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// GET `url`: status, `Content-Type` and whole body.
pub async fn get_typed(client: &reqwest::Client, url: Url) -> (u16, String, Vec<u8>) {
    let resp = client.get(url).send().await.expect("request");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("ascii content type").to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        resp.bytes().await.expect("body").to_vec(),
    )
}

/// The `href` values of an HTML page, with `&amp;` decoded.
pub fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|h| h.replace("&amp;", "&"))
        .collect()
}
