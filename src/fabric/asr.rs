//! [`AsrEngine`]: the [`ReplicationEngine`] over Azure Site Recovery's ARM REST API, one vault
//! (`schemas/fabric-http.md` §3), authenticated with Azure AD client credentials (§4).
//!
//! Mapping: a site is a fabric (by name), a container a protection container (the cloud id), an
//! item an RPI named by the VM id. Every mutating call is an ARM long-running operation whose
//! `Azure-AsyncOperation` (or `Location`) URL is the [`OperationId`]. `ensure_*` read before they
//! write, and writes are PUTs that may be re-sent. It must never follow a status URL to another
//! origin than `arm_url` (it would carry our token) nor log the secret or tokens.

mod auth;
mod engine;
pub mod model;
mod plans;
pub mod status;

use std::time::Duration;

use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::instrument;

pub use plans::{PlanAction, PlanGroup, RecoveryPlanInfo, RecoveryPlanSpec};

use self::auth::TokenSource;
use self::model::{JobProperties, List, PolicyProperties, ProtectedItemProperties, Resource};
use super::replication::{
    DEFAULT_PARALLEL_OPERATIONS, Direction, InitialReplication, ItemRef, OperationId,
    OperationState, OperationStatus, PolicySpec, PollLimits, ProtectionStatus, ReplicationEngine,
};
use super::retry::{Resend, RetryPolicy};
use super::{FabricError, HttpSettings, odata, same_origin, tolerant};

/// The service name in errors and traces.
const SERVICE: &str = "ASR";

/// The replication provider of VMM-to-VMM protection.
const PROVIDER: &str = "HyperVReplica2012R2";

/// The [`OperationId`] of a write the service completed at once (an identical PUT re-sent).
const COMPLETED: &str = "completed";

/// The most list pages followed (a cloud of 100,000 items in pages of 100 takes 1,000): a
/// service whose `nextLink`s never end is refused rather than followed forever.
const MAX_PAGES: usize = 10_000;

/// Where the vault is and who wapdr is to Azure AD.
#[derive(Debug, Clone)]
pub struct AsrSettings {
    /// ARM's base URL (`https://management.azure.com`).
    pub arm_url: String,
    /// Azure AD's base URL (`https://login.microsoftonline.com`).
    pub login_url: String,
    /// The Azure AD tenant.
    pub tenant_id: String,
    /// The application (client) id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: SecretString,
    /// The Azure subscription of the vault.
    pub subscription_id: String,
    /// The vault's resource group.
    pub resource_group: String,
    /// The Recovery Services vault.
    pub vault: String,
    /// The ARM `api-version` (`2025-08-01`).
    pub api_version: String,
    /// How long `ensure_policy` waits for the policy to be created.
    pub setup_timeout: Duration,
    /// How [`ReplicationEngine::wait`] paces its polls.
    pub poll: PollLimits,
}

/// The scope asked of Azure AD: ARM's `.default`, whatever URL ARM is reached at (the contract
/// fixes it, and a lab on a random port is still "ARM" to Azure AD).
const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The Azure Site Recovery engine.
pub struct AsrEngine {
    arm: Url,
    vault: Url,
    vault_id: String,
    api_version: String,
    setup_timeout: Duration,
    poll: PollLimits,
    http: reqwest::Client,
    policy: RetryPolicy,
    tokens: TokenSource,
    max_parallel: u32,
}

impl std::fmt::Debug for AsrEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsrEngine")
            .field("vault", &self.vault_id)
            .finish()
    }
}

/// What a write answered: done at once, or an operation to poll.
enum Submitted {
    Done,
    Started(OperationId),
}

