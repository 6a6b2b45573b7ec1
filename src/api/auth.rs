//! HTTP Basic authentication, one credential pair per RP endpoint, compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;

/// The credentials one endpoint accepts. Only digests are kept, so the comparison takes the same
/// time whatever the length or content of what the caller sent.
#[derive(Clone)]
pub struct BasicCredentials {
    realm: &'static str,
    username: [u8; 32],
    password: [u8; 32],
}

impl BasicCredentials {
    /// Credentials for the endpoint named `realm`.
    pub fn new(realm: &'static str, username: &str, password: &SecretString) -> Self {
        Self {
            realm,
            username: digest(username.as_bytes()),
            password: digest(password.expose_secret().as_bytes()),
        }
    }

    /// Whether the `Authorization` header carries these credentials.
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        let Some((user, password)) = basic_pair(headers) else {
            return false;
        };
        let user_ok = digest(user.as_bytes()).ct_eq(&self.username);
        let password_ok = digest(password.as_bytes()).ct_eq(&self.password);
        // `&` on Choice, not `&&`: both comparisons always run.
        (user_ok & password_ok).into()
    }
}

/// Whether a presented secret equals the expected one, in time that depends on neither's length
/// or content (both are hashed first, so a length mismatch does not answer early).
pub fn secrets_match(expected: &str, presented: &str) -> bool {
    digest(expected.as_bytes())
        .ct_eq(&digest(presented.as_bytes()))
        .into()
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn basic_pair(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Middleware: refuses a request without the endpoint's credentials with 401 and a WAP Error.
pub async fn require_basic(
    State(credentials): State<Arc<BasicCredentials>>,
    request: Request,
    next: Next,
) -> Response {
    if credentials.accepts(request.headers()) {
        next.run(request).await
    } else {
        ApiError::Unauthorized {
            realm: credentials.realm,
        }
        .into_response()
    }
}

/// The header WAP's tenant API names the calling user in.
pub const PRINCIPAL_HEADER: &str = "x-ms-principal-id";

/// The principal WAP acts for (`x-ms-principal-id`, URL-encoded by some clients), if any.
pub fn principal(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(PRINCIPAL_HEADER)?.to_str().ok()?.trim();
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned();
    (!decoded.is_empty()).then_some(decoded)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    fn basic(user: &str, password: &str) -> HeaderMap {
        with_auth(&format!(
            "Basic {}",
            STANDARD.encode(format!("{user}:{password}"))
        ))
    }

    #[test]
    fn only_the_exact_pair_is_accepted() {
        let creds = BasicCredentials::new("admin", "wapdr", &SecretString::from("s3cret:x"));
        assert!(creds.accepts(&basic("wapdr", "s3cret:x")));
        assert!(creds.accepts(&with_auth(&format!(
            "basic {}",
            STANDARD.encode("wapdr:s3cret:x")
        ))));
        assert!(!creds.accepts(&basic("wapdr", "s3cret")));
        assert!(!creds.accepts(&basic("WAPDR", "s3cret:x")));
        assert!(!creds.accepts(&basic("", "")));
        assert!(!creds.accepts(&with_auth("Bearer abc")));
        assert!(!creds.accepts(&with_auth("Basic !!!notbase64")));
        assert!(!creds.accepts(&HeaderMap::new()));
    }

    #[test]
    fn secrets_match_only_when_equal_whatever_the_length() {
        assert!(secrets_match("token-123", "token-123"));
        assert!(!secrets_match("token-123", "token-12"));
        assert!(!secrets_match("token-123", "token-1234"));
        assert!(!secrets_match("token-123", ""));
    }

    #[test]
    fn the_principal_header_is_url_decoded() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-ms-principal-id",
            HeaderValue::from_static("tenant%40fabrikam.com"),
        );
        assert_eq!(principal(&headers).as_deref(), Some("tenant@fabrikam.com"));
        headers.insert("x-ms-principal-id", HeaderValue::from_static("bad%zz%4"));
        assert_eq!(principal(&headers).as_deref(), Some("bad%zz%4"));
        assert_eq!(principal(&HeaderMap::new()), None);
    }
}
