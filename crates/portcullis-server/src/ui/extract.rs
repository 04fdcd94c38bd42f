//! Form and query extractors whose rejections are the HTML error page (with the status the
//! API's extractors answer: 413 for a body over the limit, 408 for one too slow, 422 or 400).

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::render::UiError;
use crate::error::ApiError;

/// `axum::Form` with HTML rejections.
pub struct UiForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for UiForm<T> {
    type Rejection = UiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, UiError> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(v)) => Ok(Self(v)),
            Err(FormRejection::BytesRejection(e)) => Err(crate::extract::body_rejection(e).into()),
            Err(other) => Err(ApiError::unprocessable("invalid_form", other.body_text()).into()),
        }
    }
}

/// `axum::extract::Query` with HTML rejections.
pub struct UiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for UiQuery<T> {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, UiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(ApiError::bad_request("invalid_query", e.body_text()).into())
            }
            Err(other) => Err(ApiError::bad_request("invalid_query", other.body_text()).into()),
        }
    }
}
