//! Azure AD client credentials for ARM (`schemas/fabric-http.md` §4), with the `oauth2` crate:
//! one token cached and shared, renewed before it expires, and on demand after ARM said 401.
//!
//! The token request goes through the fabric retry policy like every other call. The client
//! secret and the tokens never appear in logs or errors (they stay in `SecretString`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, instrument};

use crate::fabric::FabricError;
use crate::fabric::retry::{Resend, RetryPolicy};

/// The service name in errors and traces.
pub(crate) const SERVICE: &str = "Azure AD";

/// How long a token is assumed to live when the answer does not say.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);

/// The longest margin before expiry at which a token is renewed.
const MAX_RENEWAL_MARGIN: Duration = Duration::from_secs(300);

/// Where and as whom tokens are requested.
pub(crate) struct TokenSource {
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    scope: String,
    http: reqwest::Client,
    policy: RetryPolicy,
    cached: Mutex<Option<Cached>>,
}

struct Cached {
    token: SecretString,
    renew_at: Instant,
}

impl TokenSource {
    /// A source for `client_id` at `token_url`, asking for `scope`.
    pub(crate) fn new(
        token_url: String,
        client_id: String,
        client_secret: SecretString,
        scope: String,
        http: reqwest::Client,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            token_url,
            client_id,
            client_secret,
            scope,
            http,
            policy,
            cached: Mutex::new(None),
        }
    }

    /// A token valid for a while yet: the cached one, or a fresh one.
    pub(crate) async fn token(&self) -> Result<SecretString, FabricError> {
        // Holding the lock across the request makes concurrent callers share one renewal.
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref() {
            if Instant::now() < current.renew_at {
                return Ok(current.token.clone());
            }
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `rejected` (ARM refused it), unless another caller already replaced it.
    pub(crate) async fn invalidate(&self, rejected: &SecretString) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == rejected.expose_secret())
        {
            *cached = None;
        }
    }

    #[instrument(skip_all, fields(service = SERVICE, url = %self.token_url), err)]
    async fn fetch(&self) -> Result<Cached, FabricError> {
        let token_url = TokenUrl::new(self.token_url.clone())
            .map_err(|e| FabricError::config(SERVICE, format!("token URL: {e}")))?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_owned(),
            ))
            // Azure AD reads client_id and client_secret from the form, as the contract says.
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url);
        let send = AzureAdHttp(self);
        let started = Instant::now();
        let answer = client
            .exchange_client_credentials()
            .add_scope(Scope::new(self.scope.clone()))
            .request_async(&send)
            .await
            .map_err(|e| match e {
                RequestTokenError::Request(e) => e,
                RequestTokenError::ServerResponse(e) => FabricError::Unauthorized {
                    service: SERVICE.to_owned(),
                    url: self.token_url.clone(),
                    status: 400,
                    message: e.error().to_string(),
                },
                RequestTokenError::Parse(e, _) => {
                    FabricError::protocol(SERVICE, &self.token_url, format!("token answer: {e}"))
                }
                RequestTokenError::Other(e) => FabricError::protocol(SERVICE, &self.token_url, e),
            })?;
        let lifetime = answer.expires_in().unwrap_or(DEFAULT_LIFETIME);
        let margin = (lifetime / 10).min(MAX_RENEWAL_MARGIN);
        debug!(lifetime_s = lifetime.as_secs(), "got an Azure AD token");
        Ok(Cached {
            token: SecretString::from(answer.access_token().secret().to_owned()),
            renew_at: started + lifetime.saturating_sub(margin),
        })
    }

    /// The HTTP client `oauth2` uses: our client and retry policy, and our error mapping, so that
    /// an outage reads as an outage and a bad secret as `Unauthorized`.
    async fn send(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, FabricError> {
        let request = reqwest::Request::try_from(request)
            .map_err(|e| FabricError::config(SERVICE, format!("token request: {e}")))?;
        // Asking for a token changes nothing on the server: re-sending is safe.
        let response = self
            .policy
            .send(&self.http, SERVICE, Resend::Safe, request)
            .await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| {
            FabricError::protocol(SERVICE, &self.token_url, format!("reading the answer: {e}"))
        })?;
        if !status.is_success() {
            let (code, message) = read_error(&body);
            let mut error =
                FabricError::from_status(SERVICE, &self.token_url, status.as_u16(), code, message);
            // Azure AD answers a wrong secret with 400/401 `invalid_client`: credentials rejected.
            if let FabricError::Rejected {
                status,
                message,
                code,
                ..
            } = &error
            {
                if code.starts_with("invalid_client") || code.starts_with("unauthorized_client") {
                    error = FabricError::Unauthorized {
                        service: SERVICE.to_owned(),
                        url: self.token_url.clone(),
                        status: *status,
                        message: message.clone(),
                    };
                }
            }
            return Err(error);
        }
        let mut builder = oauth2::http::Response::builder().status(status.as_u16());
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        builder
            .body(body.to_vec())
            .map_err(|e| FabricError::protocol(SERVICE, &self.token_url, e))
    }
}

/// The HTTP client handed to `oauth2`: a named type rather than a closure, so that the future
/// it returns is provably `Send` for every lifetime (async_trait needs that).
struct AzureAdHttp<'a>(&'a TokenSource);

impl<'c> oauth2::AsyncHttpClient<'c> for AzureAdHttp<'_> {
    type Error = FabricError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, FabricError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.0.send(request))
    }
}

/// The `(error, error_description)` of an OAuth error answer.
fn read_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    (text("error"), text("error_description"))
}
