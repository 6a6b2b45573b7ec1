//! [`AsrEngine`]: the [`ReplicationEngine`] over Azure Site Recovery's ARM REST API, one vault
//! (`schemas/fabric-http.md` §3), authenticated with Azure AD client credentials (§4).
//!
//! Mapping: a site is a fabric (by name), a container a protection container (the cloud id), an
//! item an RPI named by the VM id. Every mutating call is an ARM long-running operation whose
//! `Azure-AsyncOperation` (or `Location`) URL is the [`OperationId`]. `ensure_*` read before they
//! write, and writes are PUTs that may be re-sent. It must never follow a status URL to another
//! origin than `arm_url` (it would carry our token) nor log the secret or tokens.

mod auth;
pub mod model;
mod plans;
pub mod status;

use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::instrument;

pub use plans::{PlanAction, PlanGroup, RecoveryPlanInfo, RecoveryPlanSpec};

use self::auth::TokenSource;
use self::model::{
    AsyncOperation, ContainerProperties, FabricProperties, JobProperties, List, MappingProperties,
    NetworkMappingProperties, PolicyProperties, ProtectableItemProperties, ProtectedItemProperties,
    RecoveryPointProperties, Resource,
};
use super::replication::{
    Container, Direction, Ensured, InitialReplication, ItemRef, OperationId, OperationState,
    OperationStatus, PolicyRef, PolicySpec, PollLimits, ProtectableVm, ProtectedItem,
    ProtectionStatus, RecoveryPoint, ReplicationEngine, Site,
};
use super::retry::{Resend, RetryPolicy, retry_after};
use super::{FabricError, HttpSettings, odata, same_origin, tolerant};

/// The service name in errors and traces.
const SERVICE: &str = "ASR";

/// The replication provider of VMM-to-VMM protection.
const PROVIDER: &str = "HyperVReplica2012R2";

/// The [`OperationId`] of a write the service completed at once (an identical PUT re-sent).
const COMPLETED: &str = "completed";

