//! TLS, both ways: wapdr serves HTTPS from the `[server]` certificate (clients that trust its CA
//! get answers, others fail the handshake, and `wapdr register` hands WAP https URLs), and the
//! fabric clients verify certificates, trusting a private CA only through `[fabric] ca_bundle`.
//!
//! Certificates come from a throwaway CA made with rcgen for each test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::routing::post;
use axum_server::tls_rustls::RustlsConfig;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use wapdr::config::Config;
use wapdr::fabric::{AlertClient, RetryPolicy, SiteAlert};

use common::app::{ADMIN, Backend, TestApp, json_of};

/// A CA and a certificate it issued for `localhost` and 127.0.0.1, as PEM files in a tempdir.
struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
}

impl Pki {
    fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wapdr test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("server.crt"), cert.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        Self {
            ca_pem: ca.pem(),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `[server]` section serving this PKI's certificate.
    fn server_section(&self) -> String {
        format!(
            "[server]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            self.path("server.crt").display(),
            self.path("server.key").display()
        )
    }

    /// A client trusting this CA (besides the built-in roots).
    fn trusting_client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .build()
            .unwrap()
    }
}

async fn wapdr_serves_https_to_clients_that_trust_its_ca(backend: Backend) {
    let pki = Pki::new();
    let Some(app) =
        TestApp::start_configured(backend, wapdr::app::workflows(), &pki.server_section()).await
    else {
        return;
    };
    assert!(app.url.starts_with("https://127.0.0.1:"), "{}", app.url);

    let trusting = pki.trusting_client();
    let health = trusting
        .get(format!("{}/health", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let stamps = trusting
        .get(format!("{}/admin/stamps", app.url))
        .basic_auth(ADMIN.0, Some(ADMIN.1))
        .send()
        .await
        .unwrap();
    assert_eq!(stamps.status(), StatusCode::OK);
    assert!(json_of(stamps).await.is_array());

    // A client with only the built-in roots refuses the certificate.
    let err = app
        .admin(Method::GET, "/stamps")
        .send()
        .await
        .expect_err("an unknown CA is refused");
    assert!(err.is_connect(), "{err:?}");
    // The admin CLI trusts the private CA only when told to.
    let status = |ca_bundle: Option<PathBuf>| {
        let url = app.url.clone();
        tokio::task::spawn_blocking(move || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_wapdr"));
            command
                .args(["status", "--url", &url, "--user", ADMIN.0])
                .env("WAPDR_ADMIN_PASSWORD", ADMIN.1)
                .env_remove("WAPDR_CA_BUNDLE")
                .env_remove("WAPDR_CONFIG");
            if let Some(path) = ca_bundle {
                command.arg("--ca-bundle").arg(path);
            }
            command.output().expect("wapdr runs")
        })
    };
    let refused = status(None).await.unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{said}");
    assert!(
        said.contains("does not trust") && said.contains("--ca-bundle"),
        "the error says what to do: {said}"
    );
    let trusted = status(Some(pki.path("ca.pem"))).await.unwrap();
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );

    // Plain HTTP gets no answer from the HTTPS port.
    let plain = app.url.replacen("https://", "http://", 1);
    let answer = reqwest::get(format!("{plain}/health")).await;
    assert!(
        answer.as_ref().map_or(true, |r| !r.status().is_success()),
        "{answer:?}"
    );
}

/// Runs `wapdr` with the given environment (a fresh SQLite file in `dir`).
fn wapdr(dir: &Path, args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wapdr"));
    command
        .args(args)
        .env_remove("WAPDR_CONFIG")
        .env_remove("WAPDR_PUBLIC_URL")
        .env(
            "WAPDR_DATABASE__URL",
            format!("sqlite://{}", dir.join("wapdr.db").display()),
        );
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("wapdr runs")
}

#[test]
fn register_hands_wap_https_urls_when_a_certificate_is_configured() {
    let pki = Pki::new();
    let env = [
        ("WAPDR_LISTEN", "127.0.0.1:8643".to_owned()),
        (
            "WAPDR_SERVER__TLS_CERT",
            pki.path("server.crt").display().to_string(),
        ),
        (
            "WAPDR_SERVER__TLS_KEY",
            pki.path("server.key").display().to_string(),
        ),
    ];
    let printed = wapdr(pki.dir.path(), &["register"], &env);
    assert!(printed.status.success(), "{printed:?}");
    let body: Value = serde_json::from_slice(&printed.stdout).expect("the registration as JSON");
    for (endpoint, path) in [
        ("NotificationEndpoint", "/notification"),
        ("AdminEndpoint", "/admin"),
        ("UsageEndpoint", "/"),
    ] {
        assert_eq!(
            body[endpoint]["ForwardingAddress"],
            format!("https://127.0.0.1:8643{path}"),
            "{endpoint}"
        );
    }
    assert_eq!(
        body["TenantEndpoint"]["ForwardingAddress"],
        "https://127.0.0.1:8643/tenant/"
    );

    let half = wapdr(pki.dir.path(), &["register"], &env[..2]);
    assert!(
        !half.status.success(),
        "a certificate without its key is refused"
    );
    assert!(
        String::from_utf8_lossy(&half.stderr).contains("tls_key"),
        "{}",
        String::from_utf8_lossy(&half.stderr)
    );
}

/// An HTTPS webhook receiver serving the PKI's certificate; the bodies it received.
async fn https_receiver(pki: &Pki) -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let router = axum::Router::new().route(
        "/alerts",
        post(move |axum::Json(body): axum::Json<Value>| async move {
            sink.lock().unwrap().push(body);
            StatusCode::NO_CONTENT
        }),
    );
    let tls = RustlsConfig::from_pem_file(pki.path("server.crt"), pki.path("server.key"))
        .await
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = axum_server::from_tcp_rustls(listener, tls).unwrap();
    tokio::spawn(server.serve(router.into_make_service()));
    (
        format!("https://localhost:{}/alerts", addr.port()),
        received,
    )
}

fn site_alert() -> SiteAlert {
    SiteAlert {
        alert_id: "tls-1".into(),
        kind: "SiteHealth".into(),
        stamp_id: uuid::Uuid::new_v4().to_string(),
        stamp_name: "A".into(),
        verdict: "Down".into(),
        previous_verdict: Some("Up".into()),
        auto_failover: false,
        reason: "a test alert".into(),
        detected_at: time::OffsetDateTime::now_utc(),
    }
}

#[tokio::test]
async fn fabric_clients_trust_a_private_ca_only_through_the_ca_bundle() {
    let pki = Pki::new();
    let (url, received) = https_receiver(&pki).await;
    let bundle = format!(
        "[fabric]\nca_bundle = \"{}\"\n",
        pki.path("ca.pem").display()
    );
    let with_bundle = Config::from_toml(&bundle).unwrap();
    let without = Config::from_toml("").unwrap();

    let trusting = AlertClient::new(
        &url,
        &wapdr::app::fabric_http(&with_bundle),
        RetryPolicy::no_retry(),
    )
    .unwrap();
    trusting
        .send(&site_alert())
        .await
        .expect("the CA bundle's CA is trusted");
    assert_eq!(received.lock().unwrap().len(), 1);

    let default = AlertClient::new(
        &url,
        &wapdr::app::fabric_http(&without),
        RetryPolicy::no_retry(),
    )
    .unwrap();
    let err = default
        .send(&site_alert())
        .await
        .expect_err("a certificate from an unknown CA is refused");
    assert_eq!(
        received.lock().unwrap().len(),
        1,
        "nothing reached it: {err}"
    );
}

on_both_backends!(wapdr_serves_https_to_clients_that_trust_its_ca);
