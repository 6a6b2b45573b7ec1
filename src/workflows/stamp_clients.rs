//! Builds the fabric clients of a stored stamp (SPF, WAP admin API) and holds the one replication
//! engine, so handlers and steps never assemble clients themselves.
//!
//! Clients are built per call from the stamp as stored, so a stamp's new URL or credentials take
//! effect at once; building one is cheap next to the calls it makes. [`StampClients::probes`] gives
//! the same clients for the site heartbeat: short timeouts and one attempt, because a heartbeat
//! must answer within seconds and a retried probe would only hide the outage it looks for.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::fabric_refs::RefCache;
use crate::domain::{PlanBinding, Stamp, StampPlans};
use crate::fabric::{
    AlertClient, FabricError, HttpSettings, PlanWebhookClient, ReplicationEngine, RetryPolicy,
    SpfClient, WapAdminClient,
};

/// The principal wapdr acts as on a stamp's WAP admin API (`x-ms-principal-id`).
const WAP_ADMIN_PRINCIPAL: &str = "wapdr";

/// The longest a heartbeat probe's connection may take to open.
pub const PROBE_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest a heartbeat probe's request may take, answer included.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(4);

/// The transport settings of heartbeat probes: `http`'s trust, with the probe timeouts (or
/// `http`'s own, when shorter).
pub fn probe_http(http: &HttpSettings) -> HttpSettings {
    HttpSettings {
        connect_timeout: http.connect_timeout.min(PROBE_CONNECT_TIMEOUT),
        request_timeout: http.request_timeout.min(PROBE_TIMEOUT),
        ca_bundle: http.ca_bundle.clone(),
    }
}

/// The fabric as provider setup and the workflows reach it.
#[derive(Clone)]
pub struct StampClients {
    http: HttpSettings,
    retry: RetryPolicy,
    replication: Option<Arc<dyn ReplicationEngine>>,
    probe_replication: Option<Arc<dyn ReplicationEngine>>,
    alert_webhook: Option<String>,
    refs: Arc<RefCache>,
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
            probe_replication: None,
            alert_webhook: None,
            refs: Arc::default(),
        }
    }

    /// The same clients, with `engine` (the replication engine built with [`probe_http`] settings
    /// and one attempt) for heartbeat probes.
    pub fn with_probe_engine(mut self, engine: Option<Arc<dyn ReplicationEngine>>) -> Self {
        self.probe_replication = engine;
        self
    }

    /// The clients heartbeat probes use: [`probe_http`] timeouts, one attempt, the probe engine
    /// (or the usual one when none was given: the caller bounds its calls), no alert webhook.
    pub fn probes(&self) -> Self {
        Self {
            http: probe_http(&self.http),
            retry: RetryPolicy::no_retry(),
            replication: self
                .probe_replication
                .clone()
                .or_else(|| self.replication.clone()),
            probe_replication: None,
            alert_webhook: None,
            refs: Arc::clone(&self.refs),
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

    /// The WAP admin API client of a stamp, named `WAP admin API of stamp <name>` in errors, so a
    /// job whose stamp is cut off says which one.
    pub fn wap_admin(&self, stamp: &Stamp) -> Result<WapAdminClient, FabricError> {
        Ok(WapAdminClient::new(
            &stamp.wap_admin_url,
            stamp.wap_admin_token.clone(),
            WAP_ADMIN_PRINCIPAL,
            &self.http,
            self.retry.clone(),
        )?
        .named(&format!("WAP admin API of stamp {}", stamp.name)))
    }

    /// The client of recovery plans' script webhooks.
    pub fn plan_webhooks(&self) -> Result<PlanWebhookClient, FabricError> {
        PlanWebhookClient::new(&self.http)
    }

    /// The vault's references remembered for a while (shared by every clone).
    pub fn refs(&self) -> &RefCache {
        &self.refs
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_take_one_attempt_with_short_timeouts_and_post_no_alerts() {
        let clients = StampClients::new(HttpSettings::default(), RetryPolicy::default(), None)
            .with_alert_webhook(Some("https://hooks.example/a".into()));
        let probes = clients.probes();
        assert_eq!(probes.retry.max_attempts, 1);
        assert_eq!(probes.http.connect_timeout, PROBE_CONNECT_TIMEOUT);
        assert_eq!(probes.http.request_timeout, PROBE_TIMEOUT);
        assert!(probes.alerts().is_none());
        let quick = HttpSettings {
            connect_timeout: Duration::from_millis(100),
            ..HttpSettings::default()
        };
        assert_eq!(
            probe_http(&quick).connect_timeout,
            Duration::from_millis(100)
        );
    }
}
