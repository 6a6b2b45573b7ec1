//! The WAP admin API client of one stamp (`schemas/fabric-http.md` §2): users, plans, add-ons,
//! subscriptions (created with a chosen id, suspended, re-admined, deleted) and RP registration.
//!
//! Bearer token plus `x-ms-principal-id` on every call; Json.NET bodies with integer enums.
//! It never decides: a 409 on create is returned as `Conflict` and the caller looks before it
//! acts. It must never log or return the admin token.

mod model;

use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::instrument;

pub use model::{
    AddOnReference, AdminSubscription, AdminSubscriptionState, NewUser, Plan, PlanAddOn, PlanState,
    ServiceQuota, Setting, User, UserState, VM_CLOUDS_SERVICE,
};

use super::retry::{Resend, RetryPolicy};
use super::{FabricError, HttpSettings, tolerant};
use crate::contract::{self, AzureProvisioningInfo, Format, ResourceProvider};
use crate::domain::SubscriptionId;

/// The service name in errors and traces.
pub(crate) const SERVICE: &str = "WAP admin API";

/// How many items a listing asks for per page.
const PAGE_SIZE: usize = 100;

/// Which subscriptions to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionQuery {
    /// Those of this user (account admin).
    pub user_id: Option<String>,
    /// Those of this plan.
    pub plan_id: Option<String>,
}

/// The status a subscription can be set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    /// In use.
    Active,
    /// Suspended: tenants cannot use it.
    Suspended,
}

/// A client of one stamp's WAP admin API.
#[derive(Debug, Clone)]
pub struct WapAdminClient {
    base: Url,
    /// The name errors and traces give this API (`WAP admin API of stamp B`).
    service: String,
    token: SecretString,
    principal: String,
    http: reqwest::Client,
    policy: RetryPolicy,
}

impl WapAdminClient {
    /// A client of `base_url` (`https://adminapi:30004/`) acting as `principal` with `token`.
    pub fn new(
        base_url: &str,
        token: SecretString,
        principal: &str,
        settings: &HttpSettings,
        policy: RetryPolicy,
    ) -> Result<Self, FabricError> {
        Ok(Self {
            base: super::base_url(SERVICE, base_url)?,
            service: SERVICE.to_owned(),
            token,
            principal: principal.to_owned(),
            http: settings.build_client(SERVICE)?,
            policy,
        })
    }

    /// The same client, named `name` (`"WAP admin API of stamp B"`) in errors and traces.
    pub fn named(mut self, name: &str) -> Self {
        self.service = name.to_owned();
        self
    }

    /// Reads a user; `None` if there is none with this name.
    #[instrument(skip_all, fields(service = %self.service), err)]
    pub async fn get_user(&self, name: &str) -> Result<Option<User>, FabricError> {
        self.get_optional(&["users", name]).await
    }

    /// Creates a user (409 → `Conflict`: it exists).
    #[instrument(skip_all, fields(service = %self.service), err)]
    pub async fn create_user(&self, user: &NewUser) -> Result<User, FabricError> {
        let body = serde_json::to_vec(user)
            .map_err(|e| FabricError::protocol(&self.service, "users", e))?;
        self.post(&["users"], body, Resend::Unsafe).await
    }

    /// Lists every plan.
    #[instrument(skip_all, fields(service = %self.service), err)]
    pub async fn list_plans(&self) -> Result<Vec<Plan>, FabricError> {
        self.list(&["plans"], &[]).await
    }

    /// Reads a plan; `None` if there is none with this id.
    #[instrument(skip_all, fields(service = %self.service, plan_id = id), err)]
    pub async fn get_plan(&self, id: &str) -> Result<Option<Plan>, FabricError> {
        self.get_optional(&["plans", id]).await
    }

    /// Lists every plan add-on.
    #[instrument(skip_all, fields(service = %self.service), err)]
    pub async fn list_add_ons(&self) -> Result<Vec<PlanAddOn>, FabricError> {
        self.list(&["addons"], &[]).await
    }

