//! Configuration: built-in defaults, then a TOML file, then environment variables prefixed `WAPDR_`
//! with `__` between levels (`WAPDR_DATABASE__URL`, `WAPDR_ENDPOINTS__NOTIFICATION__PASSWORD`).
//!
//! Secrets are [`SecretString`]s: their `Debug` is redacted, so a logged config shows no password.
//! An unknown key in the file or the environment is an error, so a typo is caught at start.
//! Every key is documented once, in [`reference`], which `wapdr config reference` prints and
//! `docs/configuration.md` holds.

pub mod reference;

use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format as _, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

/// The whole configuration of one wapdr instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The address the HTTP server binds.
    pub listen: SocketAddr,
    /// The base URL WAP (and the admin command line) uses to reach this instance; defaults to
    /// `http://{listen}` (`https://{listen}` with a certificate).
    #[serde(deserialize_with = "lenient_option_string")]
    pub public_url: Option<String>,
    /// HTTPS (`[server]`).
    pub server: ServerConfig,
    /// How wapdr reaches the fabric (`[fabric]`).
    pub fabric: FabricConfig,
    /// The store.
    pub database: DatabaseConfig,
    /// The Basic credentials of each RP endpoint.
    pub endpoints: EndpointsConfig,
    /// Bounds on what a caller may send.
    pub limits: LimitsConfig,
    /// Log output.
    pub log: LogConfig,
    /// How wapdr registers itself in WAP.
    pub rp: RpConfig,
    /// The durable engine that runs workflows and runbooks.
    pub engine: EngineConfig,
    /// The replication engine (one Azure Site Recovery vault); without it wapdr can store setup
    /// but not pair clouds or protect VMs.
    pub asr: Option<AsrConfig>,
    /// Where alerts go (`[alerts]`).
    pub alerts: AlertsConfig,
}

/// HTTPS (`[server]`): with a certificate and its key, wapdr serves HTTPS only, as WAP registers
/// https endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// A PEM file with the server's certificate (then its chain); set with `tls_key`.
    #[serde(deserialize_with = "lenient_option_string")]
    pub tls_cert: Option<String>,
    /// The PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    #[serde(deserialize_with = "lenient_option_string")]
    pub tls_key: Option<String>,
}

impl ServerConfig {
    /// The certificate and key files, when HTTPS is configured.
    pub fn tls(&self) -> Option<(&str, &str)> {
        self.tls_cert.as_deref().zip(self.tls_key.as_deref())
    }
}

/// How wapdr reaches the fabric (`[fabric]`): SPF, the WAP admin APIs, ASR and Azure AD, the
/// alert webhook.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FabricConfig {
    /// A PEM bundle of CA certificates trusted in addition to the built-in roots (the fabric's
    /// own PKI); certificates are always verified.
    #[serde(deserialize_with = "lenient_option_string")]
    pub ca_bundle: Option<String>,
}

/// Where wapdr sends alerts (`[alerts]`): replication health turning Warning or Critical, an RPO
/// past a runbook's threshold, a stamp's site-heartbeat verdict changing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// A URL that receives one JSON `POST` per alert; without it alerts are only logged and
    /// shown in the runbook job's output.
    #[serde(deserialize_with = "lenient_option_string")]
    pub webhook_url: Option<String>,
}

/// Where the Recovery Services vault is and who wapdr is to Azure AD (`[asr]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsrConfig {
    /// ARM's base URL.
    #[serde(default = "default_arm_url", deserialize_with = "lenient_string")]
    pub arm_url: String,
    /// Azure AD's base URL.
    #[serde(default = "default_login_url", deserialize_with = "lenient_string")]
    pub login_url: String,
    /// The Azure AD tenant id.
    #[serde(deserialize_with = "lenient_string")]
    pub tenant_id: String,
    /// The application (client) id wapdr signs in as.
    #[serde(deserialize_with = "lenient_string")]
    pub client_id: String,
    /// The application's client secret.
    #[serde(deserialize_with = "required_secret")]
    pub client_secret: SecretString,
    /// The Azure subscription of the vault.
    #[serde(deserialize_with = "lenient_string")]
    pub subscription_id: String,
    /// The vault's resource group.
    #[serde(deserialize_with = "lenient_string")]
    pub resource_group: String,
    /// The Recovery Services vault's name.
    #[serde(deserialize_with = "lenient_string")]
    pub vault: String,
    /// Item operations (failovers, commits, …) wapdr runs at once in the vault, across every
    /// job and instance.
    #[serde(default = "default_parallel_operations")]
    pub max_parallel_operations: u32,
}

