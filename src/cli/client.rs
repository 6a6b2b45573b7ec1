//! The admin API of a running wapdr as the command line calls it: one HTTP client with the admin
//! endpoint's Basic credentials, and errors that say what to do — the URL that did not answer,
//! which credentials to set when they are refused, the WAP `Error`'s message of a 4xx answer.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

/// How long one admin call may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the admin password came from, so a refusal can say which setting to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordSource {
    /// `--password` or `WAPDR_ADMIN_PASSWORD`.
    Given,
    /// The configuration: `[endpoints.admin] password` or `WAPDR_ENDPOINTS__ADMIN__PASSWORD`.
    Config,
    /// The password the instance generated and keeps in its store.
    Store,
}

impl PasswordSource {
    fn describe(self) -> &'static str {
        match self {
            Self::Given => "the password from --password / WAPDR_ADMIN_PASSWORD",
            Self::Config => "the [endpoints.admin] password of the configuration",
            Self::Store => "the admin password generated in the configured store",
        }
    }
}

/// Why an admin call did not succeed, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nothing answered at the URL (refused, unresolved, timed out).
    #[error(
        "could not reach wapdr at {url}: {cause}. Is `wapdr serve` running there? Point the \
         command at it with --url or WAPDR_URL (or --config, whose public_url or listen is used)."
    )]
    Unreachable {
        /// The URL called.
        url: String,
        /// What the transport said.
        cause: String,
    },
    /// wapdr answered over TLS with a certificate this machine does not trust.
    #[error(
        "wapdr at {url} presented a certificate this machine does not trust ({cause}). If it \
         serves HTTPS with a certificate from a private CA, give that CA's PEM file with \
         --ca-bundle or WAPDR_CA_BUNDLE."
    )]
    UntrustedCertificate {
        /// The URL called.
        url: String,
        /// What TLS said.
        cause: String,
    },
    /// The admin endpoint refused the credentials (401).
    #[error(
        "wapdr at {base} refused the admin credentials (user '{user}', {}) with 401 \
         Unauthorized. Set the [endpoints.admin] username and password of that instance with \
         --user/--password or WAPDR_ADMIN_USER/WAPDR_ADMIN_PASSWORD, or point --config \
         (WAPDR_CONFIG) at its wapdr.toml.",
        password_from.describe()
    )]
    Unauthorized {
        /// The base URL.
        base: String,
        /// The user name sent.
        user: String,
        /// Where the password came from.
        password_from: PasswordSource,
    },
    /// Any other answer than success: the WAP `Error`'s message (what to do is in it).
    #[error("{method} /admin{path} answered {status}: {message}{hint}")]
    Refused {
        /// The method.
        method: Method,
        /// The path under `/admin`.
        path: String,
        /// The status.
        status: StatusCode,
        /// The `Message` of the WAP `Error`, or the body.
        message: String,
        /// What to check when the answer is not wapdr's.
        hint: &'static str,
    },
    /// A success whose body is not what the admin API answers.
    #[error("{method} /admin{path} answered something that is not JSON: {cause}")]
    NotJson {
        /// The method.
        method: Method,
        /// The path under `/admin`.
        path: String,
        /// The parser's complaint.
        cause: String,
    },
}

impl AdminError {
    /// Whether the call may succeed when tried again (nothing answered).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// The admin API of one wapdr instance.
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    user: String,
    password: SecretString,
    password_from: PasswordSource,
    principal: String,
}

impl AdminClient {
    /// A client of the wapdr at `base` (its root URL; the admin API is under `/admin`) calling as
    /// `user`, recording `principal` as who acts (`x-ms-principal-id`).
    pub fn new(
        base: &str,
        user: String,
        password: SecretString,
        password_from: PasswordSource,
        principal: String,
        ca_bundle: Option<&std::path::Path>,
    ) -> anyhow::Result<Self> {
        let base = base.trim_end_matches('/');
        // Tolerate a URL given with the endpoint's path, as WAP's registration shows it.
        let base = base.strip_suffix("/admin").unwrap_or(base).to_owned();
        reqwest::Url::parse(&base)
            .map_err(|e| anyhow::anyhow!("--url '{base}' is not a URL ({e})"))?;
        let mut http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(10));
        if let Some(path) = ca_bundle {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("--ca-bundle {}: {e}", path.display()))?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| anyhow::anyhow!("--ca-bundle {}: {e}", path.display()))?;
            if certificates.is_empty() {
                anyhow::bail!("--ca-bundle {} holds no PEM certificate", path.display());
            }
            for certificate in certificates {
                http = http.add_root_certificate(certificate);
            }
        }
        Ok(Self {
            http: http.build()?,
            base,
            user,
            password,
            password_from,
            principal,
        })
    }

    /// Who the calls act as (`x-ms-principal-id`, and `by` of acknowledgements and cancels).
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// `GET /admin{path}` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, AdminError> {
        let text = self.call(Method::GET, path, None).await?;
        parse(Method::GET, path, &text)
    }

    /// `POST /admin{path}` with a JSON body, answered with JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, AdminError> {
        let text = self.call(Method::POST, path, Some(body)).await?;
        parse(Method::POST, path, &text)
    }

    /// `GET /admin{path}` as text (an HTML report).
    pub async fn get_text(&self, path: &str) -> Result<String, AdminError> {
        self.call(Method::GET, path, None).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<String, AdminError> {
        let url = format!("{}/admin{path}", self.base);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .basic_auth(&self.user, Some(self.password.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json")
            .header("x-ms-principal-id", &self.principal);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|err| transport_error(&url, &err))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|err| transport_error(&url, &err))?;
        if status.is_success() {
            return Ok(text);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(AdminError::Unauthorized {
                base: self.base.clone(),
                user: self.user.clone(),
                password_from: self.password_from,
            });
        }
        let wap_message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("Message").and_then(Value::as_str).map(str::to_owned));
        let hint = match (&wap_message, status) {
            (None, StatusCode::NOT_FOUND) => {
                " (this is not wapdr's answer: is --url wapdr's base URL, as `wapdr serve` prints it?)"
            }
            _ => "",
        };
        Err(AdminError::Refused {
            method,
            path: path.to_owned(),
            status,
            message: wap_message.unwrap_or_else(|| match text.trim() {
                "" => "(no body)".to_owned(),
                body => body.chars().take(300).collect(),
            }),
            hint,
        })
    }
}

fn parse(method: Method, path: &str, text: &str) -> Result<Value, AdminError> {
    serde_json::from_str(text).map_err(|e| AdminError::NotJson {
        method,
        path: path.to_owned(),
        cause: e.to_string(),
    })
}

/// What a failed exchange with wapdr means for the operator: an untrusted certificate, or nothing
/// reachable answering.
fn transport_error(url: &str, err: &reqwest::Error) -> AdminError {
    let cause = transport_cause(err);
    if cause.contains("certificate") {
        AdminError::UntrustedCertificate {
            url: url.to_owned(),
            cause,
        }
    } else {
        AdminError::Unreachable {
            url: url.to_owned(),
            cause,
        }
    }
}

/// The innermost cause of a transport error ("Connection refused (os error 111)"), which says
/// more than reqwest's "error sending request".
fn transport_cause(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        return format!("no answer within {} s", REQUEST_TIMEOUT.as_secs());
    }
    let mut cause: &dyn std::error::Error = err;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

/// What [`encode`] escapes: everything but RFC 3986's unreserved characters, so ids stay readable.
const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A path segment or query value, percent-encoded.
pub fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, ESCAPED).to_string()
}
