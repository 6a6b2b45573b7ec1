//! The ONE retry helper for every outbound fabric call: exponential backoff with full jitter,
//! `Retry-After` honoured, and re-sending only what is transient and safe to send again.
//!
//! A request whose connection failed was never sent, and a 429 or 503 says the service declined
//! to process it, so those are retried for any request. A timeout, a broken connection, a 500,
//! 502 or 504 may come after the service acted on the request, so those are retried only when
//! the caller says re-sending is safe ([`Resend::Safe`]: GET, PUT, DELETE, MERGE, idempotent
//! POSTs). This module must never retry anything else, nor log request bodies or headers.

use crate::metrics::{self, CallOutcome};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::{instrument, warn};

use super::FabricError;

/// The longest `Retry-After` wapdr waits between two attempts, whatever a service asks.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Whether the caller allows a request to be sent again when the service may have acted on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Sending it twice has the effect of sending it once (GET, PUT, DELETE, MERGE, token requests).
    Safe,
    /// Sending it twice may do the thing twice (creating POSTs, actions).
    Unsafe,
}

/// What went wrong with one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection was made: the request never left.
    NotSent,
    /// No answer in time; the service may have acted.
    Timeout,
    /// The connection broke after the request was sent.
    Broken,
    /// The service answered with this status.
    Status(u16),
}

/// The source of randomness for jitter; seedable so tests are deterministic.
#[derive(Clone)]
pub struct Jitter(Arc<Mutex<StdRng>>);

impl Jitter {
    /// Jitter seeded from the operating system.
    pub fn from_entropy() -> Self {
        Self(Arc::new(Mutex::new(StdRng::from_entropy())))
    }

    /// Jitter with a fixed seed (tests).
    pub fn seeded(seed: u64) -> Self {
        Self(Arc::new(Mutex::new(StdRng::seed_from_u64(seed))))
    }

    /// A uniformly random duration in `[0, ceiling]`.
    fn below(&self, ceiling: Duration) -> Duration {
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        // A poisoned lock only means another thread panicked mid-draw; the generator is fine.
        let mut rng = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Duration::from_nanos(rng.gen_range(0..=nanos))
    }
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jitter")
    }
}

/// How many times and how patiently a fabric call is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The ceiling of the first backoff; it doubles with every retry.
    pub initial_backoff: Duration,
    /// The highest ceiling a backoff reaches.
    pub max_backoff: Duration,
    /// Where the jitter comes from.
    pub jitter: Jitter,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new(4, Duration::from_millis(200), Duration::from_secs(10))
    }
}

