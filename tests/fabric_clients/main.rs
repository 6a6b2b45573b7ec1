//! Fabric clients against small in-test servers that follow `schemas/fabric-http.md`, over real
//! sockets on random ports: paging, tolerant reading, headers, conflicts, tokens, long-running
//! operations, retries, outages and timeouts.

mod asr;
mod resilience;
mod spf;
mod wap_admin;

use std::time::Duration;

use axum::Router;
use wapdr::fabric::{HttpSettings, Jitter, RetryPolicy};

/// Serves `router` on 127.0.0.1 on a random port; returns `http://127.0.0.1:PORT`.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

/// Short timeouts so failing tests fail fast.
pub fn settings() -> HttpSettings {
    HttpSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        ca_bundle: None,
    }
}

/// Four attempts with tiny, reproducible backoffs.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy::new(4, Duration::from_millis(5), Duration::from_millis(20))
        .with_jitter(Jitter::seeded(1))
}

/// The path of a shared fixture.
pub fn fixture(path: &str) -> String {
    format!("{}/../shared/fixtures/{path}", env!("CARGO_MANIFEST_DIR"))
}
