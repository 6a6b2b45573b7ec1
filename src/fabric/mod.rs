//! The fabric clients: everything wapdr says to the services it does not own, over HTTP only.
//!
//! - [`spf`]: the SPF VMM OData service of a stamp (VMs, clouds, VM networks, user roles);
//! - [`wap_admin`]: the WAP admin API of a stamp (users, plans, add-ons, subscriptions);
//! - [`replication`]: the engine-neutral [`ReplicationEngine`] trait the DR workflows drive, and
//!   [`asr`], its Azure Site Recovery implementation (ARM REST, Azure AD client credentials);
//! - [`alerts`]: the provider's alert webhook (replication health, site health);
//! - [`plan_webhook`]: the script actions of recovery plans (one attempt, the action's timeout).
//!
//! Every client is built from one [`HttpSettings`] (timeouts, CA bundle, user agent) and sends
//! every request through one [`RetryPolicy`], which re-sends only transient failures and only
//! where re-sending is safe. Every failure is a [`FabricError`] naming the service and the URL.
//! The contract they follow is `schemas/fabric-http.md`.
//!
//! This module must never log or put into an error a password, token or client secret, and never
//! follow a URL handed out by a service (next links, operation status) to another origin than the
//! one it was configured with, since the request would carry our credentials there.

pub mod alerts;
pub mod asr;
mod http;
pub mod odata;
pub mod plan_webhook;
pub mod replication;
mod retry;
pub mod spf;
mod tolerant;
pub mod wap_admin;

use std::fmt;

pub use alerts::{Alert, AlertClient, SiteAlert, WebhookAlert};
pub use asr::{AsrEngine, AsrSettings};
pub use http::HttpSettings;
pub use plan_webhook::{PlanWebhookClient, WebhookAnswer};
pub use replication::ReplicationEngine;
pub use retry::{Jitter, Resend, RetryPolicy};
pub use spf::SpfClient;
pub use wap_admin::WapAdminClient;

/// Why a call to a fabric service failed. Every variant names the service (`"SPF stamp A"`,
/// `"WAP admin API"`, `"ASR"`, `"Azure AD"`) and the URL or resource; none carries a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FabricError {
    /// No connection could be made or it broke (refused, DNS, reset): the site looks down.
    #[error("{service} is unreachable at {url}: {detail}")]
    Unreachable {
        /// The service.
        service: String,
        /// The URL called.
        url: String,
        /// What the transport said.
        detail: String,
    },
    /// The service did not answer within the configured timeout.
    #[error("{service} did not answer in time at {url}")]
    Timeout {
        /// The service.
        service: String,
        /// The URL called.
        url: String,
    },
    /// The service rejected wapdr's credentials (401/403, or the token endpoint said no).
    #[error("{service} rejected wapdr's credentials ({status}) at {url}: {message}")]
    Unauthorized {
        /// The service.
        service: String,
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The service's explanation, if any.
        message: String,
    },
    /// The resource does not exist.
    #[error("{service} has no resource at {url}")]
    NotFound {
        /// The service.
        service: String,
        /// The URL called.
        url: String,
    },
    /// The resource exists already, or another operation holds it (409; ASR code 532).
    #[error("{service} refused {url}: conflict {code}: {message}")]
    Conflict {
        /// The service.
        service: String,
        /// The URL called.
        url: String,
        /// The service's error code (`"532"` for an ASR operation in progress).
        code: String,
        /// The service's message.
        message: String,
    },
    /// The operation is not allowed in the item's current state (ASR 400 `InvalidOperation`).
    #[error("{service} refused {url}: not allowed in the current state: {message}")]
    InvalidOperation {
        /// The service.
        service: String,
        /// The URL called.
        url: String,
        /// The service's message (it names the allowed operations).
        message: String,
    },
    /// Any other refusal of the request (4xx).
    #[error("{service} rejected {url} with {status} {code}: {message}")]
    Rejected {
        /// The service.
        service: String,
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// The service is failing or throttling (5xx/429), still after the retries the policy allowed.
    #[error("{service} is unavailable ({status}) at {url}: {message}")]
    Unavailable {
        /// The service.
        service: String,
        /// The URL called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The service's message.
        message: String,
    },
    /// The service answered something wapdr cannot read or must not follow.
    #[error("{service} answered {url} with something wapdr cannot use: {detail}")]
    Protocol {
        /// The service.
        service: String,
        /// The URL called.
        url: String,
        /// What is wrong with the answer.
        detail: String,
    },
    /// A client was configured with something unusable (a bad URL or CA bundle).
    #[error("invalid configuration for {service}: {detail}")]
    InvalidConfiguration {
        /// The service.
        service: String,
        /// What is wrong.
        detail: String,
    },
}