/// The most list pages followed; a vault has far fewer.
const MAX_PAGES: usize = 1000;

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
        })
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

    async fn list<P: DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<Vec<Resource<P>>, FabricError> {
        let mut url = self.url(segments)?;
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self.call(Method::GET, &url, None, Resend::Safe).await?;
            let page: List<P> = read(&url, response).await?;
            out.extend(page.value);
            let Some(next) = page.next_link else {
                return Ok(out);
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

    /// Sends a write and reads the long-running-operation answer.
    async fn submit(
        &self,
        method: Method,
        segments: &[&str],
        body: &Value,
        resend: Resend,
    ) -> Result<Submitted, FabricError> {
        let url = self.url(segments)?;
        let response = self.call(method, &url, Some(body), resend).await?;
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

    async fn action(
        &self,
        item: &ItemRef,
        action: &str,
        properties: Value,
    ) -> Result<OperationId, FabricError> {
        let mut segments = Self::item_path(item).to_vec();
        segments.push(action);
        // An action can start a second failover if re-sent after the service took it.
        let submitted = self
            .submit(
                Method::POST,
                &segments,
                &json!({ "properties": properties }),
                Resend::Unsafe,
            )
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

#[async_trait]
impl ReplicationEngine for AsrEngine {
    #[instrument(skip_all, fields(service = SERVICE), err)]
    async fn sites(&self) -> Result<Vec<Site>, FabricError> {
        let fabrics: Vec<Resource<FabricProperties>> = self.list(&["replicationFabrics"]).await?;
        Ok(fabrics
            .into_iter()
            .map(|f| Site {
                name: f.properties.friendly_name.unwrap_or_else(|| f.name.clone()),
                stamp_id: f.properties.internal_identifier.unwrap_or_default(),
                id: f.name,
            })
            .collect())
    }

    #[instrument(skip_all, fields(service = SERVICE, site), err)]
    async fn containers(&self, site: &str) -> Result<Vec<Container>, FabricError> {
        let found: Vec<Resource<ContainerProperties>> = self
            .list(&[
                "replicationFabrics",
                site,
                "replicationProtectionContainers",
            ])
            .await?;
        Ok(found
            .into_iter()
            .map(|c| Container {
                name: c.properties.friendly_name.unwrap_or_else(|| c.name.clone()),
                paired: c
                    .properties
                    .pairing_status
                    .is_some_and(|s| s.eq_ignore_ascii_case("Paired")),
                site: site.to_owned(),
                id: c.name,
            })
            .collect())
    }

    #[instrument(skip_all, fields(service = SERVICE, policy = name), err)]
    async fn ensure_policy(&self, name: &str, spec: &PolicySpec) -> Result<PolicyRef, FabricError> {
        let segments = ["replicationPolicies", name];
        let found: Option<Resource<PolicyProperties>> = self.get(&segments).await?;
        let reference = |id: Option<String>| PolicyRef {
            id: id
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| self.arm_id(&segments)),
            name: name.to_owned(),
        };
        if let Some(found) = &found {
            if policy_matches(&found.properties, spec) {
                return Ok(reference(Some(found.id.clone())));
            }
        }
        let body = json!({ "properties": { "providerSpecificInput": {
            "instanceType": PROVIDER,
            "replicationFrequencyInSeconds": spec.copy_frequency_seconds,
            "recoveryPoints": spec.recovery_points,
            "applicationConsistentSnapshotFrequencyInHours": spec.app_consistent_frequency_hours,
            "compression": if spec.compression { "Enable" } else { "Disable" },
            "initialReplicationMethod": initial_method(spec),
        }}});
        let submitted = self
            .submit(Method::PUT, &segments, &body, Resend::Safe)
            .await?;
        self.settle(submitted, &format!("replicationPolicies/{name}"))
            .await?;
        Ok(reference(found.map(|f| f.id)))
    }

    #[instrument(skip_all, fields(service = SERVICE, primary = %primary.id, recovery = %recovery.id), err)]
    async fn ensure_container_pairing(
        &self,
        primary: &Container,
        recovery: &Container,
        policy: &PolicyRef,
    ) -> Result<Ensured, FabricError> {
        let base = [
            "replicationFabrics",
            primary.site.as_str(),
            "replicationProtectionContainers",
            primary.id.as_str(),
            "replicationProtectionContainerMappings",
        ];
        let mappings: Vec<Resource<MappingProperties>> = self.list(&base).await?;
        let to_recovery = mappings.iter().find(|m| {
            m.properties
                .target_protection_container_id
                .as_deref()
                .is_some_and(|t| last_segment(t).eq_ignore_ascii_case(&recovery.id))
        });
        if let Some(found) = to_recovery {
            let same_policy = found
                .properties
                .policy_id
                .as_deref()
                .is_some_and(|p| same_resource(p, &policy.id));
            if same_policy {
                return Ok(Ensured::AlreadyDone);
            }
        }
        let name = to_recovery
            .map(|m| m.name.clone())
            .unwrap_or_else(|| format!("{}-to-{}", primary.id, recovery.id));
        let target = self.arm_id(&[
            "replicationFabrics",
            &recovery.site,
            "replicationProtectionContainers",
            &recovery.id,
        ]);
        let body = json!({ "properties": {
            "targetProtectionContainerId": target,
            "policyId": policy.id,
            "providerSpecificInput": { "instanceType": "ReplicationProviderSpecificContainerMappingInput" },
        }});
        let mut segments = base.to_vec();
        segments.push(&name);
        Ok(
            match self
                .submit(Method::PUT, &segments, &body, Resend::Safe)
                .await?
            {
                Submitted::Done => Ensured::AlreadyDone,
                Submitted::Started(id) => Ensured::Started(id),
            },
        )
    }

    #[instrument(skip_all, fields(service = SERVICE, primary_network_id, recovery_network_id), err)]
    async fn ensure_network_mapping(
        &self,
        primary_site: &str,
        primary_network_id: &str,
        recovery_site: &str,
        recovery_network_id: &str,
    ) -> Result<Ensured, FabricError> {
        let base = [
            "replicationFabrics",
            primary_site,
            "replicationNetworks",
            primary_network_id,
            "replicationNetworkMappings",
        ];
        let mappings: Vec<Resource<NetworkMappingProperties>> = self.list(&base).await?;
        if mappings.iter().any(|m| {
            m.properties
                .recovery_network_id
                .as_deref()
                .is_some_and(|r| last_segment(r).eq_ignore_ascii_case(recovery_network_id))
        }) {
            return Ok(Ensured::AlreadyDone);
        }
        let name = format!("{primary_network_id}-to-{recovery_network_id}");
        let body = json!({ "properties": {
            "recoveryFabricName": recovery_site,
            "recoveryNetworkId": self.arm_id(&["replicationFabrics", recovery_site, "replicationNetworks", recovery_network_id]),
            "fabricSpecificDetails": { "instanceType": "VmmToVmm" },
        }});
        let mut segments = base.to_vec();
        segments.push(&name);
        Ok(
            match self
                .submit(Method::PUT, &segments, &body, Resend::Safe)
                .await?
            {
                Submitted::Done => Ensured::AlreadyDone,
                Submitted::Started(id) => Ensured::Started(id),
            },
        )
    }

    #[instrument(skip_all, fields(service = SERVICE, container = %container.id), err)]
    async fn protectable_vms(
        &self,
        container: &Container,
    ) -> Result<Vec<ProtectableVm>, FabricError> {
        let items: Vec<Resource<ProtectableItemProperties>> = self
            .list(&[
                "replicationFabrics",
                &container.site,
                "replicationProtectionContainers",
                &container.id,
                "replicationProtectableItems",
            ])
            .await?;
        Ok(items
            .into_iter()
            .map(|i| ProtectableVm {
                name: i.properties.friendly_name.unwrap_or_else(|| i.name.clone()),
                protected: i
                    .properties
                    .protection_status
                    .is_some_and(|s| s.eq_ignore_ascii_case("Protected")),
                readiness_errors: i.properties.protection_readiness_errors,
                vm_id: i.name,
            })
            .collect())
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn enable_protection(
        &self,
        item: &ItemRef,
        policy: &PolicyRef,
    ) -> Result<OperationId, FabricError> {
        let protectable = self.arm_id(&[
            "replicationFabrics",
            &item.site,
            "replicationProtectionContainers",
            &item.container,
            "replicationProtectableItems",
            &item.vm_id,
        ]);
        let body = json!({ "properties": {
            "policyId": policy.id,
            "protectableItemId": protectable,
            "providerSpecificDetails": { "instanceType": PROVIDER },
        }});
        // Re-sending the same PUT is answered without a new job: safe to retry.
        let submitted = self
            .submit(Method::PUT, &Self::item_path(item), &body, Resend::Safe)
            .await?;
        Ok(operation_id(submitted))
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn protection_status(
        &self,
        item: &ItemRef,
    ) -> Result<Option<ProtectionStatus>, FabricError> {
        let found: Option<Resource<ProtectedItemProperties>> =
            self.get(&Self::item_path(item)).await?;
        Ok(found.map(|r| status::protection_status(&r.properties)))
    }

    #[instrument(skip_all, fields(service = SERVICE, container = %container.id), err)]
    async fn protected_items(
        &self,
        container: &Container,
    ) -> Result<Vec<ProtectedItem>, FabricError> {
        let items: Vec<Resource<ProtectedItemProperties>> = self
            .list(&[
                "replicationFabrics",
                &container.site,
                "replicationProtectionContainers",
                &container.id,
                "replicationProtectedItems",
            ])
            .await?;
        Ok(items
            .into_iter()
            .map(|i| ProtectedItem {
                status: status::protection_status(&i.properties),
                name: i.properties.friendly_name.unwrap_or_else(|| i.name.clone()),
                item: ItemRef {
                    site: container.site.clone(),
                    container: container.id.clone(),
                    vm_id: i.name,
                },
            })
            .collect())
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn recovery_points(&self, item: &ItemRef) -> Result<Vec<RecoveryPoint>, FabricError> {
        let mut segments = Self::item_path(item).to_vec();
        segments.push("recoveryPoints");
        let points: Vec<Resource<RecoveryPointProperties>> = self.list(&segments).await?;
        Ok(points
            .into_iter()
            .filter_map(|p| {
                Some(RecoveryPoint {
                    time: p.properties.recovery_point_time?,
                    app_consistent: p
                        .properties
                        .recovery_point_type
                        .is_some_and(|t| t.eq_ignore_ascii_case("ApplicationConsistent")),
                    id: p.name,
                })
            })
            .collect())
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn test_failover(
        &self,
        item: &ItemRef,
        way: Direction,
        test_network_id: Option<&str>,
    ) -> Result<OperationId, FabricError> {
        let properties = match test_network_id {
            Some(network) => json!({ "failoverDirection": direction(way),
                "networkType": "VmNetworkAsInput", "networkId": network }),
            None => json!({ "failoverDirection": direction(way),
                "networkType": "NoNetworkAttachAsInput" }),
        };
        self.action(item, "testFailover", properties).await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn test_failover_cleanup(
        &self,
        item: &ItemRef,
        comment: &str,
    ) -> Result<OperationId, FabricError> {
        self.action(item, "testFailoverCleanup", json!({ "comments": comment }))
            .await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn planned_failover(
        &self,
        item: &ItemRef,
        way: Direction,
    ) -> Result<OperationId, FabricError> {
        self.action(
            item,
            "plannedFailover",
            json!({ "failoverDirection": direction(way) }),
        )
        .await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn unplanned_failover(
        &self,
        item: &ItemRef,
        way: Direction,
        source_site_available: bool,
    ) -> Result<OperationId, FabricError> {
        let source = if source_site_available {
            "Required"
        } else {
            "NotRequired"
        };
        self.action(
            item,
            "unplannedFailover",
            json!({ "failoverDirection": direction(way), "sourceSiteOperations": source }),
        )
        .await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn apply_recovery_point(
        &self,
        item: &ItemRef,
        point_id: &str,
    ) -> Result<OperationId, FabricError> {
        let point = if point_id.starts_with('/') {
            point_id.to_owned()
        } else {
            let mut segments = Self::item_path(item).to_vec();
            segments.extend(["recoveryPoints", point_id]);
            self.arm_id(&segments)
        };
        self.action(
            item,
            "applyRecoveryPoint",
            json!({ "recoveryPointId": point }),
        )
        .await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn commit(&self, item: &ItemRef) -> Result<OperationId, FabricError> {
        self.action(item, "failoverCommit", json!({})).await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn reprotect(&self, item: &ItemRef, way: Direction) -> Result<OperationId, FabricError> {
        self.action(
            item,
            "reProtect",
            json!({ "failoverDirection": direction(way) }),
        )
        .await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn disable_protection(&self, item: &ItemRef) -> Result<OperationId, FabricError> {
        self.action(
            item,
            "remove",
            json!({ "disableProtectionReason": "NotSpecified" }),
        )
        .await
    }

    #[instrument(skip_all, fields(service = SERVICE, operation = %id.as_str()), err)]
    async fn operation(&self, id: &OperationId) -> Result<OperationStatus, FabricError> {
        if id.as_str() == COMPLETED {
            return Ok(OperationStatus {
                state: OperationState::Succeeded,
                progress: Some(100),
                retry_after: None,
                tasks: Vec::new(),
            });
        }
        let mut url = self.followable(id.as_str())?;
        if !url.query_pairs().any(|(k, _)| k == "api-version") {
            url.query_pairs_mut()
                .append_pair("api-version", &self.api_version);
        }
        let response = self.call(Method::GET, &url, None, Resend::Safe).await?;
        let wait = retry_after(response.headers());
        let code = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            FabricError::protocol(SERVICE, url.as_str(), format!("reading the answer: {e}"))
        })?;
        let mut status = if code == reqwest::StatusCode::ACCEPTED {
            // A `Location` URL answers 202 while the operation runs.
            OperationStatus {
                state: OperationState::InProgress,
                progress: None,
                retry_after: None,
                tasks: Vec::new(),
            }
        } else if bytes.iter().all(u8::is_ascii_whitespace) {
            // …and 200 with an empty body (or the resource) once it is done.
            OperationStatus {
                state: OperationState::Succeeded,
                progress: Some(100),
                retry_after: None,
                tasks: Vec::new(),
            }
        } else {
            let value: Value = serde_json::from_slice(&bytes)
                .map_err(|e| FabricError::protocol(SERVICE, url.as_str(), e))?;
            let as_job = value
                .get("properties")
                .and_then(|p| p.get("state"))
                .is_some();
            if value.get("status").is_some() {
                let answer: AsyncOperation = tolerant::from_value(value)
                    .map_err(|e| FabricError::protocol(SERVICE, url.as_str(), e))?;
                status::async_status(&answer)
            } else if as_job {
                let job: Resource<JobProperties> = tolerant::from_value(value)
                    .map_err(|e| FabricError::protocol(SERVICE, url.as_str(), e))?;
                status::job_status(&job.properties)
            } else {
                // A Location URL answering with the finished resource.
                OperationStatus {
                    state: OperationState::Succeeded,
                    progress: Some(100),
                    retry_after: None,
                    tasks: Vec::new(),
                }
            }
        };
        // The job holds the tasks and the detailed errors; read it once the operation ended.
        if status.state.is_terminal() && status.tasks.is_empty() {
            if let Ok(Some(job)) = self.job(id).await {
                if matches!(status.state, OperationState::Failed { .. }) && job.state.is_terminal()
                {
                    status.state = job.state;
                }
                status.tasks = job.tasks;
                status.progress = job.progress.or(status.progress);
            }
        }
        status.retry_after = wait;
        Ok(status)
    }

    fn poll_limits(&self) -> PollLimits {
        self.poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_found_in_every_status_url_shape() {
        let base = "https://arm/subscriptions/s/resourceGroups/g/providers/Microsoft.RecoveryServices/vaults/v";
        assert_eq!(
            job_id(&format!(
                "{base}/replicationOperationStatus/j1?api-version=x"
            ))
            .as_deref(),
            Some("j1")
        );
        assert_eq!(
            job_id(&format!(
                "{base}/replicationJobs/j2/operationresults/j2?api-version=x"
            ))
            .as_deref(),
            Some("j2")
        );
        assert_eq!(job_id(COMPLETED), None);
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/asr");

    fn fixture(name: &str) -> Value {
        let text = std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn body(fixture: &Value) -> Vec<u8> {
        serde_json::to_vec(&fixture["responses"]["200"]["body"]).unwrap()
    }

    #[test]
    fn every_recorded_response_body_parses() {
        let mut files = 0;
        for entry in std::fs::read_dir(FIXTURES).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            files += 1;
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let recorded = fixture(&name);
            for (code, response) in recorded["responses"].as_object().unwrap() {
                let Some(body) = response.get("body") else {
                    continue;
                };
                let bytes = serde_json::to_vec(body).unwrap();
                let parsed = if name.starts_with("ReplicationJobs") {
                    read_job(&bytes).map(drop)
                } else if name.starts_with("ReplicationRecoveryPlans") {
                    tolerant::from_slice::<Resource<model::RecoveryPlanProperties>>(&bytes)
                        .map(drop)
                        .map_err(|e| FabricError::protocol(SERVICE, &name, e))
                } else if name.ends_with("_List.json") {
                    tolerant::from_slice::<List<ProtectedItemProperties>>(&bytes)
                        .map(drop)
                        .map_err(|e| FabricError::protocol(SERVICE, &name, e))
                } else {
                    read_protection_status(&bytes).map(drop)
                };
                assert!(parsed.is_ok(), "{name} {code}: {parsed:?}");
            }
        }
        assert!(files >= 5, "found only {files} fixtures");
    }

    #[test]
    fn the_recorded_planned_failover_waits_for_commit_on_the_recovery_side() {
        let s = read_protection_status(&body(&fixture(
            "ReplicationProtectedItems_PlannedFailover.json",
        )))
        .unwrap();
        assert_eq!(
            s.phase,
            crate::fabric::replication::Phase::FailedOver { planned: true }
        );
        assert_eq!(
            s.active_location,
            crate::fabric::replication::Location::Recovery
        );
        assert!(s.allows(&crate::fabric::replication::Operation::Commit));
        assert!(s.allows(&crate::fabric::replication::Operation::ChangeRecoveryPoint));
    }

    #[test]
    fn the_recorded_test_failover_waits_for_cleanup() {
        let s = read_protection_status(&body(&fixture(
            "ReplicationProtectedItems_TestFailover.json",
        )))
        .unwrap();
        assert_eq!(
            s.phase,
            crate::fabric::replication::Phase::TestFailoverRunning
        );
        assert_eq!(
            s.allowed,
            [crate::fabric::replication::Operation::TestFailoverCleanup]
        );
        assert_eq!(s.operation_in_progress.as_deref(), Some("TestFailover"));
    }

    #[test]
    fn the_recorded_protected_items_are_protected_on_the_primary() {
        let list: List<ProtectedItemProperties> =
            tolerant::from_slice(&body(&fixture("ReplicationProtectedItems_List.json"))).unwrap();
        assert!(!list.value.is_empty());
        for item in list.value {
            let s = status::protection_status(&item.properties);
            assert_eq!(s.phase, crate::fabric::replication::Phase::Protected);
            assert_eq!(s.operation_in_progress, None);
        }
    }

    #[test]
    fn the_recorded_job_maps_to_its_tasks_with_states() {
        let s = read_job(&body(&fixture("ReplicationJobs_Get.json"))).unwrap();
        assert_eq!(s.state, OperationState::Succeeded);
        assert_eq!(s.tasks.len(), 1);
        assert_eq!(s.tasks[0].name, "DeleteRecoveryPlanTask");
        assert_eq!(s.tasks[0].state, OperationState::Succeeded);
        assert!(s.tasks[0].started.is_some() && s.tasks[0].ended.is_some());
        assert_eq!(s.progress, Some(100));
    }

    #[test]
    fn the_recorded_recovery_plan_lists_the_service_groups_first() {
        let plan: Resource<model::RecoveryPlanProperties> =
            tolerant::from_slice(&body(&fixture("ReplicationRecoveryPlans_Create.json"))).unwrap();
        let info = plans::plan_info(plan);
        let kinds: Vec<_> = info.groups.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(kinds, ["Shutdown", "Failover", "Boot"]);
        assert_eq!(info.groups[2].1, ["f8491e4f-817a-40dd-a90c-af773978c75b"]);
    }

    #[test]
    fn arm_ids_compare_without_regard_to_case() {
        assert!(same_resource(
            "/Subscriptions/S/resourceGroups/G/providers/Microsoft.RecoveryServices/vaults/V/replicationPolicies/p",
            "/subscriptions/s/resourcegroups/g/providers/microsoft.recoveryservices/vaults/v/replicationPolicies/P",
        ));
        assert!(same_resource(
            "/subscriptions/s/x/replicationPolicies/p",
            "p"
        ));
        assert!(!same_resource(
            "/subscriptions/s/x/replicationPolicies/p",
            "/subscriptions/s/y/replicationPolicies/q"
        ));
    }
}
