//! Servers' certificates checked against the system's roots, read on first use.
//!
//! reqwest's default verifier reads the roots when the client is built. On Debian that is
//! 292 files: about 7 ms of a 19 ms run of `dragnet fetch` with one URL (`perf stat -r 20`;
//! 11.7 ms when only the bundle file is read). Every crawl paid it, plain-HTTP ones too, and
//! on a machine without CA certificates every crawl failed before its first request ("No CA
//! certificates were loaded from the system"). Here the roots are read once, on the blocking
//! pool, when the first https URL is about to be fetched ([`LazyRoots::warm`]); a machine
//! without them fails its https URLs only, each with that reason.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

type Loaded = Result<Arc<dyn ServerCertVerifier>, rustls::Error>;

/// The platform's verifier (webpki with the system's roots, as reqwest's default), built
/// the first time a certificate is checked or [`LazyRoots::warm`] is awaited.
pub(crate) struct LazyRoots {
    provider: Arc<CryptoProvider>,
    load: fn(Arc<CryptoProvider>) -> Loaded,
    verifier: OnceLock<Loaded>,
}

impl LazyRoots {
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> Self {
        Self::with_loader(provider, platform_verifier)
    }

    fn with_loader(provider: Arc<CryptoProvider>, load: fn(Arc<CryptoProvider>) -> Loaded) -> Self {
        Self {
            provider,
            load,
            verifier: OnceLock::new(),
        }
    }

    fn verifier(&self) -> Result<&Arc<dyn ServerCertVerifier>, rustls::Error> {
        self.verifier
            .get_or_init(|| (self.load)(Arc::clone(&self.provider)))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Whether the roots have been read (or failed to be).
    pub(crate) fn is_loaded(&self) -> bool {
        self.verifier.get().is_some()
    }

    /// Reads the roots on the blocking pool unless done, so that the handshake, which runs
    /// on an async thread, never reads files. A TLS connection made without this (through
    /// an https proxy) reads them in the handshake instead, once.
    pub(crate) async fn warm(self: &Arc<Self>) {
        if self.is_loaded() {
            return;
        }
        let roots = Arc::clone(self);
        // A failure to read them is kept, and every handshake reports it for its URL.
        let _ = tokio::task::spawn_blocking(move || roots.verifier().is_ok()).await;
    }

    /// A client configuration that checks servers with these roots and offers HTTP/2 and
    /// HTTP/1.1 (what reqwest offers with its own configuration).
    pub(crate) fn client_config(self: &Arc<Self>) -> Result<ClientConfig, rustls::Error> {
        let mut config = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(self) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn platform_verifier(provider: Arc<CryptoProvider>) -> Loaded {
    let verifier = rustls_platform_verifier::Verifier::new(provider)?;
    Ok(Arc::new(verifier))
}

impl fmt::Debug for LazyRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyRoots")
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

/// Certificates go to the platform verifier; handshake signatures, which need no roots,
/// are checked with the provider's algorithms, as that verifier does.
impl ServerCertVerifier for LazyRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.verifier()?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn no_roots(_: Arc<CryptoProvider>) -> Loaded {
        Err(rustls::Error::General(
            "No CA certificates were loaded from the system".into(),
        ))
    }

    #[test]
    fn nothing_is_read_until_a_certificate_is_checked() {
        let roots = Arc::new(LazyRoots::with_loader(ring(), no_roots));
        let config = roots.client_config().unwrap();
        assert!(!roots.is_loaded());
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        assert!(!roots.supported_verify_schemes().is_empty());
        assert!(!roots.is_loaded(), "offering schemes needs no roots");
    }

    #[test]
    fn without_roots_every_certificate_is_refused_with_the_reason() {
        let roots = LazyRoots::with_loader(ring(), no_roots);
        let name = ServerName::try_from("example.test").unwrap();
        let err = roots
            .verify_server_cert(
                &CertificateDer::from(vec![0x30, 0x00]),
                &[],
                &name,
                &[],
                UnixTime::now(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("No CA certificates"), "{err}");
        assert!(roots.is_loaded());
    }

    const CERT: &str = include_str!("../../tests/data/localhost-cert.pem");
    const KEY: &str = include_str!("../../tests/data/localhost-key.pem");

    fn cert() -> CertificateDer<'static> {
        use rustls::pki_types::pem::PemObject;
        CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap()
    }

    /// Roots holding only the test certificate (in place of the system's).
    fn test_root(provider: Arc<CryptoProvider>) -> Loaded {
        let mut store = rustls::RootCertStore::empty();
        store.add(cert())?;
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(store.into(), provider)
                .build()
                .map_err(|e| rustls::Error::General(e.to_string()))?;
        Ok(verifier)
    }

    /// Runs a handshake in memory with our client configuration; the protocol agreed on.
    fn handshake(roots: &Arc<LazyRoots>, name: &str) -> Result<Option<Vec<u8>>, rustls::Error> {
        use rustls::pki_types::PrivateKeyDer;
        use rustls::pki_types::pem::PemObject;
        let mut server_config = rustls::ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![cert()],
                PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap(),
            )?;
        server_config.alpn_protocols = vec![b"h2".to_vec()];
        let mut server = rustls::ServerConnection::new(Arc::new(server_config))?;
        let name = ServerName::try_from(name.to_owned()).unwrap();
        let mut client = rustls::ClientConnection::new(Arc::new(roots.client_config()?), name)?;
        let mut wire = Vec::new();
        while client.is_handshaking() || server.is_handshaking() {
            wire.clear();
            client.write_tls(&mut wire).unwrap();
            server.read_tls(&mut wire.as_slice()).unwrap();
            server.process_new_packets()?;
            wire.clear();
            server.write_tls(&mut wire).unwrap();
            client.read_tls(&mut wire.as_slice()).unwrap();
            client.process_new_packets()?;
        }
        Ok(client.alpn_protocol().map(<[u8]>::to_vec))
    }

    #[test]
    fn a_server_the_roots_vouch_for_is_accepted_and_others_are_not() {
        let roots = Arc::new(LazyRoots::with_loader(ring(), test_root));
        assert_eq!(handshake(&roots, "localhost"), Ok(Some(b"h2".to_vec())));
        let wrong_name = handshake(&roots, "example.test").unwrap_err();
        assert!(
            wrong_name.to_string().contains("certificate"),
            "{wrong_name}"
        );
        let strangers = Arc::new(LazyRoots::with_loader(ring(), no_roots));
        assert!(handshake(&strangers, "localhost").is_err());
    }

    #[tokio::test]
    async fn warming_reads_the_roots_once() {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        fn counting(provider: Arc<CryptoProvider>) -> Loaded {
            CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            no_roots(provider)
        }
        let roots = Arc::new(LazyRoots::with_loader(ring(), counting));
        roots.warm().await;
        roots.warm().await;
        assert!(roots.is_loaded());
        assert_eq!(CALLS.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
