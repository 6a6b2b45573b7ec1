//! The script actions of recovery plans: a provider's HTTP webhook that wapdr `POST`s the
//! failover's context to before or after a group, and whose answer decides whether the group
//! goes on (the success rule is the caller's).
//!
//! One attempt per call, bounded by the action's own timeout: a script is not assumed safe to
//! run twice, so nothing here retries. Each call carries an `Idempotency-Key` that is the same
//! if wapdr has to send it again after a crash, so a receiver can drop the repeat. Errors and
//! traces show the URL without its query string, which may hold a token; redirects are never
//! followed ([`HttpSettings`]).

use std::time::{Duration, Instant};

use reqwest::Url;
use tracing::instrument;

use super::{FabricError, HttpSettings};

/// The service name in errors and traces.
const SERVICE: &str = "recovery plan webhook";

/// The most of an answer's body kept (for the success rule and the job's record).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a webhook answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The body (its first 64 KiB, as text).
    pub body: String,
    /// How long the call took.
    pub elapsed: Duration,
}

/// Calls recovery-plan webhooks.
#[derive(Debug, Clone)]
pub struct PlanWebhookClient {
    http: reqwest::Client,
}

impl PlanWebhookClient {
    /// A client with the fabric's connection settings (its request timeout is replaced by each
    /// action's own).
    pub fn new(settings: &HttpSettings) -> Result<Self, FabricError> {
        Ok(Self {
            http: settings.build_client(SERVICE)?,
        })
    }

    /// `POST`s `body` (JSON) to `url` once, waiting at most `timeout`.
    #[instrument(skip_all, fields(service = SERVICE, url = %shown_url(url)), err)]
    pub async fn call(
        &self,
        url: &str,
        body: &serde_json::Value,
        idempotency_key: &str,
        timeout: Duration,
    ) -> Result<WebhookAnswer, FabricError> {
        let shown = shown_url(url);
        let parsed = Url::parse(url).map_err(|e| FabricError::config(SERVICE, e))?;
        let started = Instant::now();
        let response = self
            .http
            .post(parsed)
            .timeout(timeout)
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .send()
            .await
            .map_err(|e| transport_error(&e, &shown))?;
        let status = response.status().as_u16();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| transport_error(&e, &shown))?;
        let kept = &bytes[..bytes.len().min(MAX_BODY_BYTES)];
        Ok(WebhookAnswer {
            status,
            body: String::from_utf8_lossy(kept).into_owned(),
            elapsed: started.elapsed(),
        })
    }
}

/// The URL as errors and traces show it: without its query string, which may carry a token.
pub fn shown_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            parsed.set_query(None);
            parsed.set_fragment(None);
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "(an invalid URL)".into(),
    }
}

fn transport_error(error: &reqwest::Error, shown: &str) -> FabricError {
    if error.is_timeout() {
        FabricError::Timeout {
            service: SERVICE.into(),
            url: shown.to_owned(),
        }
    } else {
        FabricError::Unreachable {
            service: SERVICE.into(),
            url: shown.to_owned(),
            // reqwest's text names the URL, query string included: keep only what failed.
            detail: if error.is_connect() {
                "the connection failed".into()
            } else {
                "the request failed".into()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_drop_the_query_and_credentials() {
        assert_eq!(
            shown_url("https://ops:secret@hooks.example/dr/start?token=abc#x"),
            "https://ops@hooks.example/dr/start"
        );
        assert_eq!(shown_url("not a url"), "(an invalid URL)");
    }
}
