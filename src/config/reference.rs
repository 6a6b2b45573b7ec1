//! The configuration reference: every key of [`Config`](super::Config) with its type, default,
//! environment variable and description, written once in [`KEYS`] and printed as Markdown by
//! `wapdr config reference` (committed as `docs/configuration.md`).
//!
//! The table cannot drift silently: its tests hold it to the config structs (every field, and
//! each description equal to the field's doc comment), to `wapdr.example.toml` (the same keys,
//! the same defaults) and to the defaults the code applies, and `docs/configuration.md` to what
//! [`markdown`] prints.

/// One configuration key as the reference documents it.
#[derive(Debug, Clone, Copy)]
pub struct KeyDoc {
    /// The key's path in the file, sections joined by dots (`database.url`).
    pub path: &'static str,
    /// Its type as an operator writes it.
    pub kind: &'static str,
    /// Its default as TOML, or [`UNSET`] / [`REQUIRED`].
    pub default: &'static str,
    /// What it is for: the doc comment of the field it sets.
    pub description: &'static str,
}

/// The default of a key that has none (it is optional and absent unless set).
pub const UNSET: &str = "unset";

/// The default of a key its (optional) section cannot do without.
pub const REQUIRED: &str = "required";

const PASSWORD: &str = "The password; when unset, wapdr generates one, keeps it in the store and shows it only in the output of `wapdr register`.";
const USERNAME: &str = "The user name WAP sends.";

