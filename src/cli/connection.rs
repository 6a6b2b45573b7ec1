//! Which wapdr the admin commands talk to, and with which credentials.
//!
//! Each setting is taken from the first place that has it:
//! 1. the flags `--url`, `--user`, `--password` (or `WAPDR_URL`, `WAPDR_ADMIN_USER`,
//!    `WAPDR_ADMIN_PASSWORD`), for an operator's workstation;
//! 2. the instance's configuration (`--config FILE` or `WAPDR_CONFIG`, then the `WAPDR_`
//!    environment, as `wapdr serve` reads it): `public_url` (else `http://{listen}`) and
//!    `[endpoints.admin]`, for a shell on the wapdr host;
//! 3. for the password only, the one the instance generated and keeps in its store, read from the
//!    configured database as `wapdr register` does — only when that database already exists.
//!
//! `--ca-bundle` (`WAPDR_CA_BUNDLE`) adds CAs to trust, for an instance serving HTTPS with a
//! certificate from a private CA.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use secrecy::SecretString;
use wapdr::config::Config;
use wapdr::store;

use super::client::{AdminClient, PasswordSource};

/// Where wapdr's admin API is and how to sign in to it.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectionArgs {
    /// wapdr's base URL as `wapdr serve` prints it (the admin API is under /admin) [default: the
    /// configuration's public_url, else http://{listen}].
    #[arg(long, env = "WAPDR_URL")]
    pub url: Option<String>,
    /// The admin endpoint's user name [default: the configuration's endpoints.admin.username].
    #[arg(long, env = "WAPDR_ADMIN_USER")]
    pub user: Option<String>,
    /// The admin endpoint's password (prefer the environment variable: a flag shows in the
    /// process list) [default: the configuration's, else the one generated in its store].
    #[arg(long, env = "WAPDR_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// The instance's TOML configuration, for what the flags above do not give.
    #[arg(long, short, env = "WAPDR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Who acts, as recorded in jobs and acknowledgements [default: the login name].
    #[arg(long, env = "WAPDR_PRINCIPAL")]
    pub principal: Option<String>,
    /// A PEM file of CA certificates to trust besides the system's, for a wapdr serving HTTPS
    /// with a certificate from a private CA.
    #[arg(long, env = "WAPDR_CA_BUNDLE")]
    pub ca_bundle: Option<PathBuf>,
}

/// The admin API the arguments name.
pub async fn connect(args: &ConnectionArgs) -> anyhow::Result<AdminClient> {
    let config = if args.url.is_some() && args.user.is_some() && args.password.is_some() {
        None
    } else {
        Some(Config::load(args.config.as_deref()).context(
            "reading the configuration for what --url, --user and --password do not give",
        )?)
    };
    let settings = Settings::pick(args, config.as_ref())?;
    let (password, source) = match settings.password {
        Some(found) => found,
        None => {
            let config = config.as_ref().expect("loaded when a flag is missing");
            match stored_password(config).await? {
                Some(password) => (password, PasswordSource::Store),
                None => bail!(
                    "no admin password: set --password or WAPDR_ADMIN_PASSWORD to the \
                     [endpoints.admin] password of the instance (`wapdr register` shows a \
                     generated one), or point --config (WAPDR_CONFIG) at its wapdr.toml"
                ),
            }
        }
    };
    AdminClient::new(
        &settings.url,
        settings.user,
        password,
        source,
        args.principal.clone().unwrap_or_else(login_name),
        args.ca_bundle.as_deref(),
    )
}

/// The settings the flags and the configuration give, before looking in the store.
#[derive(Debug)]
struct Settings {
    url: String,
    user: String,
    password: Option<(SecretString, PasswordSource)>,
}

impl Settings {
    fn pick(args: &ConnectionArgs, config: Option<&Config>) -> anyhow::Result<Self> {
        let url = match (&args.url, config) {
            (Some(url), _) => url.clone(),
            (None, Some(config)) => base_url_of(config)?,
            (None, None) => unreachable!("the configuration is loaded when --url is missing"),
        };
        let user = args
            .user
            .clone()
            .or_else(|| config.map(|c| c.endpoints.admin.username.clone()))
            .unwrap_or_default();
        let password = match (&args.password, config) {
            (Some(password), _) => {
                Some((SecretString::from(password.clone()), PasswordSource::Given))
            }
            (None, Some(config)) => config
                .endpoints
                .admin
                .password
                .clone()
                .map(|p| (p, PasswordSource::Config)),
            (None, None) => None,
        };
        Ok(Self {
            url,
            user,
            password,
        })
    }
}

