//! The system's roots are read on first use, not when the client is built (fetch/tls.rs):
//! this checks that https is still verified, against a local TLS server whose certificate
//! no system trusts.

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::thread;

use dragnet::Config;
use dragnet::fetch::{FailureKind, Fetcher, FollowAll};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use url::Url;

/// Self-signed, for 127.0.0.1 and localhost, valid until 2126: right name, unknown issuer.
const CERT: &str = include_str!("data/localhost-cert.pem");
const KEY: &str = include_str!("data/localhost-key.pem");

/// Serves one TLS handshake on 127.0.0.1; the thread returns whether it completed.
fn one_handshake() -> (u16, thread::JoinHandle<bool>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap(),
        )
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        let connection = rustls::ServerConnection::new(Arc::new(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, socket);
        let mut request = [0u8; 1024];
        tls.read(&mut request).is_ok()
    });
    (port, server)
}

#[tokio::test]
async fn an_https_server_no_root_vouches_for_is_refused() {
    let (port, server) = one_handshake();
    let config = Config {
        allow_private: true,
        ..Config::new(Vec::new())
    };
    let fetcher = Fetcher::new(&config).unwrap();
    let url = Url::parse(&format!("https://127.0.0.1:{port}/page")).unwrap();
    let failure = fetcher.fetch(&url, &FollowAll).await.unwrap_err();
    assert_eq!(failure.kind, FailureKind::Tls, "{failure}");
    assert!(!failure.kind.is_retryable());
    assert!(
        failure.message.contains("certificate"),
        "the reason names the certificate: {failure}"
    );
    assert!(!server.join().unwrap(), "the handshake must not complete");
}