/// Every key, in the order of `wapdr.example.toml`.
pub const KEYS: &[KeyDoc] = &[
    KeyDoc {
        path: "listen",
        kind: "socket address",
        default: "\"127.0.0.1:8642\"",
        description: "The address the HTTP server binds.",
    },
    KeyDoc {
        path: "public_url",
        kind: "URL",
        default: UNSET,
        description: "The base URL WAP (and the admin command line) uses to reach this instance; defaults to `http://{listen}` (`https://{listen}` with a certificate).",
    },
    KeyDoc {
        path: "server.tls_cert",
        kind: "path",
        default: UNSET,
        description: "A PEM file with the server's certificate (then its chain); set with `tls_key`.",
    },
    KeyDoc {
        path: "server.tls_key",
        kind: "path",
        default: UNSET,
        description: "The PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1).",
    },
    KeyDoc {
        path: "fabric.ca_bundle",
        kind: "path",
        default: UNSET,
        description: "A PEM bundle of CA certificates trusted in addition to the built-in roots (the fabric's own PKI); certificates are always verified.",
    },
    KeyDoc {
        path: "database.url",
        kind: "URL",
        default: "\"sqlite://wapdr.db\"",
        description: "`sqlite://PATH` (one node) or `postgres://USER@HOST/DB` (scale-out).",
    },
    KeyDoc {
        path: "database.max_connections",
        kind: "integer",
        default: "10",
        description: "Connection pool size.",
    },
    KeyDoc {
        path: "endpoints.notification.username",
        kind: "string",
        default: "\"wapdr\"",
        description: USERNAME,
    },
    KeyDoc {
        path: "endpoints.notification.password",
        kind: "secret",
        default: UNSET,
        description: PASSWORD,
    },
    KeyDoc {
        path: "endpoints.usage.username",
        kind: "string",
        default: "\"wapdr\"",
        description: USERNAME,
    },
    KeyDoc {
        path: "endpoints.usage.password",
        kind: "secret",
        default: UNSET,
        description: PASSWORD,
    },
    KeyDoc {
        path: "endpoints.admin.username",
        kind: "string",
        default: "\"wapdr\"",
        description: USERNAME,
    },
    KeyDoc {
        path: "endpoints.admin.password",
        kind: "secret",
        default: UNSET,
        description: PASSWORD,
    },
    KeyDoc {
        path: "endpoints.tenant.username",
        kind: "string",
        default: "\"wapdr\"",
        description: USERNAME,
    },
    KeyDoc {
        path: "endpoints.tenant.password",
        kind: "secret",
        default: UNSET,
        description: PASSWORD,
    },
    KeyDoc {
        path: "limits.max_body_bytes",
        kind: "integer",
        default: "1048576",
        description: "The largest request body accepted, in bytes; larger ones get 413.",
    },
    KeyDoc {
        path: "log.format",
        kind: "`pretty` or `json`",
        default: "\"pretty\"",
        description: "`pretty` for people, `json` for log shippers.",
    },
    KeyDoc {
        path: "log.level",
        kind: "string",
        default: "\"info\"",
        description: "A tracing filter (`info`, `wapdr=debug,info`...); `RUST_LOG` overrides it.",
    },
    KeyDoc {
        path: "rp.name",
        kind: "string",
        default: "\"disasterrecovery\"",
        description: "The RP name WAP routes by (`/services/<name>/...`).",
    },
    KeyDoc {
        path: "rp.display_name",
        kind: "string",
        default: "\"Disaster Recovery\"",
        description: "The name shown in the WAP portals.",
    },
    KeyDoc {
        path: "rp.max_quota_update_batch_size",
        kind: "integer",
        default: "5",
        description: "How many subscriptions WAP may put in one `PUT /quota`.",
    },
    KeyDoc {
        path: "rp.subscription_status_polling_seconds",
        kind: "integer",
        default: "30",
        description: "How often WAP polls a subscription whose LifecycleState is not final, in seconds.",
    },
    KeyDoc {
        path: "engine.enabled",
        kind: "boolean",
        default: "true",
        description: "Whether this instance runs workflow steps and schedules (the API works either way).",
    },
    KeyDoc {
        path: "engine.concurrency",
        kind: "integer",
        default: "8",
        description: "Steps this instance runs at once.",
    },
    KeyDoc {
        path: "engine.lease_seconds",
        kind: "integer",
        default: "30",
        description: "How long a claimed step is held without a heartbeat, in seconds.",
    },
    KeyDoc {
        path: "engine.poll_interval_ms",
        kind: "integer",
        default: "500",
        description: "How long an idle worker waits before looking for work again, in milliseconds.",
    },
    KeyDoc {
        path: "engine.shutdown_grace_seconds",
        kind: "integer",
        default: "10",
        description: "On shutdown, how long running steps may take to finish before their leases are given back to other instances, in seconds; keep the service manager's stop timeout above it.",
    },
    KeyDoc {
        path: "engine.runbooks_dir",
        kind: "path",
        default: "\"runbooks\"",
        description: "The folder of runbook files (`*.toml`), relative to the working directory.",
    },
    KeyDoc {
        path: "alerts.webhook_url",
        kind: "URL",
        default: UNSET,
        description: "A URL that receives one JSON `POST` per alert; without it alerts are only logged and shown in the runbook job's output.",
    },
    KeyDoc {
        path: "asr.arm_url",
        kind: "URL",
        default: "\"https://management.azure.com\"",
        description: "ARM's base URL.",
    },
    KeyDoc {
        path: "asr.login_url",
        kind: "URL",
        default: "\"https://login.microsoftonline.com\"",
        description: "Azure AD's base URL.",
    },
    KeyDoc {
        path: "asr.tenant_id",
        kind: "string",
        default: REQUIRED,
        description: "The Azure AD tenant id.",
    },
    KeyDoc {
        path: "asr.client_id",
        kind: "string",
        default: REQUIRED,
        description: "The application (client) id wapdr signs in as.",
    },
    KeyDoc {
        path: "asr.client_secret",
        kind: "secret",
        default: REQUIRED,
        description: "The application's client secret.",
    },
    KeyDoc {
        path: "asr.subscription_id",
        kind: "string",
        default: REQUIRED,
        description: "The Azure subscription of the vault.",
    },
    KeyDoc {
        path: "asr.resource_group",
        kind: "string",
        default: REQUIRED,
        description: "The vault's resource group.",
    },
    KeyDoc {
        path: "asr.vault",
        kind: "string",
        default: REQUIRED,
        description: "The Recovery Services vault's name.",
    },
    KeyDoc {
        path: "asr.max_parallel_operations",
        kind: "integer",
        default: "20",
        description: "Item operations (failovers, commits, …) wapdr runs at once in the vault, across every job and instance.",
    },
];

/// The environment variable that sets the key at `path`: `WAPDR_`, the path in capitals, `__`
/// between levels (`database.url` → `WAPDR_DATABASE__URL`).
pub fn env_var(path: &str) -> String {
    format!("WAPDR_{}", path.to_ascii_uppercase().replace('.', "__"))
}

