//! A stand-in for a provider's alert webhook: an HTTP server that keeps every JSON body posted.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::Value;

/// The bodies an [`alert_sink`] received, in order.
pub type Received = Arc<Mutex<Vec<Value>>>;

/// Starts an HTTP server that records every JSON body posted to `/hook`; its URL and what it got.
pub async fn alert_sink() -> (String, Received) {
    let got = Received::default();
    let sink = got.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}
