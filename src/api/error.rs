//! The one API error type, and the layer that turns every error response into a WAP `Error`.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::contract::{self, ContractError, WapError};
use crate::domain::QuotaError;
use crate::fabric::FabricError;
use crate::store::StoreError;

use super::wire::response_format;

/// Everything a handler can answer with instead of success; owns the mapping to HTTP status and
/// WAP error code. The cause of a server error is logged, never shown to the caller.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a value is invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or wrong credentials (401).
    #[error("Valid credentials are required for this endpoint.")]
    Unauthorized {
        /// The endpoint, for the `WWW-Authenticate` realm.
        realm: &'static str,
    },
    /// The caller is known but may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such resource, or one the caller may not see (404).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// The body's media type is not JSON or XML (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A fabric service wapdr needs did not answer usefully (502); the message names it.
    #[error("{0}")]
    BadGateway(String),
    /// Something failed on our side (500); the cause goes to the log only.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
    /// The store cannot be reached (503).
    #[error("The store is unavailable; try again shortly.")]
    Unavailable(#[source] anyhow::Error),
}

impl ApiError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The WAP error body the caller sees.
    pub fn to_wap_error(&self) -> WapError {
        WapError::new(code_for(self.status()), self.to_string())
    }
}

impl From<ContractError> for ApiError {
    fn from(err: ContractError) -> Self {
        Self::BadRequest(err.message)
    }
}

impl From<QuotaError> for ApiError {
    fn from(err: QuotaError) -> Self {
        Self::BadRequest(err.to_string())
    }
}

impl From<FabricError> for ApiError {
    /// A fabric service that failed is named in the message (never a secret: fabric errors carry
    /// none), so the provider knows which stamp or service to look at.
    fn from(err: FabricError) -> Self {
        Self::BadGateway(err.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict => Self::Conflict(
                "The record was changed by another request at the same time; retry.".into(),
            ),
            StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
                Self::Unavailable(err.into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

/// Marks a response as carrying a WAP error, so [`render_errors`] writes it in the caller's format.
#[derive(Clone)]
struct WapErrorBody(WapError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(cause) | Self::Unavailable(cause) => {
                tracing::error!(error = format!("{cause:#}"), "request failed");
            }
            _ => tracing::debug!(error = %self, "request refused"),
        }
        let mut response = self.status().into_response();
        response
            .extensions_mut()
            .insert(WapErrorBody(self.to_wap_error()));
        if let Self::Unauthorized { realm } = self {
            let challenge = format!("Basic realm=\"wapdr-{realm}\", charset=\"UTF-8\"");
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// Renders every 4xx/5xx response as a WAP `Error` in the format the request's `Accept` asks for:
/// our own errors keep their code and message; axum's rejections (unknown route, wrong method, body
/// over the limit...) get a code from their status and their text as the message.
pub async fn render_errors(request: Request, next: Next) -> Response {
    let format = response_format(request.headers());
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let error = match parts.extensions.remove::<WapErrorBody>() {
        Some(WapErrorBody(error)) => error,
        None => {
            let text = axum::body::to_bytes(body, 64 * 1024)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&text).trim().to_owned();
            let message = if text.is_empty() {
                status.canonical_reason().unwrap_or("Error").to_owned()
            } else {
                text
            };
            WapError::new(code_for(status), message)
        }
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Response::from_parts(parts, contract::encode(format, &error).into())
}

fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "BadRequest",
        StatusCode::UNAUTHORIZED => "Unauthorized",
        StatusCode::FORBIDDEN => "Forbidden",
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::METHOD_NOT_ALLOWED => "MethodNotAllowed",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "RequestEntityTooLarge",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UnsupportedMediaType",
        StatusCode::BAD_GATEWAY => "BadGateway",
        StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
        s if s.is_server_error() => "InternalError",
        _ => "BadRequest",
    }
}
