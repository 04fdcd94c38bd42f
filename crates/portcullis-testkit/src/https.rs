//! A one-document HTTPS server on loopback with its own CA, for tests of clients that must
//! verify TLS against a CA they are given (an OIDC issuer's `jwks_url` with `ca_file`).
//! It answers every request with the document it serves now (`set` replaces it), HTTP/1.1,
//! one request per connection.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SanType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::keyless::cert_error;
use crate::{Error, Result};

/// A loopback server identity issued by its own CA, as PEM: what a TLS listener under test
/// loads (`tls.cert_file`, `tls.key_file`) and what its clients trust (`ca_pem`).
pub struct LoopbackIdentity {
    /// The issuing CA's certificate.
    pub ca_pem: String,
    /// The server certificate for `localhost` and 127.0.0.1.
    pub cert_pem: String,
    /// The server's PKCS#8 private key.
    pub key_pem: String,
}

impl LoopbackIdentity {
    /// A fresh CA and a P-256 server certificate it issued.
    pub fn generate() -> Result<Self> {
        let (ca, leaf_cert, leaf_key) = issue()?;
        Ok(Self {
            ca_pem: ca.pem(),
            cert_pem: leaf_cert.pem(),
            key_pem: leaf_key.serialize_pem(),
        })
    }
}

/// A fresh CA and a P-256 certificate for `localhost` and 127.0.0.1 it issued, with its key.
fn issue() -> Result<(
    CertifiedIssuer<'static, KeyPair>,
    rcgen::Certificate,
    KeyPair,
)> {
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "portcullis test TLS CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_error)?;
    let ca = CertifiedIssuer::self_signed(ca, ca_key).map_err(cert_error)?;
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).map_err(cert_error)?;
    leaf.subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(cert_error)?;
    let leaf_cert = leaf.signed_by(&leaf_key, &ca).map_err(cert_error)?;
    Ok((ca, leaf_cert, leaf_key))
}

/// The running server; stops when dropped.
pub struct HttpsDocument {
    /// `https://127.0.0.1:<port>/<path>`.
    pub url: String,
    /// The CA that issued the server's certificate, PEM (what `ca_file` names).
    pub ca_pem: String,
    body: Arc<Mutex<Vec<u8>>>,
    task: JoinHandle<()>,
}

impl HttpsDocument {
    /// Serves `body` as `application/json` at `path` (any path answers the same).
    pub async fn serve(path: &str, body: Vec<u8>) -> Result<Self> {
        let (ca, leaf_cert, leaf_key) = issue()?;
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Invalid(format!("TLS config: {e}")))?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf_cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .map_err(|e| Error::Invalid(format!("TLS certificate: {e}")))?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let body = Arc::new(Mutex::new(body));
        let served = body.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, served) = (acceptor.clone(), served.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    // Read the request head (up to 16 KiB), then answer.
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16384 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let body = served.lock().map(|b| b.clone()).unwrap_or_default();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.write_all(&body).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Ok(Self {
            url: format!("https://127.0.0.1:{port}/{}", path.trim_start_matches('/')),
            ca_pem: ca.pem(),
            body,
            task,
        })
    }

    /// Serves `body` from now on.
    pub fn set(&self, body: Vec<u8>) {
        if let Ok(mut b) = self.body.lock() {
            *b = body;
        }
    }
}

impl Drop for HttpsDocument {
    fn drop(&mut self) {
        self.task.abort();
    }
}
