//! Builds the fabric clients of a stored stamp (SPF, WAP admin API) and holds the one replication
//! engine, so handlers and steps never assemble clients themselves.
//!
//! Clients are built per call from the stamp as stored, so a stamp's new URL or credentials take
//! effect at once; building one is cheap next to the calls it makes.

use std::sync::Arc;

use uuid::Uuid;

use crate::domain::{PlanBinding, Stamp, StampPlans};
use crate::fabric::{
    AlertClient, FabricError, HttpSettings, PlanWebhookClient, ReplicationEngine, RetryPolicy,
    SpfClient, WapAdminClient,
};

/// The principal wapdr acts as on a stamp's WAP admin API (`x-ms-principal-id`).
const WAP_ADMIN_PRINCIPAL: &str = "wapdr";

/// The fabric as provider setup and the workflows reach it.
#[derive(Clone)]
pub struct StampClients {
    http: HttpSettings,
    retry: RetryPolicy,
    replication: Option<Arc<dyn ReplicationEngine>>,
    alert_webhook: Option<String>,
}

impl StampClients {
    /// Clients with these transport settings and retries, and the replication engine if configured.
    pub fn new(
        http: HttpSettings,
        retry: RetryPolicy,
        replication: Option<Arc<dyn ReplicationEngine>>,
    ) -> Self {
        Self {
            http,
            retry,
            replication,
            alert_webhook: None,
        }
    }

    /// The same clients, posting alerts to `url` (`[alerts] webhook_url`).
    pub fn with_alert_webhook(mut self, url: Option<String>) -> Self {
        self.alert_webhook = url;
        self
    }

    /// The alert webhook's client, when one is configured.
    pub fn alerts(&self) -> Option<Result<AlertClient, FabricError>> {
        self.alert_webhook
            .as_deref()
            .map(|url| AlertClient::new(url, &self.http, self.retry.clone()))
    }

    /// The SPF client of a stamp, named `SPF stamp <name>` in errors.
    pub fn spf(&self, stamp: &Stamp) -> Result<SpfClient, FabricError> {
        Ok(SpfClient::new(
            &stamp.spf_url,
            &stamp.spf_username,
            stamp.spf_password.clone(),
            &self.http,
            self.retry.clone(),
        )?
        .named(&format!("SPF stamp {}", stamp.name)))
    }

    /// The WAP admin API client of a stamp.
    pub fn wap_admin(&self, stamp: &Stamp) -> Result<WapAdminClient, FabricError> {
        WapAdminClient::new(
            &stamp.wap_admin_url,
            stamp.wap_admin_token.clone(),
            WAP_ADMIN_PRINCIPAL,
            &self.http,
            self.retry.clone(),
        )
    }

    /// The client of recovery plans' script webhooks.
    pub fn plan_webhooks(&self) -> Result<PlanWebhookClient, FabricError> {
        PlanWebhookClient::new(&self.http)
    }

    /// The replication engine (the vault), when one is configured.
    pub fn replication(&self) -> Option<Arc<dyn ReplicationEngine>> {
        self.replication.clone()
    }

    /// The stamp's VM Clouds plans and the clouds each is bound to, read live from its WAP; plans
    /// without a VM Clouds binding cannot take part in a pair and are left out.
    pub async fn plans(&self, stamp: &Stamp) -> Result<StampPlans, FabricError> {
        let plans = self.wap_admin(stamp)?.list_plans().await?;
        let mut bindings = Vec::new();
        for plan in plans {
            let clouds: Vec<Uuid> = plan
                .vm_clouds_binding()?
                .into_iter()
                .map(|(_, cloud)| cloud)
                .collect();
            if !clouds.is_empty() {
                bindings.push(PlanBinding {
                    plan_id: plan.id,
                    plan_name: plan.display_name,
                    cloud_ids: clouds,
                });
            }
        }
        Ok(StampPlans {
            stamp_id: stamp.id,
            stamp_name: stamp.name.clone(),
            plans: bindings,
        })
    }
}