fn default_parallel_operations() -> u32 {
    crate::fabric::replication::DEFAULT_PARALLEL_OPERATIONS
}

fn default_arm_url() -> String {
    "https://management.azure.com".into()
}

fn default_login_url() -> String {
    "https://login.microsoftonline.com".into()
}

/// The durable engine of this instance.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Whether this instance runs workflow steps and schedules (the API works either way).
    pub enabled: bool,
    /// Steps this instance runs at once.
    pub concurrency: usize,
    /// How long a claimed step is held without a heartbeat, in seconds.
    pub lease_seconds: u64,
    /// How long an idle worker waits before looking for work again, in milliseconds.
    pub poll_interval_ms: u64,
    /// On shutdown, how long running steps may take to finish before their leases are given
    /// back to other instances, in seconds; keep the service manager's stop timeout above it.
    pub shutdown_grace_seconds: u64,
    /// The folder of runbook files (`*.toml`), relative to the working directory.
    #[serde(deserialize_with = "lenient_string")]
    pub runbooks_dir: String,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            concurrency: 8,
            lease_seconds: 30,
            poll_interval_ms: 500,
            shutdown_grace_seconds: 10,
            runbooks_dir: "runbooks".into(),
        }
    }
}

/// Which database, and how many connections.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (one node) or `postgres://USER@HOST/DB` (scale-out).
    #[serde(deserialize_with = "lenient_string")]
    pub url: String,
    /// Connection pool size.
    pub max_connections: u32,
}

/// Credentials per endpoint; each endpoint is registered in WAP with its own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointsConfig {
    /// Called by WAP's service management API (subscriptions, quota).
    pub notification: EndpointCredentials,
    /// Called by WAP's usage collector.
    pub usage: EndpointCredentials,
    /// Called through WAP's admin API (provider setup and operations).
    pub admin: EndpointCredentials,
    /// Called through WAP's tenant API (the tenant's own subscription).
    pub tenant: EndpointCredentials,
}

/// A user name and password for HTTP Basic authentication.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointCredentials {
    /// The user name WAP sends.
    #[serde(deserialize_with = "lenient_string")]
    pub username: String,
    /// The password; when unset, wapdr generates one, keeps it in the store and shows it only in
    /// the output of `wapdr register`.
    #[serde(deserialize_with = "lenient_secret")]
    pub password: Option<SecretString>,
}

/// Bounds on requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// The largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log shippers.
    pub format: LogFormat,
    /// A tracing filter (`info`, `wapdr=debug,info`...); `RUST_LOG` overrides it.
    #[serde(deserialize_with = "lenient_string")]
    pub level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// How wapdr presents itself to WAP.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpConfig {
    /// The RP name WAP routes by (`/services/<name>/...`).
    #[serde(deserialize_with = "lenient_string")]
    pub name: String,
    /// The name shown in the WAP portals.
    #[serde(deserialize_with = "lenient_string")]
    pub display_name: String,
    /// How many subscriptions WAP may put in one `PUT /quota`.
    pub max_quota_update_batch_size: u32,
    /// How often WAP polls a subscription whose LifecycleState is not final, in seconds.
    pub subscription_status_polling_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        let listen: SocketAddr = ([127, 0, 0, 1], 8642).into();
        Self {
            listen,
            public_url: None,
            server: ServerConfig::default(),
            fabric: FabricConfig::default(),
            database: DatabaseConfig::default(),
            endpoints: EndpointsConfig::default(),
            limits: LimitsConfig::default(),
            log: LogConfig::default(),
            rp: RpConfig::default(),
            engine: EngineConfig::default(),
            asr: None,
            alerts: AlertsConfig::default(),
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://wapdr.db".into(),
            max_connections: 10,
        }
    }
}