/// The reference as a Markdown page: how configuration is layered, then one table row per key.
pub fn markdown() -> String {
    let mut page = String::from(
        "# Configuration reference\n\n\
         <!-- Generated by `wapdr config reference` from src/config/reference.rs; do not edit by \
         hand (a test fails when this page and the code disagree). -->\n\n\
         wapdr reads its built-in defaults, then the TOML file named by `--config` (or \
         `WAPDR_CONFIG`), then environment variables: `WAPDR_` and the key's path in capitals \
         with `__` between levels. An unknown key is an error at start, so a typo is caught. \
         `wapdr config example` prints a commented file with every default \
         (`wapdr.example.toml`); `wapdr config check` prints what is in force, secrets \
         redacted.\n\n\
         The `[asr]` section is optional (without it wapdr stores provider setup but cannot pair \
         clouds or protect VMs); when present, its keys marked *required* must be set.\n\n\
         | key | type | default | environment variable | description |\n\
         |---|---|---|---|---|\n",
    );
    for key in KEYS {
        let default = match key.default {
            UNSET => "*unset*".to_owned(),
            REQUIRED => "*required*".to_owned(),
            value => format!("`{value}`"),
        };
        page.push_str(&format!(
            "| `{}` | {} | {default} | `{}` | {} |\n",
            key.path,
            key.kind,
            env_var(key.path),
            key.description.replace('|', "\\|")
        ));
    }
    page
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::super::{Config, EXAMPLE};
    use super::*;

    /// A struct's public fields: `(name, type, doc comment)`.
    type Fields = Vec<(String, String, String)>;

    /// The documented leaves of `struct_name` among `structs` (those of config.rs), as
    /// `(path, doc comment)`: fields whose type is another struct of the file are walked into.
    fn leaves(
        structs: &BTreeMap<String, Fields>,
        struct_name: &str,
        prefix: &str,
        out: &mut Vec<(String, String)>,
    ) {
        for (field, ty, doc) in &structs[struct_name] {
            let path = if prefix.is_empty() {
                field.clone()
            } else {
                format!("{prefix}.{field}")
            };
            let inner = ty
                .strip_prefix("Option<")
                .and_then(|t| t.strip_suffix('>'))
                .unwrap_or(ty);
            if structs.contains_key(inner) {
                leaves(structs, inner, &path, out);
            } else {
                out.push((path, doc.clone()));
            }
        }
    }

    /// Every `pub struct` of config.rs with its public fields: `(name, type, doc comment)`.
    fn config_structs() -> BTreeMap<String, Fields> {
        let source = include_str!("../config.rs");
        let mut structs = BTreeMap::new();
        let mut current: Option<(String, Fields)> = None;
        let mut doc = Vec::new();
        for line in source.lines() {
            let trimmed = line.trim();
            if let Some(rest) = line.strip_prefix("pub struct ") {
                if let Some(name) = rest.strip_suffix(" {") {
                    current = Some((name.to_owned(), Vec::new()));
                }
                doc.clear();
                continue;
            }
            let Some((_, fields)) = current.as_mut() else {
                continue;
            };
            if line == "}" {
                let (name, fields) = current.take().expect("in a struct");
                structs.insert(name, fields);
            } else if let Some(text) = trimmed.strip_prefix("///") {
                doc.push(text.trim().to_owned());
            } else if let Some(field) = trimmed.strip_prefix("pub ") {
                let (name, ty) = field.split_once(": ").expect("a field");
                fields.push((
                    name.to_owned(),
                    ty.trim_end_matches(',').to_owned(),
                    doc.join(" "),
                ));
                doc.clear();
            }
        }
        structs
    }

    /// The keys `wapdr.example.toml` shows, commented out or not, with the value shown.
    fn example_keys() -> Vec<(String, String, bool)> {
        let mut section = String::new();
        let mut keys = Vec::new();
        for line in EXAMPLE.lines() {
            let (text, commented) = match line.strip_prefix("# ") {
                Some(rest) => (rest, true),
                None => (line, false),
            };
            if let Some(name) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
                section = name.to_owned();
            } else if let Some((key, value)) = text.split_once(" = ") {
                if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    let path = if section.is_empty() {
                        key.to_owned()
                    } else {
                        format!("{section}.{key}")
                    };
                    keys.push((path, value.to_owned(), commented));
                }
            }
        }
        keys
    }

    /// A TOML text setting every key of `keys` whose default is a value to that value.
    fn toml_of(keys: &[&KeyDoc]) -> String {
        let mut sections: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for key in keys {
            if key.default == UNSET || key.default == REQUIRED {
                continue;
            }
            let (section, name) = key.path.rsplit_once('.').unwrap_or(("", key.path));
            sections
                .entry(section)
                .or_default()
                .push(format!("{name} = {}", key.default));
        }
        sections
            .iter()
            .map(|(section, lines)| {
                let header = if section.is_empty() {
                    String::new()
                } else {
                    format!("[{section}]\n")
                };
                format!("{header}{}\n", lines.join("\n"))
            })
            .collect()
    }

    #[test]
    fn the_reference_names_every_field_of_the_config_structs_with_its_doc_comment() {
        let mut fields = Vec::new();
        leaves(&config_structs(), "Config", "", &mut fields);
        let documented: Vec<(String, String)> = KEYS
            .iter()
            .map(|k| (k.path.to_owned(), k.description.to_owned()))
            .collect();
        let sorted = |mut v: Vec<(String, String)>| {
            v.sort();
            v
        };
        assert_eq!(
            sorted(documented),
            sorted(fields),
            "src/config/reference.rs KEYS must name every config field with its doc comment"
        );
    }

    #[test]
    fn the_reference_and_the_example_show_the_same_keys_and_defaults() {
        let example = example_keys();
        let in_example: BTreeSet<&str> = example.iter().map(|(p, _, _)| p.as_str()).collect();
        let in_reference: BTreeSet<&str> = KEYS.iter().map(|k| k.path).collect();
        assert_eq!(in_reference, in_example, "wapdr.example.toml and KEYS");
        for (path, value, commented) in &example {
            let key = KEYS.iter().find(|k| k.path == path).expect("known");
            if !commented {
                assert_eq!(key.default, value, "the default of {path}");
            } else if key.default != UNSET && key.default != REQUIRED {
                // A commented key with a default shows that default (the [asr] section's).
                assert_eq!(key.default, value, "the default of {path}");
            }
        }
    }

    #[test]
    fn the_documented_defaults_are_the_defaults_the_code_applies() {
        let outside_asr: Vec<&KeyDoc> = KEYS
            .iter()
            .filter(|k| !k.path.starts_with("asr."))
            .collect();
        let written = Config::from_toml(&toml_of(&outside_asr)).expect("the defaults parse");
        assert_eq!(
            format!("{written:?}"),
            format!("{:?}", Config::default()),
            "KEYS' defaults"
        );
        // [asr] is optional as a whole: compare its defaults with a section of required keys only.
        let required: String = KEYS
            .iter()
            .filter(|k| k.default == REQUIRED)
            .map(|k| format!("{} = \"x\"\n", k.path.trim_start_matches("asr.")))
            .collect();
        let asr: Vec<&KeyDoc> = KEYS.iter().filter(|k| k.path.starts_with("asr.")).collect();
        let with_defaults = toml_of(&asr).replace("[asr]\n", &format!("[asr]\n{required}"));
        let bare = Config::from_toml(&format!("[asr]\n{required}")).expect("required keys");
        let full = Config::from_toml(&with_defaults).expect("the [asr] defaults parse");
        assert_eq!(format!("{:?}", full.asr), format!("{:?}", bare.asr));
    }

    #[test]
    fn environment_variables_follow_the_key_path() {
        assert_eq!(env_var("listen"), "WAPDR_LISTEN");
        assert_eq!(
            env_var("endpoints.admin.password"),
            "WAPDR_ENDPOINTS__ADMIN__PASSWORD"
        );
    }

    #[test]
    fn docs_configuration_md_is_what_config_reference_prints() {
        assert!(
            markdown() == include_str!("../../docs/configuration.md"),
            "docs/configuration.md is out of date: run `cargo run -- config reference > docs/configuration.md`"
        );
    }
}
