//! The alert webhook: where wapdr tells a provider's monitoring that something needs attention
//! (a VM's replication health turned Warning or Critical, its RPO passed the threshold: [`Alert`];
//! a stamp's site-health verdict changed: [`SiteAlert`]).
//!
//! One JSON `POST` per alert, through the fabric's [`HttpSettings`] (timeouts) and the one
//! [`RetryPolicy`]. Every alert carries an `AlertId` that is the same on every re-send, so a
//! receiver can drop duplicates; that is why a timed-out post may be sent again. It must never
//! follow a redirect (the settings forbid it) nor put the webhook's query string (which may hold
//! a token) in an error.

use reqwest::{Method, Url};
use serde::Serialize;
use time::OffsetDateTime;
use tracing::instrument;

use super::retry::{Resend, RetryPolicy};
use super::{FabricError, HttpSettings};

/// The service name in errors and traces.
const SERVICE: &str = "alert webhook";

/// What the webhook can be sent: a JSON body with an id that is the same on every re-send.
pub trait WebhookAlert: Serialize + Sync {
    /// The id receivers drop duplicates by.
    fn alert_id(&self) -> &str;
}

/// One replication-health alert about a VM, as the webhook receives it (PascalCase JSON, as
/// wapdr's own API writes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alert {
    /// The same for every re-send of this alert: receivers drop duplicates by it.
    pub alert_id: String,
    /// What kind of alert (`ReplicationHealth`).
    pub kind: String,
    /// The subscription concerned.
    pub subscription_id: String,
    /// The VM concerned (its SPF id on the primary stamp).
    pub vm_id: String,
    /// The VM's name.
    pub vm_name: String,
    /// The health now (`Normal`, `Warning`, `Critical`).
    pub health: String,
    /// The health before, if known.
    pub previous_health: Option<String>,
    /// The recovery point objective now, in seconds, if anything was replicated yet.
    pub rpo_seconds: Option<i64>,
    /// Why: the engine's health errors or the RPO threshold passed.
    pub reason: String,
    /// When wapdr noticed (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
}

impl WebhookAlert for Alert {
    fn alert_id(&self) -> &str {
        &self.alert_id
    }
}

/// One site-health alert: a stamp's heartbeat verdict changed (PascalCase JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SiteAlert {
    /// The same for every re-send of this alert: receivers drop duplicates by it.
    pub alert_id: String,
    /// What kind of alert (`SiteHealth`).
    pub kind: String,
    /// The stamp concerned (wapdr's id).
    pub stamp_id: String,
    /// The stamp's name.
    pub stamp_name: String,
    /// The verdict now (`Up`, `Degraded`, `Down`).
    pub verdict: String,
    /// The verdict before, if the stamp had one.
    pub previous_verdict: Option<String>,
    /// Whether the provider opted this stamp in to automatic site failover.
    pub auto_failover: bool,
    /// Why: which services fail and what they said.
    pub reason: String,
    /// When the new verdict began (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub detected_at: OffsetDateTime,
}

impl WebhookAlert for SiteAlert {
    fn alert_id(&self) -> &str {
        &self.alert_id
    }
}

/// A client of the configured alert webhook.
#[derive(Debug, Clone)]
pub struct AlertClient {
    url: Url,
    http: reqwest::Client,
    policy: RetryPolicy,
}

impl AlertClient {
    /// A client posting to `url` (http or https).
    pub fn new(
        url: &str,
        settings: &HttpSettings,
        policy: RetryPolicy,
    ) -> Result<Self, FabricError> {
        let parsed = Url::parse(url)
            .map_err(|e| FabricError::config(SERVICE, format!("webhook URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(FabricError::config(
                SERVICE,
                "the webhook URL must be http or https",
            ));
        }
        Ok(Self {
            url: parsed,
            http: settings.build_client(SERVICE)?,
            policy,
        })
    }

    /// Posts one alert; any 2xx is success.
    #[instrument(skip_all, fields(service = SERVICE, alert_id = %alert.alert_id()), err)]
    pub async fn send<A: WebhookAlert>(&self, alert: &A) -> Result<(), FabricError> {
        let shown = self.shown_url();
        let body =
            serde_json::to_vec(alert).map_err(|e| FabricError::protocol(SERVICE, &shown, e))?;
        let request = self
            .http
            .request(Method::POST, self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .build()
            .map_err(|e| FabricError::config(SERVICE, e))?;
        // Re-sending is safe: the receiver drops a duplicate by its AlertId.
        let response = self
            .policy
            .send(&self.http, SERVICE, Resend::Safe, request)
            .await
            .map_err(|e| hide_query(e, &shown))?;
        if response.status().is_success() {
            return Ok(());
        }
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let message: String = text.chars().take(200).collect();
        Err(FabricError::from_status(
            SERVICE,
            &shown,
            status,
            None,
            Some(message),
        ))
    }

    /// The URL as errors show it: without its query string, which may carry a token.
    fn shown_url(&self) -> String {
        let mut url = self.url.clone();
        url.set_query(None);
        url.to_string()
    }
}

/// The same error, naming the URL without its query.
fn hide_query(error: FabricError, shown: &str) -> FabricError {
    match error {
        FabricError::Unreachable {
            service, detail, ..
        } => FabricError::Unreachable {
            service,
            url: shown.to_owned(),
            detail,
        },
        FabricError::Timeout { service, .. } => FabricError::Timeout {
            service,
            url: shown.to_owned(),
        },
        FabricError::Protocol {
            service, detail, ..
        } => FabricError::Protocol {
            service,
            url: shown.to_owned(),
            detail,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_are_accepted_and_errors_hide_the_query() {
        let settings = HttpSettings::default();
        assert!(AlertClient::new("ftp://x/y", &settings, RetryPolicy::no_retry()).is_err());
        let client = AlertClient::new(
            "https://hooks.example/a?token=s3cret",
            &settings,
            RetryPolicy::no_retry(),
        )
        .unwrap();
        assert_eq!(client.shown_url(), "https://hooks.example/a");
    }
}
