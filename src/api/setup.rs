//! The admin API's provider setup: stamps and replication policies (cloud pairs are in
//! `cloud_pairs`, verify and live inventory in `stamp_checks`).
//!
//! Bodies are JSON or DataContract XML, read tolerantly (member names in any case). A stamp's
//! secrets (SPF password, WAP admin token) are write-only: answers say only whether one is set
//! (`HasSpfPassword`, `HasWapAdminToken`), and a PUT that omits one keeps it. Bad input is a 4xx
//! WAP Error and changes nothing.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use secrecy::SecretString;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::contract::{ContractError, FromWire, Node, Out, ToWire};
use crate::domain::{InitialReplicationMethod, ReplicationPolicy, SetupError, Stamp};
use crate::store::{Deletion, StoreError};

use super::AppState;
use super::error::ApiError;
use super::wire::{Negotiated, Reply, WapBody};

/// The stamp and policy routes, relative to `/admin`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_stamps, create_stamp))
        .routes(routes!(get_stamp, update_stamp, delete_stamp))
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, update_policy, delete_policy))
}

impl From<SetupError> for ApiError {
    fn from(err: SetupError) -> Self {
        Self::BadRequest(err.0)
    }
}

/// A stamp as the admin API shows it: never its secrets.
pub struct StampWire(pub Stamp);

/// Every stamp.
pub struct StampList(pub Vec<Stamp>);

impl ToWire for StampWire {
    const XML_ROOT: &'static str = "Stamp";

    fn to_wire(&self) -> Out {
        use secrecy::ExposeSecret as _;
        let s = &self.0;
        Out::Obj(vec![
            ("Id", Out::Str(s.id.to_string())),
            ("Name", Out::Str(s.name.clone())),
            ("SpfUrl", Out::Str(s.spf_url.clone())),
            ("SpfUsername", Out::Str(s.spf_username.clone())),
            (
                "HasSpfPassword",
                Out::Bool(!s.spf_password.expose_secret().is_empty()),
            ),
            (
                "SpfStampId",
                s.spf_stamp_id
                    .map_or(Out::Null, |id| Out::Str(id.to_string())),
            ),
            ("WapAdminUrl", Out::Str(s.wap_admin_url.clone())),
            (
                "HasWapAdminToken",
                Out::Bool(!s.wap_admin_token.expose_secret().is_empty()),
            ),
            ("TenantPortalUrl", Out::Str(s.tenant_portal_url.clone())),
            ("AutoFailover", Out::Bool(s.auto_failover)),
        ])
    }
}

impl ToWire for StampList {
    const XML_ROOT: &'static str = "Stamps";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "Stamp",
            items: self
                .0
                .iter()
                .map(|s| StampWire(s.clone()).to_wire())
                .collect(),
        }
    }
}

/// A stamp body: every member optional here; create requires what a stamp needs.
pub struct StampInput {
    name: Option<String>,
    spf_url: Option<String>,
    spf_username: Option<String>,
    spf_password: Option<SecretString>,
    wap_admin_url: Option<String>,
    wap_admin_token: Option<SecretString>,
    tenant_portal_url: Option<String>,
    auto_failover: Option<bool>,
}

impl FromWire for StampInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            name: node.optional_str(&["Name"])?,
            spf_url: node.optional_str(&["SpfUrl"])?,
            spf_username: node.optional_str(&["SpfUsername"])?,
            spf_password: node.optional_str(&["SpfPassword"])?.map(SecretString::from),
            wap_admin_url: node.optional_str(&["WapAdminUrl"])?,
            wap_admin_token: node
                .optional_str(&["WapAdminToken"])?
                .map(SecretString::from),
            tenant_portal_url: node.optional_str(&["TenantPortalUrl"])?,
            auto_failover: node.optional_bool(&["AutoFailover"])?,
        })
    }
}

/// A required member of a create body.
fn required<T>(value: Option<T>, name: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::BadRequest(format!("{name} is required.")))
}

/// The answer to a write the store refused because a unique rule holds.
fn conflict_or(err: StoreError, message: String) -> ApiError {
    match err {
        StoreError::Conflict => ApiError::Conflict(message),
        other => other.into(),
    }
}

/// The stamp `id` names, or 404.
pub(super) async fn stamp_by_id(state: &AppState, id: &str) -> Result<Stamp, ApiError> {
    let not_found = || ApiError::NotFound(format!("Stamp {id} is not known."));
    let uuid = Uuid::parse_str(id.trim()).map_err(|_| not_found())?;
    state.store.get_stamp(uuid).await?.ok_or_else(not_found)
}