    /// Reads a plan add-on; `None` if there is none with this id.
    #[instrument(skip_all, fields(service = %self.service, add_on_id = id), err)]
    pub async fn get_add_on(&self, id: &str) -> Result<Option<PlanAddOn>, FabricError> {
        self.get_optional(&["addons", id]).await
    }

    /// Reads a subscription; `None` if there is none with this id.
    #[instrument(skip_all, fields(service = %self.service, subscription_id = %id), err)]
    pub async fn get_subscription(
        &self,
        id: SubscriptionId,
    ) -> Result<Option<AdminSubscription>, FabricError> {
        self.get_optional(&["subscriptions", &id.to_string()]).await
    }

    /// Lists the subscriptions matching `query`, every page.
    #[instrument(skip_all, fields(service = %self.service), err)]
    pub async fn list_subscriptions(
        &self,
        query: &SubscriptionQuery,
    ) -> Result<Vec<AdminSubscription>, FabricError> {
        let mut params = Vec::new();
        if let Some(user) = &query.user_id {
            params.push(("userId", user.as_str()));
        }
        if let Some(plan) = &query.plan_id {
            params.push(("planId", plan.as_str()));
        }
        self.list(&["subscriptions"], &params).await
    }

    /// Creates a subscription with the id the caller chose. A 409 means it exists already and
    /// is returned as `Conflict`: the caller looks before acting.
    #[instrument(skip_all, fields(service = %self.service, subscription_id = %info.subscription_id), err)]
    pub async fn create_subscription(
        &self,
        info: &AzureProvisioningInfo,
    ) -> Result<AdminSubscription, FabricError> {
        let body = contract::encode(Format::Json, info);
        self.post(&["subscriptions"], body, Resend::Unsafe).await
    }

    /// Activates or suspends a subscription.
    #[instrument(skip_all, fields(service = %self.service, subscription_id = %id), err)]
    pub async fn set_subscription_status(
        &self,
        id: SubscriptionId,
        status: SubscriptionStatus,
    ) -> Result<AdminSubscription, FabricError> {
        let mut info = patch_info(id);
        info.status = Some(
            match status {
                SubscriptionStatus::Active => "Active",
                SubscriptionStatus::Suspended => "Suspended",
            }
            .to_owned(),
        );
        self.patch(id, &info).await
    }

    /// Replaces a subscription's co-administrators.
    #[instrument(skip_all, fields(service = %self.service, subscription_id = %id), err)]
    pub async fn set_co_admins(
        &self,
        id: SubscriptionId,
        names: &[String],
    ) -> Result<AdminSubscription, FabricError> {
        let mut info = patch_info(id);
        info.co_admin_names = Some(names.to_vec());
        self.patch(id, &info).await
    }