impl FabricError {
    /// Whether trying again later may succeed without anything changing on our side.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::Unavailable { .. }
        ) || matches!(self, Self::Conflict { code, .. } if code == ASR_OPERATION_IN_PROGRESS)
    }

    /// The service the error is about.
    pub fn service(&self) -> &str {
        match self {
            Self::Unreachable { service, .. }
            | Self::Timeout { service, .. }
            | Self::Unauthorized { service, .. }
            | Self::NotFound { service, .. }
            | Self::Conflict { service, .. }
            | Self::InvalidOperation { service, .. }
            | Self::Rejected { service, .. }
            | Self::Unavailable { service, .. }
            | Self::Protocol { service, .. }
            | Self::InvalidConfiguration { service, .. } => service,
        }
    }

    /// The error for a non-success answer, from its status and the code and message the
    /// service's own error body carried (each client reads its own error shape).
    pub fn from_status(
        service: &str,
        url: &str,
        status: u16,
        code: Option<String>,
        message: Option<String>,
    ) -> Self {
        let service = service.to_owned();
        let url = url.to_owned();
        let code = code.unwrap_or_default();
        let message = message.unwrap_or_default();
        match status {
            401 | 403 => Self::Unauthorized {
                service,
                url,
                status,
                message,
            },
            404 => Self::NotFound { service, url },
            409 => Self::Conflict {
                service,
                url,
                code,
                message,
            },
            400 if code.eq_ignore_ascii_case("InvalidOperation") => Self::InvalidOperation {
                service,
                url,
                message,
            },
            // ASR reports an operation already in progress as code 532 whatever the status.
            _ if code == ASR_OPERATION_IN_PROGRESS => Self::Conflict {
                service,
                url,
                code,
                message,
            },
            429 | 500..=599 => Self::Unavailable {
                service,
                url,
                status,
                message,
            },
            _ => Self::Rejected {
                service,
                url,
                status,
                code,
                message,
            },
        }
    }

    pub(crate) fn protocol(service: &str, url: &str, detail: impl fmt::Display) -> Self {
        Self::Protocol {
            service: service.to_owned(),
            url: url.to_owned(),
            detail: detail.to_string(),
        }
    }

    pub(crate) fn config(service: &str, detail: impl fmt::Display) -> Self {
        Self::InvalidConfiguration {
            service: service.to_owned(),
            detail: detail.to_string(),
        }
    }
}

/// ASR's error code for "another operation is in progress on this item".
pub const ASR_OPERATION_IN_PROGRESS: &str = "532";

/// Whether `candidate` has the same scheme, host and port as `base`: the only URLs handed out by
/// a service (next links, status URLs) that we follow, because they would carry our credentials.
pub(crate) fn same_origin(base: &reqwest::Url, candidate: &reqwest::Url) -> bool {
    base.scheme() == candidate.scheme()
        && base.host_str().map(str::to_ascii_lowercase)
            == candidate.host_str().map(str::to_ascii_lowercase)
        && base.port_or_known_default() == candidate.port_or_known_default()
}

/// `base` with a trailing slash, so that relative paths join below it rather than beside it.
pub(crate) fn base_url(service: &str, text: &str) -> Result<reqwest::Url, FabricError> {
    let with_slash = if text.ends_with('/') {
        text.to_owned()
    } else {
        format!("{text}/")
    };
    let url = reqwest::Url::parse(&with_slash)
        .map_err(|e| FabricError::config(service, format!("base URL '{text}': {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
        return Err(FabricError::config(
            service,
            format!("base URL '{text}' must be http(s) without credentials in it"),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_mapping_names_the_kind_of_failure() {
        let err = |status, code: &str| {
            FabricError::from_status("ASR", "u", status, Some(code.into()), Some("m".into()))
        };
        assert!(matches!(err(401, ""), FabricError::Unauthorized { .. }));
        assert!(matches!(err(403, ""), FabricError::Unauthorized { .. }));
        assert!(matches!(err(404, ""), FabricError::NotFound { .. }));
        assert!(matches!(err(409, "x"), FabricError::Conflict { .. }));
        assert!(matches!(
            err(400, "InvalidOperation"),
            FabricError::InvalidOperation { .. }
        ));
        assert!(matches!(err(400, "532"), FabricError::Conflict { code, .. } if code == "532"));
        assert!(matches!(
            err(400, "BadRequest"),
            FabricError::Rejected { status: 400, .. }
        ));
        assert!(matches!(
            err(503, ""),
            FabricError::Unavailable { status: 503, .. }
        ));
        assert!(matches!(
            err(429, ""),
            FabricError::Unavailable { status: 429, .. }
        ));
    }

    #[test]
    fn only_outages_and_busy_items_are_transient() {
        let err = |status, code: &str| {
            FabricError::from_status("ASR", "u", status, Some(code.into()), None)
        };
        assert!(err(503, "").is_transient());
        assert!(err(409, "532").is_transient());
        assert!(!err(409, "Exists").is_transient());
        assert!(!err(401, "").is_transient());
        assert!(!err(400, "InvalidOperation").is_transient());
    }

    #[test]
    fn messages_name_the_service_and_url() {
        let err = FabricError::from_status(
            "SPF stamp A",
            "http://spf/x",
            503,
            None,
            Some("busy".into()),
        );
        let text = err.to_string();
        assert!(
            text.contains("SPF stamp A") && text.contains("http://spf/x") && text.contains("busy")
        );
    }

    #[test]
    fn only_same_origin_urls_are_followed() {
        let base = reqwest::Url::parse("https://arm.example:443/a/").unwrap();
        let ok = reqwest::Url::parse("https://ARM.example/b?x=1").unwrap();
        let other = reqwest::Url::parse("https://evil.example/b").unwrap();
        let http = reqwest::Url::parse("http://arm.example/b").unwrap();
        assert!(same_origin(&base, &ok));
        assert!(!same_origin(&base, &other));
        assert!(!same_origin(&base, &http));
    }
}
