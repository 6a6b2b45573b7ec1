//! The SPF VMM OData client of one stamp (`schemas/fabric-http.md` §1): VMs, clouds, VM networks
//! and subnets, user roles and stamps, over HTTP Basic.
//!
//! It asks for `application/json;odata=minimalmetadata`, follows `odata.nextLink` (same origin
//! only), reads tolerantly, and maps a 404 on a keyed read to `Ok(None)`. It must never log or
//! return the password, and never decides anything: it only reports what SPF says.

mod model;

use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

pub use model::{
    Cloud, NewUserRole, NewVm, NewVmNetwork, NewVmSubnet, Owner, Stamp, UserRole, Vm, VmNetwork,
    VmSubnet,
};

use super::odata::{self, Cmp, Filter, Literal};
use super::retry::{Resend, RetryPolicy};
use super::{FabricError, HttpSettings, same_origin};

/// The OData format wapdr asks for: JSON light with only the annotations it needs.
const ACCEPT: &str = "application/json;odata=minimalmetadata";

/// The most pages a listing follows: 500 entities a page makes this a million entities, far
/// beyond any stamp, so hitting it means a service handing out next links in a loop.
const MAX_PAGES: usize = 2000;

/// Which VMs to list; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VmQuery {
    /// On this stamp.
    pub stamp_id: Option<Uuid>,
    /// In this cloud.
    pub cloud_id: Option<Uuid>,
    /// Owned by this user role (a WAP subscription).
    pub owner_role_id: Option<Uuid>,
    /// With this Hyper-V id (a primary and its replica share it).
    pub vm_id: Option<String>,
    /// Changed after this time.
    pub modified_since: Option<OffsetDateTime>,
    /// Replicas only (`true`) or originals only (`false`).
    pub is_recovery_vm: Option<bool>,
}

impl VmQuery {
    /// The `$filter` for this query, if it has any condition.
    pub fn filter(&self) -> Option<Filter> {
        let mut parts = Vec::new();
        if let Some(id) = self.stamp_id {
            parts.push(Filter::eq("StampId", Literal::Guid(id)));
        }
        if let Some(id) = self.cloud_id {
            parts.push(Filter::eq("CloudId", Literal::Guid(id)));
        }
        if let Some(id) = self.owner_role_id {
            parts.push(Filter::eq("Owner/RoleID", Literal::Guid(id)));
        }
        if let Some(vm_id) = &self.vm_id {
            // Hyper-V ids are GUIDs; a text literal would not compare equal to an Edm.Guid.
            let literal = match Uuid::parse_str(vm_id.trim()) {
                Ok(id) => Literal::Guid(id),
                Err(_) => Literal::Text(vm_id.clone()),
            };
            parts.push(Filter::eq("VMId", literal));
        }
        if let Some(since) = self.modified_since {
            parts.push(Filter::compare(
                "ModifiedTime",
                Cmp::Gt,
                Literal::DateTime(since),
            ));
        }
        if let Some(flag) = self.is_recovery_vm {
            parts.push(Filter::eq("IsRecoveryVM", Literal::Bool(flag)));
        }
        Filter::all(parts)
    }
}

/// Which VM networks to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkQuery {
    /// On this stamp.
    pub stamp_id: Option<Uuid>,
    /// Owned by this user role.
    pub owner_role_id: Option<Uuid>,
}

/// The power operations SPF accepts through a VM's write-only `Operation` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmOperation {
    /// Power on.
    Start,
    /// Power off (hard).
    Stop,
    /// Shut down the guest.
    Shutdown,
}

impl VmOperation {
    fn as_str(self) -> &'static str {
        match self {
            Self::Start => "Start",
            Self::Stop => "Stop",
            Self::Shutdown => "Shutdown",
        }
    }
}

/// A client of one stamp's SPF VMM OData service.
#[derive(Debug, Clone)]
pub struct SpfClient {
    service: String,
    base: Url,
    username: String,
    password: SecretString,
    http: reqwest::Client,
    policy: RetryPolicy,
}

impl SpfClient {
    /// A client of the service root `base_url` (`…/SC2012R2/VMM/Microsoft.Management.Odata.svc/`).
    pub fn new(
        base_url: &str,
        username: &str,
        password: SecretString,
        settings: &HttpSettings,
        policy: RetryPolicy,
    ) -> Result<Self, FabricError> {
        let service = "SPF".to_owned();
        Ok(Self {
            base: super::base_url(&service, base_url)?,
            http: settings.build_client(&service)?,
            service,
            username: username.to_owned(),
            password,
            policy,
        })
    }