/// Where a configuration's instance is reached: its public URL, else its listen address (a
/// wildcard address is reached on the loopback).
fn base_url_of(config: &Config) -> anyhow::Result<String> {
    if let Some(url) = &config.public_url {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    let mut addr: SocketAddr = config.listen;
    if addr.port() == 0 {
        bail!("the configuration listens on port 0 (any free port): give wapdr's URL with --url");
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(format!("{}://{addr}", config.scheme()))
}

/// The admin password the instance generated and keeps in its store, when the configuration
/// sets none; `None` when the store is a SQLite file that does not exist (no instance ran here,
/// and opening it would create it).
async fn stored_password(config: &Config) -> anyhow::Result<Option<SecretString>> {
    let url = &config.database.url;
    if let Some(path) = sqlite_path(url) {
        if !std::path::Path::new(&path).exists() {
            return Ok(None);
        }
    }
    let store = store::open(url, 1)
        .await
        .with_context(|| format!("opening the store at {}", wapdr::app::redact_url(url)))?;
    Ok(store
        .get_setting("endpoints.admin.generated_password")
        .await?
        .map(SecretString::from))
}

/// The file of a `sqlite://PATH` URL (`None` for other stores and in-memory SQLite).
fn sqlite_path(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.to_owned())
}

/// The operator's login name, recorded as who started or acknowledged something.
fn login_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "wapdr-cli".into())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    fn config(toml: &str) -> Config {
        Config::from_toml(toml).expect("a configuration")
    }

    #[test]
    fn flags_win_over_the_configuration() {
        let args = ConnectionArgs {
            url: Some("http://wapdr.example:9000".into()),
            user: Some("ops".into()),
            password: Some("flag-secret".into()),
            ..ConnectionArgs::default()
        };
        let picked = Settings::pick(
            &args,
            Some(&config(
                "public_url = \"https://elsewhere\"\n[endpoints.admin]\nusername = \"cfg\"\npassword = \"cfg-secret\"",
            )),
        )
        .unwrap();
        assert_eq!(picked.url, "http://wapdr.example:9000");
        assert_eq!(picked.user, "ops");
        let (password, source) = picked.password.unwrap();
        assert_eq!(password.expose_secret(), "flag-secret");
        assert_eq!(source, PasswordSource::Given);
    }

    #[test]
    fn the_configuration_gives_what_the_flags_do_not() {
        let picked = Settings::pick(
            &ConnectionArgs::default(),
            Some(&config(
                "listen = \"0.0.0.0:8700\"\n[endpoints.admin]\nusername = \"cfg\"\npassword = \"cfg-secret\"",
            )),
        )
        .unwrap();
        assert_eq!(picked.url, "http://127.0.0.1:8700");
        assert_eq!(picked.user, "cfg");
        assert_eq!(picked.password.unwrap().1, PasswordSource::Config);
        let public = Settings::pick(
            &ConnectionArgs::default(),
            Some(&config(
                "public_url = \"https://wapdr.contoso.local:8642/\"",
            )),
        )
        .unwrap();
        assert_eq!(public.url, "https://wapdr.contoso.local:8642");
        assert_eq!(public.user, "wapdr");
        assert!(public.password.is_none(), "left to the store");
    }

    #[test]
    fn a_configuration_on_port_zero_needs_a_url() {
        let err = Settings::pick(
            &ConnectionArgs::default(),
            Some(&config("listen = \"127.0.0.1:0\"")),
        )
        .unwrap_err();
        assert!(err.to_string().contains("--url"), "{err}");
    }

    #[test]
    fn sqlite_paths_are_read_from_the_url() {
        assert_eq!(
            sqlite_path("sqlite://wapdr.db").as_deref(),
            Some("wapdr.db")
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/wapdr/wapdr.db?mode=rwc").as_deref(),
            Some("/var/lib/wapdr/wapdr.db")
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://wapdr@db/wapdr"), None);
    }
}