/// `GET /admin/stamps`: every stamp, by name, without secrets.
#[utoipa::path(get, path = "/stamps", responses((status = 200, description = "The stamps.", body = Vec<super::schemas::Stamp>)))]
async fn list_stamps(
    State(state): State<AppState>,
    format: Negotiated,
) -> Result<Reply<StampList>, ApiError> {
    Ok(Reply::ok(
        format,
        StampList(state.store.list_stamps().await?),
    ))
}

/// `GET /admin/stamps/{id}`: one stamp, without secrets.
#[utoipa::path(get, path = "/stamps/{id}", params(("id" = String, Path, description = "The stamp (its id, a GUID).")), responses((status = 200, description = "The stamp.", body = super::schemas::Stamp)))]
async fn get_stamp(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<StampWire>, ApiError> {
    Ok(Reply::ok(
        format,
        StampWire(stamp_by_id(&state, &id).await?),
    ))
}

/// `POST /admin/stamps` with `Name`, `SpfUrl`, `SpfUsername`, `SpfPassword`, `WapAdminUrl`,
/// `WapAdminToken`, `TenantPortalUrl` and optionally `AutoFailover` (false): 201 with the stamp;
/// 409 when the name is taken.
#[utoipa::path(post, path = "/stamps", request_body = super::schemas::StampInput, responses((status = 201, description = "The stamp.", body = super::schemas::Stamp)))]
async fn create_stamp(
    State(state): State<AppState>,
    format: Negotiated,
    WapBody(input): WapBody<StampInput>,
) -> Result<Reply<StampWire>, ApiError> {
    let stamp = Stamp {
        id: Uuid::new_v4(),
        name: required(input.name, "Name")?,
        spf_url: required(input.spf_url, "SpfUrl")?,
        spf_username: required(input.spf_username, "SpfUsername")?,
        spf_password: required(input.spf_password, "SpfPassword")?,
        spf_stamp_id: None,
        wap_admin_url: required(input.wap_admin_url, "WapAdminUrl")?,
        wap_admin_token: required(input.wap_admin_token, "WapAdminToken")?,
        tenant_portal_url: required(input.tenant_portal_url, "TenantPortalUrl")?,
        // Automatic failover is never on unless the provider asks for it.
        auto_failover: input.auto_failover.unwrap_or(false),
    };
    stamp.validate()?;
    state
        .store
        .insert_stamp(&stamp)
        .await
        .map_err(|e| conflict_or(e, format!("A stamp named '{}' exists already.", stamp.name)))?;
    tracing::info!(stamp = %stamp.name, id = %stamp.id, "stamp registered");
    Ok(Reply::with_status(
        StatusCode::CREATED,
        format,
        StampWire(stamp),
    ))
}

/// `PUT /admin/stamps/{id}`: changes the members the body names; an omitted secret is kept.
/// A new SPF URL forgets the discovered SPF stamp id until the next verify.
#[utoipa::path(put, path = "/stamps/{id}", params(("id" = String, Path, description = "The stamp (its id, a GUID).")), request_body = super::schemas::StampInput, responses((status = 200, description = "The stamp.", body = super::schemas::Stamp)))]
async fn update_stamp(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
    WapBody(input): WapBody<StampInput>,
) -> Result<Reply<StampWire>, ApiError> {
    let mut stamp = stamp_by_id(&state, &id).await?;
    if let Some(url) = input.spf_url {
        if url != stamp.spf_url {
            stamp.spf_stamp_id = None;
        }
        stamp.spf_url = url;
    }
    stamp.name = input.name.unwrap_or(stamp.name);
    stamp.spf_username = input.spf_username.unwrap_or(stamp.spf_username);
    stamp.spf_password = input.spf_password.unwrap_or(stamp.spf_password);
    stamp.wap_admin_url = input.wap_admin_url.unwrap_or(stamp.wap_admin_url);
    stamp.wap_admin_token = input.wap_admin_token.unwrap_or(stamp.wap_admin_token);
    stamp.tenant_portal_url = input.tenant_portal_url.unwrap_or(stamp.tenant_portal_url);
    stamp.auto_failover = input.auto_failover.unwrap_or(stamp.auto_failover);
    stamp.validate()?;
    let found =
        state.store.update_stamp(&stamp).await.map_err(|e| {
            conflict_or(e, format!("A stamp named '{}' exists already.", stamp.name))
        })?;
    if !found {
        return Err(ApiError::NotFound(format!("Stamp {id} is not known.")));
    }
    Ok(Reply::ok(format, StampWire(stamp)))
}

/// `DELETE /admin/stamps/{id}`: 204; 409 naming the cloud pairs that still use it.
#[utoipa::path(delete, path = "/stamps/{id}", params(("id" = String, Path, description = "The stamp (its id, a GUID).")), responses((status = 204, description = "Deleted (or never known).")))]
async fn delete_stamp(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let stamp = stamp_by_id(&state, &id).await?;
    match state.store.delete_stamp(stamp.id).await? {
        Deletion::Deleted | Deletion::NotFound => Ok(StatusCode::NO_CONTENT),
        Deletion::InUse(pairs) => Err(in_use("Stamp", &stamp.name, &pairs)),
    }
}

fn in_use(kind: &str, name: &str, pairs: &[Uuid]) -> ApiError {
    let ids: Vec<String> = pairs.iter().map(Uuid::to_string).collect();
    ApiError::Conflict(format!(
        "{kind} '{name}' is used by cloud pair(s) {}; delete them first.",
        ids.join(", ")
    ))
}

/// A replication policy on the wire.
pub struct PolicyWire(pub ReplicationPolicy);

/// Every policy.
pub struct PolicyList(pub Vec<ReplicationPolicy>);

impl ToWire for PolicyWire {
    const XML_ROOT: &'static str = "ReplicationPolicy";

    fn to_wire(&self) -> Out {
        let p = &self.0;
        Out::Obj(vec![
            ("Name", Out::Str(p.name.clone())),
            (
                "CopyFrequencySeconds",
                Out::Int(p.copy_frequency_seconds.into()),
            ),
            ("RecoveryPoints", Out::Int(p.recovery_points.into())),
            (
                "AppConsistentFrequencyHours",
                Out::Int(p.app_consistent_frequency_hours.into()),
            ),
            (
                "InitialReplication",
                Out::Str(p.initial_replication.as_str().into()),
            ),
            ("Compression", Out::Bool(p.compression)),
        ])
    }
}

impl ToWire for PolicyList {
    const XML_ROOT: &'static str = "ReplicationPolicies";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "ReplicationPolicy",
            items: self
                .0
                .iter()
                .map(|p| PolicyWire(p.clone()).to_wire())
                .collect(),
        }
    }
}