impl Default for EndpointCredentials {
    fn default() -> Self {
        Self {
            username: "wapdr".into(),
            password: None,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

impl Default for RpConfig {
    fn default() -> Self {
        Self {
            name: "disasterrecovery".into(),
            display_name: "Disaster Recovery".into(),
            max_quota_update_batch_size: 5,
            subscription_status_polling_seconds: 30,
        }
    }
}

/// The configuration could not be loaded; says which key or file is wrong.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

/// The top-level keys; environment variables outside them (`WAPDR_CONFIG`, test variables) are not
/// configuration and are left alone.
const TOP_LEVEL_KEYS: [&str; 12] = [
    "listen",
    "public_url",
    "server",
    "fabric",
    "database",
    "endpoints",
    "limits",
    "log",
    "rp",
    "engine",
    "asr",
    "alerts",
];

impl Config {
    /// Loads defaults, then `file` (if given; it must exist), then the `WAPDR_` environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let env = Env::prefixed("WAPDR_").split("__").filter(|key| {
            let top = key.as_str().split('.').next().unwrap_or_default();
            TOP_LEVEL_KEYS.iter().any(|k| k.eq_ignore_ascii_case(top))
        });
        figment
            .merge(env)
            .extract::<Config>()
            .map_err(|e| ConfigError(e.to_string()))
            .and_then(Config::checked)
    }

    /// Parses a TOML text alone (tests, `config check`).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Figment::new()
            .merge(Toml::string(text))
            .extract::<Config>()
            .map_err(|e| ConfigError(e.to_string()))
            .and_then(Config::checked)
    }

    /// The base URL WAP reaches this instance at, without a trailing slash.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("{}://{}", self.scheme(), self.listen))
            .trim_end_matches('/')
            .to_owned()
    }

    /// `https` when a certificate is configured, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.server.tls().is_some() {
            "https"
        } else {
            "http"
        }
    }

    fn checked(self) -> Result<Self, ConfigError> {
        if self.server.tls_cert.is_some() != self.server.tls_key.is_some() {
            return Err(ConfigError(
                "server.tls_cert and server.tls_key go together: set both or neither".into(),
            ));
        }
        if self.limits.max_body_bytes < 1024 {
            return Err(ConfigError(
                "limits.max_body_bytes must be at least 1024".into(),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError(
                "database.max_connections must be at least 1".into(),
            ));
        }
        if self.engine.concurrency == 0 {
            return Err(ConfigError("engine.concurrency must be at least 1".into()));
        }
        if self.engine.lease_seconds < 3 {
            return Err(ConfigError(
                "engine.lease_seconds must be at least 3".into(),
            ));
        }
        if self.engine.poll_interval_ms == 0 {
            return Err(ConfigError(
                "engine.poll_interval_ms must be at least 1".into(),
            ));
        }
        if let Some(url) = &self.alerts.webhook_url {
            let scheme_ok = reqwest::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !scheme_ok {
                return Err(ConfigError(
                    "alerts.webhook_url must be an http(s) URL".into(),
                ));
            }
        }
        for (name, creds) in self.endpoints.iter() {
            if creds.username.is_empty() || creds.username.contains(':') {
                return Err(ConfigError(format!(
                    "endpoints.{name}.username must be non-empty and contain no ':'"
                )));
            }
        }
        Ok(self)
    }
}

impl EndpointsConfig {
    /// Each endpoint's name and credentials.
    pub fn iter(&self) -> [(&'static str, &EndpointCredentials); 4] {
        [
            ("notification", &self.notification),
            ("usage", &self.usage),
            ("admin", &self.admin),
            ("tenant", &self.tenant),
        ]
    }
}

/// A commented example of every key with its default, printed by `wapdr config example`.
pub const EXAMPLE: &str = include_str!("../wapdr.example.toml");

/// Accepts a string, or a number or boolean the environment provider parsed out of one.
fn lenient_string<'de, D: Deserializer<'de>>(de: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Str(String),
        Int(i64),
        Float(f64),
        Bool(bool),
    }
    Ok(match Text::deserialize(de)? {
        Text::Str(s) => s,
        Text::Int(i) => i.to_string(),
        Text::Float(f) => f.to_string(),
        Text::Bool(b) => b.to_string(),
    })
}

fn lenient_option_string<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    lenient_string(de).map(Some)
}

fn required_secret<'de, D: Deserializer<'de>>(de: D) -> Result<SecretString, D::Error> {
    lenient_string(de).map(SecretString::from)
}