    /// The same client, named `name` (`"SPF stamp A"`) in errors and traces.
    pub fn named(mut self, name: &str) -> Self {
        self.service = name.to_owned();
        self
    }

    /// Lists the VMs matching `query`, following every next link.
    #[instrument(skip_all, fields(service = %self.service), err)]
    pub async fn list_vms(&self, query: &VmQuery) -> Result<Vec<Vm>, FabricError> {
        self.list("VirtualMachines", query.filter()).await
    }

    /// Reads one VM; `None` if the stamp has no such VM.
    #[instrument(skip_all, fields(service = %self.service, %stamp_id, %id), err)]
    pub async fn get_vm(&self, stamp_id: Uuid, id: Uuid) -> Result<Option<Vm>, FabricError> {
        self.get_entity(&format!(
            "VirtualMachines{}",
            odata::stamped_key(id, stamp_id)
        ))
        .await
    }

    /// Creates a VM; it starts as `Creating...` and becomes `Running` later.
    #[instrument(skip_all, fields(service = %self.service, stamp_id = %vm.stamp_id), err)]
    pub async fn create_vm(&self, vm: &NewVm) -> Result<Vm, FabricError> {
        self.create("VirtualMachines", vm).await
    }

    /// Hands a VM to another owner (`MERGE` of `Owner`).
    #[instrument(skip_all, fields(service = %self.service, %stamp_id, %id), err)]
    pub async fn set_vm_owner(
        &self,
        stamp_id: Uuid,
        id: Uuid,
        owner: &Owner,
    ) -> Result<(), FabricError> {
        self.merge_vm(stamp_id, id, json!({ "Owner": owner })).await
    }

    /// Sets a VM's `Tag`.
    #[instrument(skip_all, fields(service = %self.service, %stamp_id, %id), err)]
    pub async fn set_vm_tag(&self, stamp_id: Uuid, id: Uuid, tag: &str) -> Result<(), FabricError> {
        self.merge_vm(stamp_id, id, json!({ "Tag": tag })).await
    }

    /// Starts, stops or shuts down a VM.
    #[instrument(skip_all, fields(service = %self.service, %stamp_id, %id, operation = operation.as_str()), err)]
    pub async fn vm_operation(
        &self,
        stamp_id: Uuid,
        id: Uuid,
        operation: VmOperation,
    ) -> Result<(), FabricError> {
        self.merge_vm(stamp_id, id, json!({ "Operation": operation.as_str() }))
            .await
    }