/// A policy body; omitted settings keep their current value (or the default on create).
pub struct PolicyInput {
    name: Option<String>,
    copy_frequency_seconds: Option<i64>,
    recovery_points: Option<i64>,
    app_consistent_frequency_hours: Option<i64>,
    initial_replication: Option<String>,
    compression: Option<bool>,
}

impl FromWire for PolicyInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            name: node.optional_str(&["Name"])?,
            copy_frequency_seconds: node.optional_i64(&["CopyFrequencySeconds"])?,
            recovery_points: node.optional_i64(&["RecoveryPoints"])?,
            app_consistent_frequency_hours: node.optional_i64(&["AppConsistentFrequencyHours"])?,
            initial_replication: node.optional_str(&["InitialReplication"])?,
            compression: node.optional_bool(&["Compression"])?,
        })
    }
}

impl PolicyInput {
    /// `base` with the members this body names, checked.
    fn applied_to(self, mut base: ReplicationPolicy) -> Result<ReplicationPolicy, ApiError> {
        let number = |name: &str, value: i64| {
            u32::try_from(value).map_err(|_| {
                ApiError::BadRequest(format!("{name} {value} must be a whole number from 0."))
            })
        };
        if let Some(v) = self.copy_frequency_seconds {
            base.copy_frequency_seconds = number("CopyFrequencySeconds", v)?;
        }
        if let Some(v) = self.recovery_points {
            base.recovery_points = number("RecoveryPoints", v)?;
        }
        if let Some(v) = self.app_consistent_frequency_hours {
            base.app_consistent_frequency_hours = number("AppConsistentFrequencyHours", v)?;
        }
        if let Some(text) = self.initial_replication {
            base.initial_replication =
                InitialReplicationMethod::from_name(&text).ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "InitialReplication '{text}' is not one of OverNetwork, Offline."
                    ))
                })?;
        }
        if let Some(v) = self.compression {
            base.compression = v;
        }
        base.validate()?;
        Ok(base)
    }
}

