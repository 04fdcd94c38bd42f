//! `/v1/gate/keys`: the gate's public keys, so anyone can check what the gate signed
//! (decision statements, audit checkpoints) without asking the gate. Public, like a JWKS.

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::state::AppState;

/// One public key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// `sha256:<hex>` of the SubjectPublicKeyInfo DER; records name it as `keyid`/`key_id`.
    pub key_id: String,
    /// `ecdsa-p256-sha256` or `ed25519`.
    pub algorithm: &'static str,
    /// `PUBLIC KEY` PEM.
    pub public_key: String,
    /// `active` (signs now) or `retired` (verifies old records).
    pub status: &'static str,
}

/// The answer of `GET /v1/gate/keys`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Keys {
    /// The active key first, then retired ones.
    pub keys: Vec<KeyView>,
}

/// The gate's public keys.
///
/// `GET /v1/gate/keys`.
#[utoipa::path(
    get, path = "/v1/gate/keys", tag = "gate", operation_id = "gateKeys",
    responses(
        (status = 200, description = "The active key first, then retired ones", body = Keys,
            example = crate::openapi::examples::gate_keys),
    )
)]
pub async fn keys(State(state): State<AppState>) -> Json<Keys> {
    let ring = state.keys.ring();
    let view = |k: &portcullis_gate::PublicKey, status| KeyView {
        key_id: k.key_id.clone(),
        algorithm: k.algorithm.as_str(),
        public_key: k.to_pem(),
        status,
    };
    let mut keys = vec![view(ring.current().public(), "active")];
    keys.extend(ring.retired().iter().map(|k| view(k, "retired")));
    Json(Keys { keys })
}
