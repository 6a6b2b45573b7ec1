//! The load generator: `C` tokio tasks each keep one request in flight for a fixed time, on one
//! reqwest client (its pool holds a connection per task), and record every latency in an HDR
//! histogram; and the ceiling: a bare axum handler that answers the same bytes wapdr answered,
//! so the same generator in the same run shows what the HTTP stack alone can do here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse as _;
use bytes::Bytes;
use hdrhistogram::Histogram;
use tokio::task::JoinHandle;

/// Builds one request of the load (a fresh builder per request).
pub type MakeRequest = Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync>;

/// One task's answered requests and their latencies.
type TaskCount = (u64, Histogram<u64>);

/// What one load run measured.
pub struct Measured {
    /// Requests answered with success within the measured window.
    pub requests: u64,
    /// The measured window, in seconds.
    pub seconds: f64,
    /// Latencies in microseconds.
    pub latencies: Histogram<u64>,
}

impl Measured {
    /// Requests per second.
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    /// The latency at `quantile` (0..1), in milliseconds.
    pub fn latency_ms(&self, quantile: f64) -> f64 {
        self.latencies.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Keeps `concurrency` requests from `make` in flight for `warmup` (not measured) then
/// `duration`; any answer but a success is an error naming it.
pub async fn drive(
    make: MakeRequest,
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let measure_from = started + warmup;
    let until = measure_from + duration;
    let tasks: Vec<JoinHandle<anyhow::Result<TaskCount>>> = (0..concurrency)
        .map(|_| {
            let make = make.clone();
            tokio::spawn(async move {
                let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
                let mut requests = 0;
                loop {
                    let sent = Instant::now();
                    if sent >= until {
                        break;
                    }
                    let response = make().send().await?;
                    let status = response.status();
                    let body = response.bytes().await?;
                    if !status.is_success() {
                        bail!("answered {status}: {}", String::from_utf8_lossy(&body));
                    }
                    let done = Instant::now();
                    // A request counts when it ends inside the window (those still in flight at
                    // its end do not), so long latencies at high concurrency are still seen.
                    if done >= measure_from && done <= until {
                        latencies.saturating_record(done.duration_since(sent).as_micros() as u64);
                        requests += 1;
                    }
                }
                Ok((requests, latencies))
            })
        })
        .collect();
    let mut measured = Measured {
        requests: 0,
        seconds: duration.as_secs_f64(),
        latencies: Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
    };
    for task in tasks {
        let (requests, latencies) = task.await.context("a load task panicked")??;
        measured.requests += requests;
        measured.latencies.add(latencies)?;
    }
    Ok(measured)
}

/// A bare axum server answering every request with `status`, `content_type` and `body`; its URL.
pub async fn ceiling(
    status: StatusCode,
    content_type: HeaderValue,
    body: Bytes,
) -> anyhow::Result<(String, JoinHandle<()>)> {
    let handler = move || {
        let (content_type, body) = (content_type.clone(), body.clone());
        async move { (status, [(header::CONTENT_TYPE, content_type)], body).into_response() }
    };
    let router = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((url, server))
}