impl AsrEngine {
    /// An engine for the vault in `settings`.
    pub fn new(
        settings: AsrSettings,
        http_settings: &HttpSettings,
        policy: RetryPolicy,
    ) -> Result<Self, FabricError> {
        let http = http_settings.build_client(SERVICE)?;
        let arm = super::base_url(SERVICE, &settings.arm_url)?;
        let vault_id = format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.RecoveryServices/vaults/{}",
            settings.subscription_id, settings.resource_group, settings.vault
        );
        let mut vault = arm.clone();
        vault
            .path_segments_mut()
            .map_err(|_| FabricError::config(SERVICE, "ARM URL cannot have a path"))?
            .pop_if_empty()
            .extend(vault_id.trim_start_matches('/').split('/'))
            .push("");
        let login = super::base_url(auth::SERVICE, &settings.login_url)?;
        let token_url = login
            .join(&format!("{}/oauth2/v2.0/token", settings.tenant_id))
            .map_err(|e| FabricError::config(auth::SERVICE, e))?;
        let tokens = TokenSource::new(
            token_url.to_string(),
            settings.client_id.clone(),
            settings.client_secret.clone(),
            ARM_SCOPE.to_owned(),
            http.clone(),
            policy.clone(),
        );
        Ok(Self {
            arm,
            vault,
            vault_id,
            api_version: settings.api_version,
            setup_timeout: settings.setup_timeout,
            poll: settings.poll,
            http,
            policy,
            tokens,
            max_parallel: DEFAULT_PARALLEL_OPERATIONS,
        })
    }

    /// The same engine, letting wapdr run `operations` item operations at once in the vault
    /// (`[asr] max_parallel_operations`; at least 1).
    pub fn with_max_parallel_operations(mut self, operations: u32) -> Self {
        self.max_parallel = operations.max(1);
        self
    }

    /// The vault-relative URL of `segments`, with the `api-version`.
    fn url(&self, segments: &[&str]) -> Result<Url, FabricError> {
        let mut url = self.vault.clone();
        url.path_segments_mut()
            .map_err(|_| FabricError::config(SERVICE, "vault URL cannot have a path"))?
            .pop_if_empty()
            .extend(segments);
        url.query_pairs_mut()
            .append_pair("api-version", &self.api_version);
        Ok(url)
    }

    /// The ARM id of a vault resource.
    fn arm_id(&self, segments: &[&str]) -> String {
        format!("{}/{}", self.vault_id, segments.join("/"))
    }

    fn item_path(item: &ItemRef) -> [&str; 6] {
        [
            "replicationFabrics",
            &item.site,
            "replicationProtectionContainers",
            &item.container,
            "replicationProtectedItems",
            &item.vm_id,
        ]
    }

    /// Sends a request with a bearer token; one 401 makes it renew the token and try once more.
    async fn call(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        resend: Resend,
    ) -> Result<reqwest::Response, FabricError> {
        let mut renewed = false;
        loop {
            let token = self.tokens.token().await?;
            let mut bearer =
                reqwest::header::HeaderValue::try_from(format!("Bearer {}", token.expose_secret()))
                    .map_err(|_| FabricError::protocol(auth::SERVICE, "", "unusable token"))?;
            bearer.set_sensitive(true);
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(reqwest::header::AUTHORIZATION, bearer)
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let request = request
                .build()
                .map_err(|e| FabricError::config(SERVICE, e))?;
            let response = self
                .policy
                .send(&self.http, SERVICE, resend, request)
                .await?;
            let status = response.status().as_u16();
            if status == 401 && !renewed {
                // The token may have expired early (clock skew, an accelerated lab clock).
                self.tokens.invalidate(&token).await;
                renewed = true;
                continue;
            }
            if response.status().is_success() {
                return Ok(response);
            }
            let bytes = response.bytes().await.unwrap_or_default();
            let (code, message) = odata::read_error(&bytes);
            return Err(FabricError::from_status(
                SERVICE,
                url.as_str(),
                status,
                code,
                message,
            ));
        }
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<Option<T>, FabricError> {
        let url = self.url(segments)?;
        match self.call(Method::GET, &url, None, Resend::Safe).await {
            Ok(response) => Ok(Some(read(&url, response).await?)),
            Err(FabricError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list<P: DeserializeOwned + Send>(
        &self,
        segments: &[&str],
    ) -> Result<Vec<Resource<P>>, FabricError> {
        let mut out = Vec::new();
        self.for_each_page(segments, |page| out.extend(page))
            .await?;
        Ok(out)
    }

    /// Reads a list page by page (following `nextLink`), handing each page's resources to
    /// `each` before the next is read: a caller that keeps less than the resources (a cloud's
    /// 50,000 protected items, say) never holds more than one page of them.
    async fn for_each_page<P: DeserializeOwned + Send>(
        &self,
        segments: &[&str],
        mut each: impl FnMut(Vec<Resource<P>>) + Send,
    ) -> Result<(), FabricError> {
        let mut url = self.url(segments)?;
        for _ in 0..MAX_PAGES {
            let response = self.call(Method::GET, &url, None, Resend::Safe).await?;
            let page: List<P> = read(&url, response).await?;
            each(page.value);
            let Some(next) = page.next_link else {
                return Ok(());
            };
            url = self.followable(&next)?;
        }
        Err(FabricError::protocol(
            SERVICE,
            url.as_str(),
            "too many pages",
        ))
    }

    /// A URL the service handed out, if it is one we may send our token to.
    fn followable(&self, text: &str) -> Result<Url, FabricError> {
        let url = self
            .arm
            .join(text)
            .map_err(|e| FabricError::protocol(SERVICE, text, format!("bad URL: {e}")))?;
        if !same_origin(&self.arm, &url) {
            return Err(FabricError::protocol(
                SERVICE,
                text,
                "the service pointed to another host",
            ));
        }
        Ok(url)
    }

    /// Sends a write (with a JSON body, or none) and reads the long-running-operation answer.
    async fn submit(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
        resend: Resend,
    ) -> Result<Submitted, FabricError> {
        let url = self.url(segments)?;
        let response = self.call(method, &url, body, resend).await?;
        if response.status() != reqwest::StatusCode::ACCEPTED {
            return Ok(Submitted::Done);
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let status_url = header("azure-asyncoperation")
            .or_else(|| header("location"))
            .ok_or_else(|| {
                FabricError::protocol(SERVICE, url.as_str(), "202 without a status URL")
            })?;
        let checked = self.followable(&status_url)?;
        Ok(Submitted::Started(OperationId(checked.to_string())))
    }

    /// Posts an item action with `properties` as its body's `properties`.
    async fn action(
        &self,
        item: &ItemRef,
        action: &str,
        properties: Value,
    ) -> Result<OperationId, FabricError> {
        self.post_action(item, action, Some(&json!({ "properties": properties })))
            .await
    }

    /// Posts an item action with no body at all (ASR defines some, `failoverCancel`, so).
    async fn bare_action(&self, item: &ItemRef, action: &str) -> Result<OperationId, FabricError> {
        self.post_action(item, action, None).await
    }

    async fn post_action(
        &self,
        item: &ItemRef,
        action: &str,
        body: Option<&Value>,
    ) -> Result<OperationId, FabricError> {
        let mut segments = Self::item_path(item).to_vec();
        segments.push(action);
        // An action can start a second failover if re-sent after the service took it.
        let submitted = self
            .submit(Method::POST, &segments, body, Resend::Unsafe)
            .await?;
        Ok(operation_id(submitted))
    }

    /// Waits for a setup operation (policy creation) and turns its failure into an error.
    async fn settle(&self, submitted: Submitted, what: &str) -> Result<(), FabricError> {
        let Submitted::Started(id) = submitted else {
            return Ok(());
        };
        let status = self.wait(&id, self.setup_timeout).await?;
        match status.state {
            OperationState::Succeeded => Ok(()),
            OperationState::InProgress => Err(FabricError::Timeout {
                service: SERVICE.to_owned(),
                url: what.to_owned(),
            }),
            OperationState::Failed { message } => Err(FabricError::Rejected {
                service: SERVICE.to_owned(),
                url: what.to_owned(),
                status: 202,
                code: "OperationFailed".to_owned(),
                message,
            }),
            OperationState::Cancelled => Err(FabricError::Rejected {
                service: SERVICE.to_owned(),
                url: what.to_owned(),
                status: 202,
                code: "OperationCancelled".to_owned(),
                message: format!("{what} was cancelled"),
            }),
        }
    }

    /// The job behind an operation, with its tasks (the source of truth for what happened).
    #[instrument(skip_all, fields(service = SERVICE, operation = %id.as_str()), err)]
    pub async fn job(&self, id: &OperationId) -> Result<Option<OperationStatus>, FabricError> {
        let Some(job_id) = job_id(id.as_str()) else {
            return Ok(None);
        };
        let job: Option<Resource<JobProperties>> = self.get(&["replicationJobs", &job_id]).await?;
        Ok(job.map(|j| status::job_status(&j.properties)))
    }
}

/// The job id inside a status URL (`…/replicationOperationStatus/{id}`,
/// `…/replicationJobs/{id}[/operationresults/{id}]`).
fn job_id(url: &str) -> Option<String> {
    let path = url.split('?').next()?;
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .windows(2)
        .find(|w| {
            [
                "replicationOperationStatus",
                "replicationJobs",
                "operationresults",
            ]
            .iter()
            .any(|k| w[0].eq_ignore_ascii_case(k))
        })
        .map(|w| w[1].to_owned())
        .filter(|id| !id.is_empty())
}

fn operation_id(submitted: Submitted) -> OperationId {
    match submitted {
        Submitted::Done => OperationId(COMPLETED.to_owned()),
        Submitted::Started(id) => id,
    }
}

/// The last segment of an ARM id (or the id itself when it has none), for comparisons.
fn last_segment(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}

/// Whether two ARM ids (or bare names) name the same resource; ARM ids differ in case.
fn same_resource(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
        || (!a.contains('/') || !b.contains('/'))
            && last_segment(a).eq_ignore_ascii_case(last_segment(b))
}

fn direction(direction: Direction) -> &'static str {
    match direction {
        Direction::PrimaryToRecovery => "PrimaryToRecovery",
        Direction::RecoveryToPrimary => "RecoveryToPrimary",
    }
}

async fn read<T: DeserializeOwned>(
    url: &Url,
    response: reqwest::Response,
) -> Result<T, FabricError> {
    let body = response.bytes().await.map_err(|e| {
        FabricError::protocol(SERVICE, url.as_str(), format!("reading the answer: {e}"))
    })?;
    tolerant::from_slice(&body).map_err(|e| FabricError::protocol(SERVICE, url.as_str(), e))
}

/// Reads an RPI body (as ARM returns it) into wapdr's protection status.
pub fn read_protection_status(body: &[u8]) -> Result<ProtectionStatus, FabricError> {
    let item: Resource<ProtectedItemProperties> =
        tolerant::from_slice(body).map_err(|e| FabricError::protocol(SERVICE, "RPI", e))?;
    Ok(status::protection_status(&item.properties))
}

/// Reads a job body (as ARM returns it) into an operation status with its tasks.
pub fn read_job(body: &[u8]) -> Result<OperationStatus, FabricError> {
    let job: Resource<JobProperties> =
        tolerant::from_slice(body).map_err(|e| FabricError::protocol(SERVICE, "job", e))?;
    Ok(status::job_status(&job.properties))
}

fn policy_matches(found: &PolicyProperties, spec: &PolicySpec) -> bool {
    let Some(d) = &found.provider_specific_details else {
        return false;
    };
    let text_is = |value: &Option<String>, expected: &str| {
        value
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case(expected))
    };
    d.replication_frequency_in_seconds == Some(i64::from(spec.copy_frequency_seconds))
        && d.recovery_points == Some(i64::from(spec.recovery_points))
        && d.application_consistent_snapshot_frequency_in_hours
            == Some(i64::from(spec.app_consistent_frequency_hours))
        && text_is(
            &d.compression,
            if spec.compression {
                "Enable"
            } else {
                "Disable"
            },
        )
        && text_is(&d.initial_replication_method, initial_method(spec))
}

fn initial_method(spec: &PolicySpec) -> &'static str {
    match spec.initial_replication {
        InitialReplication::OverNetwork => "OverNetwork",
        InitialReplication::Offline => "Offline",
    }
}

#[cfg(test)]
mod tests;
