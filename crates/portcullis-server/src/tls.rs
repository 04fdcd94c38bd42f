//! The HTTPS listener's TLS settings (`tls: {cert_file, key_file}`): rustls with the
//! aws-lc-rs provider already in the build, TLS 1.2 and 1.3, HTTP/1.1 by ALPN. Files that do
//! not load stop the start with a message naming them.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsSettings;

/// The acceptor for `settings`, or why its files do not make one.
pub fn acceptor(settings: &TlsSettings) -> Result<TlsAcceptor, String> {
    let cert_file = settings.cert_file.display();
    let certs = CertificateDer::pem_file_iter(&settings.cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("tls.cert_file {cert_file}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("tls.cert_file {cert_file}: no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_file(&settings.key_file)
        .map_err(|e| format!("tls.key_file {}: {e}", settings.key_file.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls: the certificate and key do not make a server identity: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