    /// Deletes a subscription; deleting one that is already gone succeeds.
    #[instrument(skip_all, fields(service = %self.service, subscription_id = %id), err)]
    pub async fn delete_subscription(&self, id: SubscriptionId) -> Result<(), FabricError> {
        let url = self.url(&["subscriptions", &id.to_string()])?;
        match self.call(Method::DELETE, url, None, Resend::Safe).await {
            Ok(_) | Err(FabricError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Registers a resource provider (409 → `Conflict`: one with this name exists).
    #[instrument(skip_all, fields(service = %self.service, name = %provider.name), err)]
    pub async fn register_resource_provider(
        &self,
        provider: &ResourceProvider,
    ) -> Result<(), FabricError> {
        let url = self.url(&["resourceproviders"])?;
        let body = contract::encode(Format::Json, provider);
        self.call(Method::POST, url, Some(body), Resend::Unsafe)
            .await
            .map(drop)
    }

    async fn patch(
        &self,
        id: SubscriptionId,
        info: &AzureProvisioningInfo,
    ) -> Result<AdminSubscription, FabricError> {
        let url = self.url(&["subscriptions", &id.to_string()])?;
        let body = contract::encode(Format::Json, info);
        // A PATCH sets values; sending it twice leaves the same subscription.
        let response = self
            .call(Method::PATCH, url.clone(), Some(body), Resend::Safe)
            .await?;
        read(&self.service, &url, response).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &[&str],
        body: Vec<u8>,
        resend: Resend,
    ) -> Result<T, FabricError> {
        let url = self.url(path)?;
        let response = self
            .call(Method::POST, url.clone(), Some(body), resend)
            .await?;
        read(&self.service, &url, response).await
    }

    async fn get_optional<T: DeserializeOwned>(
        &self,
        path: &[&str],
    ) -> Result<Option<T>, FabricError> {
        let url = self.url(path)?;
        match self
            .call(Method::GET, url.clone(), None, Resend::Safe)
            .await
        {
            Ok(response) => Ok(Some(read(&self.service, &url, response).await?)),
            Err(FabricError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list<T: DeserializeOwned>(
        &self,
        path: &[&str],
        params: &[(&str, &str)],
    ) -> Result<Vec<T>, FabricError> {
        #[derive(serde::Deserialize)]
        struct Collection {
            #[serde(default)]
            items: Vec<Value>,
            #[serde(default)]
            filtered_total_count: Option<usize>,
        }
        let mut out = Vec::new();
        loop {
            let mut url = self.url(path)?;
            {
                let mut query = url.query_pairs_mut();
                for (name, value) in params {
                    query.append_pair(name, value);
                }
                query
                    .append_pair("skip", &out.len().to_string())
                    .append_pair("take", &PAGE_SIZE.to_string());
            }
            let response = self
                .call(Method::GET, url.clone(), None, Resend::Safe)
                .await?;
            let page: Collection = read(&self.service, &url, response).await?;
            let received = page.items.len();
            for item in page.items {
                out.push(
                    tolerant::from_value(item)
                        .map_err(|e| FabricError::protocol(&self.service, url.as_str(), e))?,
                );
            }
            let total = page.filtered_total_count.unwrap_or(out.len());
            // A short or empty page also ends the listing, so a miscounting server cannot loop us.
            if received == 0 || received < PAGE_SIZE || out.len() >= total {
                return Ok(out);
            }
        }
    }

    fn url(&self, segments: &[&str]) -> Result<Url, FabricError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| FabricError::config(&self.service, "base URL cannot have a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    /// Sends one request through the retry policy and maps an error answer to a [`FabricError`].
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        resend: Resend,
    ) -> Result<reqwest::Response, FabricError> {
        let mut token = reqwest::header::HeaderValue::try_from(format!(
            "Bearer {}",
            self.token.expose_secret()
        ))
        .map_err(|_| {
            FabricError::config(&self.service, "the admin token is not a valid header value")
        })?;
        token.set_sensitive(true);
        let mut request = self
            .http
            .request(method, url.clone())
            .header(reqwest::header::AUTHORIZATION, token)
            .header("x-ms-principal-id", &self.principal)
            .header(reqwest::header::ACCEPT, "application/json");
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
        let (code, message) = read_error(&body);
        Err(FabricError::from_status(
            &self.service,
            url.as_str(),
            status,
            code,
            message,
        ))
    }
}

/// A PATCH body that changes nothing but what the caller then sets.
fn patch_info(id: SubscriptionId) -> AzureProvisioningInfo {
    AzureProvisioningInfo {
        account_admin_live_email_id: None,
        account_admin_live_puid: None,
        account_id: None,
        friendly_name: None,
        offer_category: None,
        offer_info: None,
        offer_type: 0,
        reason_code: None,
        service_admin_live_email_id: None,
        service_admin_live_puid: None,
        subscription_id: id,
        status: None,
        plan_id: None,
        co_admin_names: None,
    }
}

async fn read<T: DeserializeOwned>(
    service: &str,
    url: &Url,
    response: reqwest::Response,
) -> Result<T, FabricError> {
    let body = response.bytes().await.map_err(|e| {
        FabricError::protocol(service, url.as_str(), format!("reading the answer: {e}"))
    })?;
    tolerant::from_slice(&body).map_err(|e| FabricError::protocol(service, url.as_str(), e))
}

/// The `(Code, Message)` of WAP's `Error` body, in any member case.
fn read_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let value = tolerant::normalise(value);
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    (text("code"), text("message"))
}
