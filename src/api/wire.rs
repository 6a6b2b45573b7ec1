//! Content negotiation: the request body's format from `Content-Type`, the answer's from `Accept`
//! (JSON by default), and the extractor and responder every handler uses.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::contract::{self, Format, FromWire, ToWire};

use super::error::ApiError;

/// The format the caller wants the answer in, from `Accept` (highest q wins; JSON by default).
pub fn response_format(headers: &HeaderMap) -> Format {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Format::Json;
    };
    let mut best: Option<(f32, Format)> = None;
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let quality = params
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let format = if media.ends_with("/json") || media.ends_with("+json") {
            Format::Json
        } else if media.ends_with("/xml") || media.ends_with("+xml") {
            Format::Xml
        } else {
            continue;
        };
        if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, format));
        }
    }
    best.map_or(Format::Json, |(_, format)| format)
}

/// The format of a request body, from `Content-Type`; without one, the first non-blank byte decides.
pub fn request_format(headers: &HeaderMap, body: &[u8]) -> Result<Format, ApiError> {
    match headers.get(header::CONTENT_TYPE) {
        Some(value) => {
            let media = value
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if media.ends_with("/json") || media.ends_with("+json") {
                Ok(Format::Json)
            } else if media.ends_with("/xml") || media.ends_with("+xml") {
                Ok(Format::Xml)
            } else {
                Err(ApiError::UnsupportedMediaType(format!(
                    "Content-Type '{media}' is not supported; send application/json or application/xml."
                )))
            }
        }
        None => Ok(match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'<') => Format::Xml,
            _ => Format::Json,
        }),
    }
}

/// A query parameter by name, matched without regard to case (as ASP.NET binds them), decoded.
/// `None` when absent; the first occurrence wins.
pub fn query_param(raw: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.into_owned())
}

/// A `true`/`false` query parameter (any case): `None` when absent or empty, 400 otherwise.
pub fn bool_param(raw: Option<&str>, name: &str) -> Result<Option<bool>, ApiError> {
    match query_param(raw, name).as_deref() {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::BadRequest(format!(
            "{name} must be true or false, not '{other}'."
        ))),
    }
}

/// The page size of a list (`limit`, 1 to 1000): `None` when absent, 400 otherwise.
pub fn limit_param(raw: Option<&str>) -> Result<Option<u32>, ApiError> {
    query_param(raw, "limit")
        .map(|v| {
            v.parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| ApiError::BadRequest(format!("limit '{v}' is not one of 1..1000.")))
        })
        .transpose()
}

/// The caller's preferred answer format, as an extractor.
#[derive(Debug, Clone, Copy)]
pub struct Negotiated(pub Format);

impl<S: Send + Sync> FromRequestParts<S> for Negotiated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(response_format(&parts.headers)))
    }
}

/// A request body decoded from JSON or DataContract XML by the contract codec.
///
/// The body is read whole under the router's size limit (413 past it) before decoding.
pub struct WapBody<T>(pub T);

impl<S: Send + Sync, T: FromWire> FromRequest<S> for WapBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::BadRequest("The request body is empty.".into()).into_response());
        }
        let format = request_format(&headers, &bytes).map_err(IntoResponse::into_response)?;
        contract::decode(format, &bytes)
            .map(WapBody)
            .map_err(|err| ApiError::from(err).into_response())
    }
}

/// A successful answer in the negotiated format.
pub struct Reply<T> {
    status: StatusCode,
    format: Format,
    body: T,
}

impl<T: ToWire> Reply<T> {
    /// 200 OK with `body`.
    pub fn ok(format: Negotiated, body: T) -> Self {
        Self::with_status(StatusCode::OK, format, body)
    }

    /// Any success status with `body`.
    pub fn with_status(status: StatusCode, Negotiated(format): Negotiated, body: T) -> Self {
        Self {
            status,
            format,
            body,
        }
    }
}

impl<T: ToWire> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        let mut response = (self.status, contract::encode(self.format, &self.body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.format.content_type()),
        );
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, HeaderValue::from_static(value));
        map
    }

    #[test]
    fn accept_picks_the_highest_quality_supported_type() {
        let cases = [
            ("application/xml", Format::Xml),
            ("text/xml; charset=utf-8", Format::Xml),
            ("application/json;odata=minimalmetadata", Format::Json),
            ("application/json;q=0.5, application/xml", Format::Xml),
            (
                "application/xml;q=0.1, application/json;q=0.9",
                Format::Json,
            ),
            ("*/*", Format::Json),
            ("text/html", Format::Json),
        ];
        for (accept, expected) in cases {
            assert_eq!(
                response_format(&headers(header::ACCEPT, accept)),
                expected,
                "{accept}"
            );
        }
        assert_eq!(response_format(&HeaderMap::new()), Format::Json);
    }

    #[test]
    fn query_parameters_match_without_regard_to_case() {
        let raw = Some("LASTID=23451&batchsize=100&x=a%20b");
        assert_eq!(query_param(raw, "lastID").as_deref(), Some("23451"));
        assert_eq!(query_param(raw, "BatchSize").as_deref(), Some("100"));
        assert_eq!(query_param(raw, "x").as_deref(), Some("a b"));
        assert_eq!(query_param(raw, "missing"), None);
        assert_eq!(query_param(None, "lastID"), None);
    }

    #[test]
    fn boolean_and_limit_parameters_refuse_what_they_cannot_read() {
        assert_eq!(bool_param(Some("x=TRUE"), "x").unwrap(), Some(true));
        assert_eq!(bool_param(Some("x=false"), "X").unwrap(), Some(false));
        assert_eq!(bool_param(Some("x="), "x").unwrap(), None);
        assert_eq!(bool_param(None, "x").unwrap(), None);
        assert!(matches!(
            bool_param(Some("x=yes"), "x"),
            Err(ApiError::BadRequest(_))
        ));
        assert_eq!(limit_param(Some("limit=1000")).unwrap(), Some(1000));
        assert_eq!(limit_param(None).unwrap(), None);
        for bad in ["limit=0", "limit=1001", "limit=ten", "limit=-1"] {
            assert!(
                matches!(limit_param(Some(bad)), Err(ApiError::BadRequest(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn content_type_decides_the_body_format_and_unknown_types_are_refused() {
        let xml = headers(header::CONTENT_TYPE, "application/xml; charset=utf-8");
        assert_eq!(request_format(&xml, b"{}").unwrap(), Format::Xml);
        let json = headers(header::CONTENT_TYPE, "application/json");
        assert_eq!(request_format(&json, b"<a/>").unwrap(), Format::Json);
        let text = headers(header::CONTENT_TYPE, "text/plain");
        assert!(matches!(
            request_format(&text, b"{}"),
            Err(ApiError::UnsupportedMediaType(_))
        ));
        assert_eq!(
            request_format(&HeaderMap::new(), b"  <Subscription/>").unwrap(),
            Format::Xml
        );
        assert_eq!(
            request_format(&HeaderMap::new(), b"{}").unwrap(),
            Format::Json
        );
    }
}
