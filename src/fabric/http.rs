//! The one way fabric clients get an HTTP client: [`HttpSettings`] builds the `reqwest::Client`
//! (timeouts, extra CA certificates for the fabric's own PKI, user agent `wapdr/<version>`).
//!
//! It must never turn off certificate validation or follow redirects: a redirect could carry
//! wapdr's credentials to another host.

use std::path::PathBuf;
use std::time::Duration;

use super::FabricError;

/// How fabric clients connect: timeouts and trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// How long to wait for a connection to be established.
    pub connect_timeout: Duration,
    /// How long to wait for a whole request, from sending to the end of the answer.
    pub request_timeout: Duration,
    /// A PEM bundle of CA certificates trusted in addition to the built-in roots.
    pub ca_bundle: Option<PathBuf>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
            ca_bundle: None,
        }
    }
}

/// The user agent every fabric request carries.
pub const USER_AGENT: &str = concat!("wapdr/", env!("CARGO_PKG_VERSION"));

impl HttpSettings {
    /// Builds the client a fabric client (named `service` in errors) uses for every call.
    pub fn build_client(&self, service: &str) -> Result<reqwest::Client, FabricError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(path) = &self.ca_bundle {
            let pem = std::fs::read(path).map_err(|e| {
                FabricError::config(service, format!("CA bundle {}: {e}", path.display()))
            })?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                FabricError::config(service, format!("CA bundle {}: {e}", path.display()))
            })?;
            if certificates.is_empty() {
                return Err(FabricError::config(
                    service,
                    format!("CA bundle {} holds no certificate", path.display()),
                ));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        builder
            .build()
            .map_err(|e| FabricError::config(service, format!("HTTP client: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_bundle_is_a_configuration_error_naming_the_file() {
        let settings = HttpSettings {
            ca_bundle: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..HttpSettings::default()
        };
        let err = settings.build_client("ASR").unwrap_err();
        assert!(matches!(err, FabricError::InvalidConfiguration { .. }));
        assert!(err.to_string().contains("/nonexistent/ca.pem"));
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let settings = HttpSettings {
            ca_bundle: Some(path),
            ..HttpSettings::default()
        };
        assert!(settings.build_client("ASR").is_err());
    }
}
