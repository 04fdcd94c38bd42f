//! Test and demo support for Portcullis: builds real OCI images and indexes,
//! pushes them to plain-HTTP registries on 127.0.0.1 with oci-client, and signs
//! them in cosign's format with sigstore's signing code. [`sigstore`] is a whole private
//! Sigstore deployment (Fulcio, CT log, Rekor v1/v2, TSA, `trusted_root.json`) for bundle and
//! keyless-attestation tests.
//!
//! The library does not use `portcullis-registry` (its tests only borrow that crate's
//! `TestRegistry`), so the copy engine is checked against an outside client.

pub mod attest;
mod error;
pub mod https;
pub mod jwt;
pub mod key;
pub mod keyless;
pub mod layer;
pub mod push;
pub mod sign;
pub mod sigstore;

use std::net::TcpListener;

pub use attest::{Forgery, Placement, attest, forged_envelope, push_envelope};
pub use error::{Error, Result};
pub use key::TestKey;
pub use keyless::{
    FakeFulcio, FakeRekor, LeafSpec, SanSubject, append_keyless_signature, keyless_signature,
    sign_image_keyless, unix_now,
};
pub use push::{manifest_digest, push_index, push_random_image};
pub use sign::{sign_image, signature_tag};
pub use sigstore::{
    AttKind, Bundle, BundleVersion, FakeCtLog, FakeRekorV2, FakeTsa, FulcioExtensions,
    PrivateSigstore, SignOptions, TlogChoice, TrustedRootBuilder, ValidFor, push_bundle_referrer,
    push_keyless_attestation,
};

/// Ports other local services (registries of the demo) are expected on.
const RESERVED_PORTS: std::ops::RangeInclusive<u16> = 5000..=5003;

/// A currently free TCP port on 127.0.0.1, never one of 5000–5003.
///
/// The port is released before returning, so another process could take it in
/// between; good enough for tests. Retries while binding fails (a machine
/// without loopback cannot run these tests anyway); see [`try_free_port`].
pub fn free_port() -> u16 {
    loop {
        if let Ok(port) = try_free_port() {
            return port;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Like [`free_port`], but reports a failure to bind instead of retrying.
pub fn try_free_port() -> Result<u16> {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if !RESERVED_PORTS.contains(&port) {
            return Ok(port);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_avoids_reserved_range() {
        for _ in 0..50 {
            let port = free_port();
            assert!(!RESERVED_PORTS.contains(&port));
            assert_ne!(port, 0);
        }
    }
}