fn lenient_secret<'de, D: Deserializer<'de>>(de: D) -> Result<Option<SecretString>, D::Error> {
    lenient_string(de).map(|s| Some(SecretString::from(s)))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_example_parses_to_the_defaults() {
        let from_example = Config::from_toml(EXAMPLE).unwrap();
        let defaults = Config::default();
        assert_eq!(from_example.listen, defaults.listen);
        assert_eq!(from_example.database.url, defaults.database.url);
        assert_eq!(
            from_example.limits.max_body_bytes,
            defaults.limits.max_body_bytes
        );
        assert_eq!(from_example.rp.name, defaults.rp.name);
        assert_eq!(from_example.log.format, defaults.log.format);
        assert_eq!(from_example.engine.enabled, defaults.engine.enabled);
        assert_eq!(from_example.engine.concurrency, defaults.engine.concurrency);
        assert_eq!(
            from_example.engine.lease_seconds,
            defaults.engine.lease_seconds
        );
        assert_eq!(
            from_example.engine.poll_interval_ms,
            defaults.engine.poll_interval_ms
        );
        assert_eq!(
            from_example.engine.runbooks_dir,
            defaults.engine.runbooks_dir
        );
    }

    #[test]
    fn every_commented_key_of_the_example_is_a_real_key() {
        // Uncomment `# key = value` lines: the result must still be a valid configuration.
        let uncommented: String = EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with("public_url =") || rest.starts_with("password =") =>
                {
                    rest
                }
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let config = Config::from_toml(&uncommented).unwrap();
        assert_eq!(config.public_url(), "https://wapdr.contoso.local:8642");
        assert_eq!(
            config
                .endpoints
                .usage
                .password
                .as_ref()
                .unwrap()
                .expose_secret(),
            "..."
        );
    }

    #[test]
    fn the_commented_asr_section_of_the_example_is_a_valid_vault() {
        assert!(Config::from_toml(EXAMPLE).unwrap().asr.is_none());
        let start = EXAMPLE.find("# [asr]").expect("an [asr] example");
        let uncommented: String = EXAMPLE[start..]
            .lines()
            .map(|line| line.strip_prefix("# ").unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\n");
        let config = Config::from_toml(&uncommented).unwrap();
        let asr = config.asr.expect("an [asr] section");
        assert_eq!(asr.vault, "wapdr-vault");
        assert_eq!(asr.client_secret.expose_secret(), "...");
        assert!(!format!("{asr:?}").contains("\"...\""));
        let missing = Config::from_toml("[asr]\nvault = \"v\"").unwrap_err();
        assert!(missing.to_string().contains("tenant_id"), "{missing}");
    }

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let err = Config::from_toml("[database]\nurll = \"x\"").unwrap_err();
        assert!(err.to_string().contains("urll"), "{err}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail's closure signature, not ours
    fn environment_overrides_the_file_with_double_underscore_nesting() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "wapdr.toml",
                "listen = \"127.0.0.1:1\"\n[database]\nurl = \"sqlite://a.db\"",
            )?;
            jail.set_env("WAPDR_DATABASE__URL", "sqlite://b.db");
            jail.set_env("WAPDR_ENDPOINTS__NOTIFICATION__USERNAME", "wap");
            jail.set_env("WAPDR_ENDPOINTS__NOTIFICATION__PASSWORD", "1234");
            jail.set_env("WAPDR_TEST_POSTGRES_URL", "not configuration");
            let config = Config::load(Some(Path::new("wapdr.toml"))).expect("loads");
            assert_eq!(config.listen.port(), 1);
            assert_eq!(config.database.url, "sqlite://b.db");
            assert_eq!(config.endpoints.notification.username, "wap");
            assert_eq!(
                config
                    .endpoints
                    .notification
                    .password
                    .as_ref()
                    .unwrap()
                    .expose_secret(),
                "1234"
            );
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let err = Config::load(Some(Path::new("/nonexistent/wapdr.toml"))).unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let config = Config::from_toml("[endpoints.admin]\npassword = \"hunter2-secret\"").unwrap();
        assert!(!format!("{config:?}").contains("hunter2-secret"));
    }

    #[test]
    fn numeric_looking_passwords_are_kept_as_text() {
        let config = Config::from_toml("[endpoints.admin]\npassword = 12345").unwrap();
        assert_eq!(
            config.endpoints.admin.password.unwrap().expose_secret(),
            "12345"
        );
    }
}
