//! The portal's static files: the tenant and admin UI of `portal-extension/` served standalone at
//! `/portal/tenant/` and `/portal/admin/` (shared modules under `/portal/shared/`), with no
//! credentials — the pages hold no secret; they ask the person for the tenant or admin endpoint's
//! credentials and call the APIs with them.
//!
//! The files are embedded in the binary (`include_bytes!`), so wapdr serves the UI it was built
//! with from any working directory and a deployment is still one file. Each answer carries its
//! content type, `Cache-Control: no-cache` with a strong `ETag` (a browser revalidates and gets
//! `304` until the binary changes: no stale UI after an upgrade, no re-download otherwise) and a
//! Content-Security-Policy that lets the pages load and call only their own origin: no inline
//! script or style, no framing by others.
//!
//! For work on the UI, `WAPDR_PORTAL_DIR` (a `portal-extension/` folder) makes wapdr read the same
//! files from there on every request instead, so an edit shows on reload without a rebuild; only
//! the embedded names are served, so the variable opens nothing else of that folder. Otherwise
//! this module never reads the file system, and it never touches the store.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// The policy every portal file is served with: its own origin only, nothing inline.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'self'";

/// Declares the embedded files by their path under `portal-extension/`.
macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$((
            $path,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/portal-extension/", $path)),
        )),*]
    };
}

/// The environment variable naming a folder to serve the same files from (UI development).
pub const PORTAL_DIR_VAR: &str = "WAPDR_PORTAL_DIR";

/// Every file the portal serves (a test checks this list against the folders).
const ASSETS: &[(&str, &[u8])] = assets!(
    "shared/api.js",
    "shared/dom.js",
    "shared/failover.js",
    "shared/format.js",
    "shared/jobs.js",
    "shared/plans.js",
    "shared/portal.css",
    "shared/progress.js",
    "shared/reports.js",
    "shared/session.js",
    "shared/timeline.js",
    "tenant/index.html",
    "tenant/main.js",
    "tenant/app.js",
    "admin/index.html",
    "admin/main.js",
    "admin/app.js",
    "admin/runbooks.js",
    "admin/setup.js",
    "admin/subscriptions.js",
);

/// One embedded file, ready to answer with.
#[derive(Clone)]
struct Asset {
    body: Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

fn assets() -> &'static HashMap<&'static str, Asset> {
    static TABLE: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    TABLE.get_or_init(|| {
        ASSETS
            .iter()
            .map(|(path, body)| {
                (
                    *path,
                    Asset {
                        body: Bytes::from_static(body),
                        content_type: content_type(path),
                        etag: etag_of(body),
                    },
                )
            })
            .collect()
    })
}

/// A strong entity tag: the first 96 bits of the content's SHA-256.
fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// The media type of a portal file, from its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// The portal routes: `/portal/{tenant,admin}` redirect to their folder, `/portal/{*path}` serves
/// a file (a folder path serves its `index.html`).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/portal",
            get(|| async { Redirect::permanent("/portal/tenant/") }),
        )
        .route(
            "/portal/tenant",
            get(|| async { Redirect::permanent("/portal/tenant/") }),
        )
        .route(
            "/portal/admin",
            get(|| async { Redirect::permanent("/portal/admin/") }),
        )
        .route("/portal/{*path}", get(serve))
}

/// `GET /portal/{*path}`: the embedded file, `304` when the caller has it, `404` otherwise.
async fn serve(Path(path): Path<String>, headers: HeaderMap) -> Response {
    let path = if path.is_empty() || path.ends_with('/') {
        format!("{path}index.html")
    } else {
        path
    };
    let Some(embedded) = assets().get(path.as_str()) else {
        return (StatusCode::NOT_FOUND, format!("No portal file {path}.")).into_response();
    };
    let from_disk = std::env::var_os(PORTAL_DIR_VAR)
        .and_then(|dir| std::fs::read(std::path::Path::new(&dir).join(&path)).ok())
        .map(|body| Asset {
            etag: etag_of(&body),
            body: Bytes::from(body),
            content_type: embedded.content_type,
        });
    let asset = from_disk.as_ref().unwrap_or(embedded);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|t| t.trim() == "*" || t.trim().as_bytes() == asset.etag.as_bytes())
        });
    let common = [
        (header::ETAG, asset.etag.clone()),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        asset.body.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::*;

    /// The folders of `portal-extension/` whose files are served.
    const SERVED_FOLDERS: [&str; 3] = ["shared", "tenant", "admin"];

    async fn get(path: &str, if_none_match: Option<&str>) -> Response {
        let mut request = Request::get(path);
        if let Some(tag) = if_none_match {
            request = request.header(header::IF_NONE_MATCH, tag);
        }
        routes::<()>()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("answer")
    }

    #[test]
    fn every_file_of_the_served_folders_is_embedded_and_nothing_else() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/portal-extension");
        let mut on_disk = Vec::new();
        for folder in SERVED_FOLDERS {
            for entry in std::fs::read_dir(format!("{root}/{folder}")).expect("folder") {
                let name = entry.expect("entry").file_name();
                on_disk.push(format!("{folder}/{}", name.to_string_lossy()));
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|(p, _)| (*p).to_owned()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "add new portal files to ASSETS");
    }

    #[tokio::test]
    async fn a_page_is_served_with_its_type_a_strict_policy_and_revalidation() {
        let page = get("/portal/tenant/", None).await;
        assert_eq!(page.status(), StatusCode::OK);
        let headers = page.headers().clone();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
        let csp = headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

        let tag = headers[header::ETAG].to_str().expect("etag").to_owned();
        let again = get("/portal/tenant/index.html", Some(&tag)).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

        let module = get("/portal/shared/api.js", None).await;
        assert_eq!(
            module.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let css = get("/portal/shared/portal.css", Some("\"stale\"")).await;
        assert_eq!(css.status(), StatusCode::OK);
        assert_eq!(
            css.headers()[header::CONTENT_TYPE],
            "text/css; charset=utf-8"
        );
    }

    #[tokio::test]
    async fn folders_redirect_to_their_page_and_unknown_files_are_not_found() {
        let redirect = get("/portal/admin", None).await;
        assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(redirect.headers()[header::LOCATION], "/portal/admin/");
        for path in [
            "/portal/nothing.js",
            "/portal/../Cargo.toml",
            "/portal/tenant/%2e%2e/%2e%2e/Cargo.toml",
            "/portal/tests/portal.test.mjs",
        ] {
            assert_eq!(
                get(path, None).await.status(),
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
    }
}