impl RetryPolicy {
    /// A policy with jitter from the operating system.
    pub fn new(max_attempts: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            initial_backoff,
            max_backoff,
            jitter: Jitter::from_entropy(),
        }
    }

    /// One attempt, never a retry.
    pub fn no_retry() -> Self {
        Self::new(1, Duration::ZERO, Duration::ZERO)
    }

    /// The same policy drawing jitter from `jitter`.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Whether a failure of this kind may be retried for a request of this kind.
    pub fn is_retryable(failure: Failure, resend: Resend) -> bool {
        match failure {
            Failure::NotSent | Failure::Status(429) | Failure::Status(503) => true,
            Failure::Timeout | Failure::Broken | Failure::Status(500 | 502 | 504) => {
                resend == Resend::Safe
            }
            Failure::Status(_) => false,
        }
    }

    /// How long to wait before retry number `retry` (0 for the first retry): what the service
    /// asked for in `Retry-After`, otherwise a random duration up to the exponential ceiling.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(MAX_RETRY_AFTER);
        }
        self.jitter.below(self.ceiling(retry))
    }

    /// The exponential ceiling of retry number `retry`, capped at `max_backoff`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// Sends `request` (cloned for each attempt) until it gets an answer that is not a
    /// retryable failure or the attempts run out. Transport failures become a [`FabricError`];
    /// any HTTP answer, even an error status after the last attempt, is returned for the
    /// caller to read with its service's error shape.
    #[instrument(skip_all, fields(service = service, method = %request.method(), url = %request.url()), err)]
    pub async fn send(
        &self,
        client: &reqwest::Client,
        service: &str,
        resend: Resend,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, FabricError> {
        let url = request.url().to_string();
        let mut retry = 0;
        loop {
            let attempt = request.try_clone().ok_or_else(|| {
                FabricError::protocol(service, &url, "request body cannot be re-sent")
            })?;
            let last = retry + 1 >= self.max_attempts;
            let started = std::time::Instant::now();
            let answer = client.execute(attempt).await;
            metrics::fabric_call(
                service,
                answer.as_ref().map_or(CallOutcome::Transport, |response| {
                    CallOutcome::of_status(response.status().as_u16())
                }),
                started.elapsed(),
            );
            let (failure, retry_after, error) = match answer {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if response.status().is_success() || response.status().is_redirection() {
                        return Ok(response);
                    }
                    let failure = Failure::Status(status);
                    if last || !Self::is_retryable(failure, resend) {
                        return Ok(response);
                    }
                    (failure, retry_after(response.headers()), None)
                }
                Err(e) => {
                    let (failure, error) = transport_error(service, &url, &e);
                    if last || !Self::is_retryable(failure, resend) {
                        return Err(error);
                    }
                    (failure, None, Some(error))
                }
            };
            let wait = self.backoff(retry, retry_after);
            warn!(
                service,
                %url,
                attempt = retry + 1,
                ?failure,
                error = error.as_ref().map(tracing::field::display),
                wait_ms = wait.as_millis() as u64,
                "fabric call failed; retrying"
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }
}

/// The `Retry-After` of an answer, when given in seconds.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// What a transport error means for retrying, and the error the caller sees.
fn transport_error(service: &str, url: &str, error: &reqwest::Error) -> (Failure, FabricError) {
    let timeout = || FabricError::Timeout {
        service: service.to_owned(),
        url: url.to_owned(),
    };
    if error.is_connect() {
        let reported = if error.is_timeout() {
            timeout()
        } else {
            FabricError::Unreachable {
                service: service.to_owned(),
                url: url.to_owned(),
                detail: root_cause(error),
            }
        };
        (Failure::NotSent, reported)
    } else if error.is_timeout() {
        (Failure::Timeout, timeout())
    } else {
        let reported = FabricError::Unreachable {
            service: service.to_owned(),
            url: url.to_owned(),
            detail: root_cause(error),
        };
        (Failure::Broken, reported)
    }
}

/// The innermost cause of a transport error: "Connection refused", not reqwest's wrapper text.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(5, Duration::from_millis(100), Duration::from_millis(450))
            .with_jitter(Jitter::seeded(7))
    }

    #[test]
    fn refused_connections_throttling_and_503_are_retried_for_any_request() {
        for failure in [Failure::NotSent, Failure::Status(429), Failure::Status(503)] {
            assert!(
                RetryPolicy::is_retryable(failure, Resend::Unsafe),
                "{failure:?}"
            );
            assert!(
                RetryPolicy::is_retryable(failure, Resend::Safe),
                "{failure:?}"
            );
        }
    }

    #[test]
    fn failures_after_the_service_may_have_acted_are_retried_only_when_safe() {
        for failure in [
            Failure::Timeout,
            Failure::Broken,
            Failure::Status(500),
            Failure::Status(502),
            Failure::Status(504),
        ] {
            assert!(
                RetryPolicy::is_retryable(failure, Resend::Safe),
                "{failure:?}"
            );
            assert!(
                !RetryPolicy::is_retryable(failure, Resend::Unsafe),
                "{failure:?}"
            );
        }
    }

    #[test]
    fn refusals_are_never_retried() {
        for status in [400, 401, 403, 404, 409, 501] {
            assert!(!RetryPolicy::is_retryable(
                Failure::Status(status),
                Resend::Safe
            ));
        }
    }

    #[test]
    fn backoff_ceilings_double_up_to_the_maximum() {
        let p = policy();
        let ceilings: Vec<_> = (0..4).map(|r| p.ceiling(r).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 450]);
        assert_eq!(p.ceiling(40), Duration::from_millis(450));
    }

    #[test]
    fn jittered_backoff_stays_within_the_ceiling_and_is_reproducible_from_a_seed() {
        let draws = |p: &RetryPolicy| (0..20).map(|r| p.backoff(r % 4, None)).collect::<Vec<_>>();
        let first = draws(&policy());
        assert_eq!(first, draws(&policy()));
        let p = policy();
        for (index, wait) in first.iter().enumerate() {
            assert!(*wait <= p.ceiling(index as u32 % 4));
        }
        assert!(first.iter().any(|w| *w != first[0]), "jitter varies");
    }

    #[test]
    fn retry_after_wins_over_backoff_but_is_bounded() {
        let p = policy();
        assert_eq!(
            p.backoff(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            p.backoff(0, Some(Duration::from_secs(3600))),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_dates_are_ignored() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