    /// Deletes a VM; deleting one that is already gone succeeds.
    #[instrument(skip_all, fields(service = %self.service, %stamp_id, %id), err)]
    pub async fn delete_vm(&self, stamp_id: Uuid, id: Uuid) -> Result<(), FabricError> {
        let url = self.url(&format!(
            "VirtualMachines{}",
            odata::stamped_key(id, stamp_id)
        ))?;
        match self.call(Method::DELETE, url, None, Resend::Safe).await {
            Ok(_) | Err(FabricError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Lists the clouds of a stamp.
    #[instrument(skip_all, fields(service = %self.service, %stamp_id), err)]
    pub async fn list_clouds(&self, stamp_id: Uuid) -> Result<Vec<Cloud>, FabricError> {
        let filter = Filter::eq("StampId", Literal::Guid(stamp_id));
        self.list("Clouds", Some(filter)).await
    }

    /// Lists the VM networks matching `query`.
    #[instrument(skip_all, fields(service = %self.service), err)]
    pub async fn list_vm_networks(
        &self,
        query: &NetworkQuery,
    ) -> Result<Vec<VmNetwork>, FabricError> {
        let filter = Filter::all(
            [
                query
                    .stamp_id
                    .map(|id| Filter::eq("StampId", Literal::Guid(id))),
                query
                    .owner_role_id
                    .map(|id| Filter::eq("Owner/RoleID", Literal::Guid(id))),
            ]
            .into_iter()
            .flatten(),
        );
        self.list("VMNetworks", filter).await
    }

    /// Creates a VM network.
    #[instrument(skip_all, fields(service = %self.service, stamp_id = %network.stamp_id), err)]
    pub async fn create_vm_network(
        &self,
        network: &NewVmNetwork,
    ) -> Result<VmNetwork, FabricError> {
        self.create("VMNetworks", network).await
    }

    /// Lists the subnets of a VM network.
    #[instrument(skip_all, fields(service = %self.service, %stamp_id, %network_id), err)]
    pub async fn list_vm_subnets(
        &self,
        stamp_id: Uuid,
        network_id: Uuid,
    ) -> Result<Vec<VmSubnet>, FabricError> {
        let filter = Filter::eq("StampId", Literal::Guid(stamp_id))
            .and(Filter::eq("VMNetworkId", Literal::Guid(network_id)));
        self.list("VMSubnets", Some(filter)).await
    }

    /// Creates a subnet in a VM network.
    #[instrument(skip_all, fields(service = %self.service, stamp_id = %subnet.stamp_id), err)]
    pub async fn create_vm_subnet(&self, subnet: &NewVmSubnet) -> Result<VmSubnet, FabricError> {
        self.create("VMSubnets", subnet).await
    }

    /// Reads a user role; `None` if there is none with this id.
    #[instrument(skip_all, fields(service = %self.service, %id), err)]
    pub async fn get_user_role(&self, id: Uuid) -> Result<Option<UserRole>, FabricError> {
        self.get_entity(&format!("UserRoles{}", odata::id_key(id)))
            .await
    }

    /// Creates a user role (a 409 means one with this id exists).
    #[instrument(skip_all, fields(service = %self.service, id = %role.id), err)]
    pub async fn create_user_role(&self, role: &NewUserRole) -> Result<UserRole, FabricError> {
        self.create("UserRoles", role).await
    }

    /// Lists the stamps SPF manages.
    #[instrument(skip_all, fields(service = %self.service), err)]
    pub async fn list_stamps(&self) -> Result<Vec<Stamp>, FabricError> {
        self.list("Stamps", None).await
    }

    async fn list<T: DeserializeOwned>(
        &self,
        collection: &str,
        filter: Option<Filter>,
    ) -> Result<Vec<T>, FabricError> {
        let mut url = self.url(collection)?;
        if let Some(filter) = filter {
            url.set_query(Some(&odata::encode_query([("$filter", filter.as_str())])));
        }
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let response = self
                .call(Method::GET, url.clone(), None, Resend::Safe)
                .await?;
            let body = self.body(&url, response).await?;
            let (entities, next_link) =
                odata::read_entities(&body).map_err(|e| self.protocol(&url, e))?;
            out.extend(entities);
            let Some(next) = next_link else {
                return Ok(out);
            };
            let next = url
                .join(&next)
                .map_err(|e| self.protocol(&url, format!("bad next link: {e}")))?;
            if !same_origin(&self.base, &next) {
                return Err(self.protocol(&url, "next link points to another host"));
            }
            url = next;
        }
        Err(self.protocol(&url, "too many pages"))
    }

    async fn get_entity<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, FabricError> {
        let url = self.url(path)?;
        match self
            .call(Method::GET, url.clone(), None, Resend::Safe)
            .await
        {
            Ok(response) => Ok(Some(self.read(&url, response).await?)),
            Err(FabricError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        collection: &str,
        body: &B,
    ) -> Result<T, FabricError> {
        let url = self.url(collection)?;
        let body = serde_json::to_vec(body).map_err(|e| self.protocol(&url, e))?;
        let response = self
            .call(Method::POST, url.clone(), Some(body), Resend::Unsafe)
            .await?;
        self.read(&url, response).await
    }

    async fn merge_vm(&self, stamp_id: Uuid, id: Uuid, body: Value) -> Result<(), FabricError> {
        let url = self.url(&format!(
            "VirtualMachines{}",
            odata::stamped_key(id, stamp_id)
        ))?;
        let merge = Method::from_bytes(b"MERGE").map_err(|e| self.protocol(&url, e))?;
        // MERGE sets the named properties to given values: sending it twice changes nothing more.
        self.call(
            merge,
            url,
            Some(body.to_string().into_bytes()),
            Resend::Safe,
        )
        .await
        .map(drop)
    }

    fn url(&self, path: &str) -> Result<Url, FabricError> {
        self.base
            .join(path)
            .map_err(|e| FabricError::config(&self.service, format!("path {path}: {e}")))
    }

    /// Sends one request through the retry policy and maps an error answer to a [`FabricError`].
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        resend: Resend,
    ) -> Result<reqwest::Response, FabricError> {
        let mut request = self
            .http
            .request(method, url.clone())
            .basic_auth(&self.username, Some(self.password.expose_secret()))
            .header(reqwest::header::ACCEPT, ACCEPT)
            .header("x-ms-version", "2014-02-01");
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let request = request
            .build()
            .map_err(|e| FabricError::config(&self.service, e))?;
        let response = self
            .policy
            .send(&self.http, &self.service, resend, request)
            .await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        let (code, message) = odata::read_error(&body);
        Err(FabricError::from_status(
            &self.service,
            url.as_str(),
            status,
            code,
            message,
        ))
    }

    async fn body(
        &self,
        url: &Url,
        response: reqwest::Response,
    ) -> Result<bytes::Bytes, FabricError> {
        response
            .bytes()
            .await
            .map_err(|e| self.protocol(url, format!("reading the answer: {e}")))
    }

    async fn read<T: DeserializeOwned>(
        &self,
        url: &Url,
        response: reqwest::Response,
    ) -> Result<T, FabricError> {
        let body = self.body(url, response).await?;
        odata::read_entity(&body).map_err(|e| self.protocol(url, e))
    }

    fn protocol(&self, url: &Url, detail: impl std::fmt::Display) -> FabricError {
        FabricError::protocol(&self.service, url.as_str(), detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fabric::tolerant;

    #[test]
    fn a_vm_query_filters_on_every_condition_given() {
        let stamp = Uuid::from_u128(1);
        let role = Uuid::from_u128(2);
        let query = VmQuery {
            stamp_id: Some(stamp),
            owner_role_id: Some(role),
            vm_id: Some("6D224FC6-F326-5D35-96DE-FBF51EFB3179".into()),
            is_recovery_vm: Some(false),
            modified_since: Some(time::macros::datetime!(2026-11-22 10:00:00 UTC)),
            ..VmQuery::default()
        };
        assert_eq!(
            query.filter().unwrap().as_str(),
            "StampId eq guid'00000000-0000-0000-0000-000000000001' \
             and Owner/RoleID eq guid'00000000-0000-0000-0000-000000000002' \
             and VMId eq guid'6d224fc6-f326-5d35-96de-fbf51efb3179' \
             and ModifiedTime gt datetime'2026-11-22T10:00:00' and IsRecoveryVM eq false"
        );
        assert_eq!(VmQuery::default().filter(), None);
    }

    #[test]
    fn a_vm_reads_from_full_metadata_with_int64_as_text() {
        let body = br#"{"odata.metadata":"m#VirtualMachines/@Element","odata.type":"VMM.VirtualMachine",
            "odata.id":"x","ID":"6d224fc6-f326-5d35-96de-fbf51efb3179",
            "StampId":"{00000000-0000-0000-0000-000000000001}","Name":"web1","VMId":"AB",
            "Owner":{"UserName":"t@f.com","RoleName":"t@f.com_s","RoleID":"00000000-0000-0000-0000-000000000002"},
            "TotalSize":"42949672960","CPUCount":2,"Memory":"2048","IsRecoveryVM":false,
            "GrantedToList@odata.type":"Collection(VMM.UserAndRole)","GrantedToList":[],
            "ModifiedTime":"2026-11-22T10:00:00","Unknown":{"x":1}}"#;
        let vm: Vm = tolerant::from_slice(body).unwrap();
        assert_eq!(vm.name, "web1");
        assert_eq!(vm.stamp_id, Uuid::from_u128(1));
        assert_eq!(vm.total_size, Some(42_949_672_960));
        assert_eq!(vm.memory, Some(2048));
        assert_eq!(vm.owner.unwrap().role_id, Some(Uuid::from_u128(2)));
        assert_eq!(vm.is_recovery_vm, Some(false));
        assert!(vm.modified_time.is_some());
    }

    #[test]
    fn a_new_vm_is_written_in_the_contracts_pascal_case() {
        let vm = NewVm {
            stamp_id: Uuid::from_u128(1),
            cloud_id: Uuid::from_u128(2),
            name: "web1".into(),
            vm_id: Some("ab".into()),
            total_size: Some(10),
            cpu_count: Some(2),
            is_recovery_vm: Some(true),
            ..NewVm::default()
        };
        let value = serde_json::to_value(&vm).unwrap();
        assert_eq!(value["StampId"], "00000000-0000-0000-0000-000000000001");
        assert_eq!(value["VMId"], "ab");
        assert_eq!(value["TotalSize"], "10");
        assert_eq!(value["CPUCount"], 2);
        assert_eq!(value["IsRecoveryVM"], true);
        assert!(value.get("ID").is_none());
    }
}