async fn policy_by_name(state: &AppState, name: &str) -> Result<ReplicationPolicy, ApiError> {
    state
        .store
        .get_policy(name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Replication policy '{name}' is not known.")))
}

/// `GET /admin/policies`: every replication policy, by name.
#[utoipa::path(get, path = "/policies", responses((status = 200, description = "The policies.", body = Vec<super::schemas::ReplicationPolicy>)))]
async fn list_policies(
    State(state): State<AppState>,
    format: Negotiated,
) -> Result<Reply<PolicyList>, ApiError> {
    Ok(Reply::ok(
        format,
        PolicyList(state.store.list_policies().await?),
    ))
}

/// `GET /admin/policies/{name}`: one policy.
#[utoipa::path(get, path = "/policies/{name}", params(("name" = String, Path, description = "The replication policy name.")), responses((status = 200, description = "The policy.", body = super::schemas::ReplicationPolicy)))]
async fn get_policy(
    State(state): State<AppState>,
    format: Negotiated,
    Path(name): Path<String>,
) -> Result<Reply<PolicyWire>, ApiError> {
    Ok(Reply::ok(
        format,
        PolicyWire(policy_by_name(&state, &name).await?),
    ))
}

/// `POST /admin/policies` with `Name` and any of `CopyFrequencySeconds` (30|300|900, default 300),
/// `RecoveryPoints` (0..24, 4), `AppConsistentFrequencyHours` (0..12, 1), `InitialReplication`
/// (`OverNetwork`|`Offline`), `Compression` (true): 201; 409 when the name is taken.
#[utoipa::path(post, path = "/policies", request_body = super::schemas::ReplicationPolicyInput, responses((status = 201, description = "The policy.", body = super::schemas::ReplicationPolicy)))]
async fn create_policy(
    State(state): State<AppState>,
    format: Negotiated,
    WapBody(mut input): WapBody<PolicyInput>,
) -> Result<Reply<PolicyWire>, ApiError> {
    let name = required(input.name.take(), "Name")?;
    let policy = input.applied_to(ReplicationPolicy {
        name,
        copy_frequency_seconds: 300,
        recovery_points: 4,
        app_consistent_frequency_hours: 1,
        initial_replication: InitialReplicationMethod::OverNetwork,
        compression: true,
    })?;
    state.store.insert_policy(&policy).await.map_err(|e| {
        conflict_or(
            e,
            format!(
                "A replication policy named '{}' exists already.",
                policy.name
            ),
        )
    })?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        format,
        PolicyWire(policy),
    ))
}

/// `PUT /admin/policies/{name}`: changes the settings the body names (the name stays) and starts
/// a `pair_clouds` job for every pair that uses the policy, which applies them in the vault.
#[utoipa::path(put, path = "/policies/{name}", params(("name" = String, Path, description = "The replication policy name.")), request_body = super::schemas::ReplicationPolicyInput, responses((status = 200, description = "The policy.", body = super::schemas::ReplicationPolicy)))]
async fn update_policy(
    State(state): State<AppState>,
    format: Negotiated,
    Path(name): Path<String>,
    WapBody(input): WapBody<PolicyInput>,
) -> Result<Reply<PolicyWire>, ApiError> {
    let current = policy_by_name(&state, &name).await?;
    if let Some(body_name) = &input.name {
        if !body_name.eq_ignore_ascii_case(&current.name) {
            return Err(ApiError::BadRequest(format!(
                "Name '{body_name}' differs from the policy's name '{}'; a policy cannot be renamed.",
                current.name
            )));
        }
    }
    let policy = input.applied_to(current)?;
    if !state.store.update_policy(&policy).await? {
        return Err(ApiError::NotFound(format!(
            "Replication policy '{name}' is not known."
        )));
    }
    // The vault holds the settings per policy: re-apply them through every pair that uses it.
    let pairs = state.store.list_cloud_pairs().await?;
    for pair in pairs
        .iter()
        .filter(|p| p.policy.eq_ignore_ascii_case(&policy.name))
    {
        let reason = format!("apply the changed policy '{}'", policy.name);
        super::cloud_pairs::start_pairing(&state, pair, reason, None).await?;
    }
    Ok(Reply::ok(format, PolicyWire(policy)))
}

/// `DELETE /admin/policies/{name}`: 204; 409 naming the cloud pairs that still use it.
#[utoipa::path(delete, path = "/policies/{name}", params(("name" = String, Path, description = "The replication policy name.")), responses((status = 204, description = "Deleted (or never known).")))]
async fn delete_policy(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let policy = policy_by_name(&state, &name).await?;
    match state.store.delete_policy(&policy.name).await? {
        Deletion::Deleted | Deletion::NotFound => Ok(StatusCode::NO_CONTENT),
        Deletion::InUse(pairs) => Err(in_use("Replication policy", &policy.name, &pairs)),
    }
}
