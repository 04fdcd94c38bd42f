//! `GET /openapi.json`: this server's OpenAPI 3.1 document (`crate::openapi`), public like
//! `/v1/gate/keys`: it describes the API, not its data.

use axum::Extension;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::openapi::Document;

/// This document.
///
/// `GET /openapi.json`.
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document of this server's API",
        content_type = "application/json", body = Object)),
)]
pub async fn document(Extension(document): Extension<Document>) -> Response {
    ([(CONTENT_TYPE, "application/json")], document.0).into_response()
}
