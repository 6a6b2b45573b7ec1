//! DR API test support (status, VM views, exclusion): two stamps and a DR subscription seeded
//! through the store, a stand-in `reconcile_vm` that records what it was started for, and requests
//! as the tenant or provider.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;
use wapdr::domain::{
    DrPhase, DrSubscription, MirrorState, ProtectedVm, QuotaSetting, QuotaSources, Stamp,
    Subscription, SubscriptionChanges, SubscriptionId, SubscriptionState, VmProtectionState,
};
use wapdr::engine::{Registry, StepContext, StepOutcome, StepSpec, Workflow};

use super::app::{Backend, TestApp};

pub const OWNER: &str = "owner@fabrikam.com";
pub const CO_ADMIN: &str = "ops@fabrikam.com";
pub const STRANGER: &str = "mallory@contoso.com";

/// Stands in for `reconcile_vm`: remembers the parameters of every run it executes.
#[derive(Clone, Default)]
pub struct RecordingReconcile(pub Arc<Mutex<Vec<Value>>>);

#[async_trait]
impl Workflow for RecordingReconcile {
    fn name(&self) -> &'static str {
        "reconcile_vm"
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![vec![StepSpec::new("reconcile", "reconcile")]]
    }

    async fn run_step(&self, ctx: &StepContext, _step: &StepSpec) -> StepOutcome {
        self.0.lock().unwrap().push(ctx.params.clone());
        StepOutcome::Done(json!("reconciled"))
    }
}

/// A wapdr with two stamps (A primary, B recovery) and one DR subscription of `OWNER` and
/// `CO_ADMIN`, with the given quota.
pub struct World {
    pub app: TestApp,
    pub reconciled: RecordingReconcile,
    pub a: Uuid,
    pub b: Uuid,
    pub pair: Uuid,
    pub sub: SubscriptionId,
}

/// A stamp named `name` with made-up URLs; its tenant portal is `https://portal-{name}`.
pub fn stamp(name: &str) -> Stamp {
    Stamp {
        id: Uuid::new_v4(),
        name: name.into(),
        spf_url: format!("https://spf-{name}/"),
        spf_username: "spf".into(),
        spf_password: SecretString::from("pw"),
        spf_stamp_id: None,
        wap_admin_url: format!("https://wap-{name}/"),
        wap_admin_token: SecretString::from("token"),
        tenant_portal_url: format!("https://portal-{name}"),
        auto_failover: false,
    }
}

/// The world: a fresh wapdr (with the stand-in `reconcile_vm` when asked), stamps A and B, and a
/// subscription of `OWNER` with `quota` whose DR is Enabled on a pair from A to B, active on A.
pub async fn world(
    backend: Backend,
    quota: &[(&str, &str)],
    with_reconcile: bool,
) -> Option<World> {
    let reconciled = RecordingReconcile::default();
    let registry = if with_reconcile {
        Registry::new().with(reconciled.clone())
    } else {
        Registry::new()
    };
    let app = TestApp::start_with_workflows(backend, registry).await?;
    let store = app.store();
    let (a, b) = (stamp("a"), stamp("b"));
    store.insert_stamp(&a).await.unwrap();
    store.insert_stamp(&b).await.unwrap();
    let sub = add_subscription(&app, quota).await;
    let pair = Uuid::new_v4();
    add_dr(&app, sub, DrPhase::Enabled, pair, (a.id, b.id), a.id).await;
    Some(World {
        app,
        reconciled,
        a: a.id,
        b: b.id,
        pair,
        sub,
    })
}

/// Stores an active subscription of `OWNER` (with `CO_ADMIN`), with the given quota.
pub async fn add_subscription(app: &TestApp, quota: &[(&str, &str)]) -> SubscriptionId {
    add_subscription_of(app, OWNER, quota).await
}

/// Stores an active subscription administered by `admin` (with `CO_ADMIN`), with the given quota.
pub async fn add_subscription_of(
    app: &TestApp,
    admin: &str,
    quota: &[(&str, &str)],
) -> SubscriptionId {
    let id = SubscriptionId::new_random();
    let settings = quota
        .iter()
        .map(|(k, v)| QuotaSetting::new(*k, *v))
        .collect();
    let sub = Subscription::created(
        id,
        SubscriptionChanges {
            name: Some("Gold".into()),
            state: Some(SubscriptionState::Active),
            admin_id: Some(admin.into()),
            co_admins: Some(vec![CO_ADMIN.into()]),
            quota: Some(QuotaSources::single(settings)),
        },
    );
    app.store().save_subscription(&sub).await.unwrap();
    id
}

/// Stores (or replaces) a subscription's DR record.
pub async fn add_dr(
    app: &TestApp,
    id: SubscriptionId,
    phase: DrPhase,
    pair: Uuid,
    (primary, recovery): (Uuid, Uuid),
    active: Uuid,
) {
    let mut dr = DrSubscription::enabling(id);
    dr.phase = phase;
    dr.pair_id = Some(pair);
    dr.primary_stamp_id = Some(primary);
    dr.recovery_stamp_id = Some(recovery);
    dr.active_stamp_id = Some(active);
    dr.mirror = MirrorState::Suspended;
    app.store().put_dr_subscription(&dr).await.unwrap();
}

impl World {
    /// Stores a VM record named `name` in `state`, changed by `edit`; returns its id.
    pub async fn vm(
        &self,
        name: &str,
        state: VmProtectionState,
        edit: impl FnOnce(&mut ProtectedVm),
    ) -> Uuid {
        let mut vm = ProtectedVm::pending(
            self.sub,
            Uuid::new_v4(),
            name.into(),
            self.a,
            Uuid::new_v4(),
            self.pair,
        );
        vm.state = state;
        edit(&mut vm);
        self.app.store().save_protected_vm(&vm).await.unwrap();
        vm.vm_id
    }

    pub async fn list(&self, query: String) -> (StatusCode, Value) {
        self.admin(Method::GET, &format!("/dr/subscriptions{query}"), None)
            .await
    }

    pub async fn record(&self, vm: Uuid) -> ProtectedVm {
        self.app
            .store()
            .get_protected_vm(self.sub, vm)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn now(&self) -> OffsetDateTime {
        self.app.store().database_now().await.unwrap()
    }

    pub async fn tenant(
        &self,
        method: Method,
        path: &str,
        who: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let request = self.app.tenant(
            method,
            &format!("/subscriptions/{}{path}", self.sub),
            Some(who),
        );
        send(request, body).await
    }

    pub async fn admin(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        send(self.app.admin(method, path), body).await
    }

    pub async fn protect(
        &self,
        vm: Uuid,
        who: Option<&str>,
        excluded: bool,
    ) -> (StatusCode, Value) {
        let body = Some(json!({"excluded": excluded}));
        match who {
            Some(who) => {
                self.tenant(Method::PUT, &format!("/vms/{vm}/protection"), who, body)
                    .await
            }
            None => {
                let path = format!("/subscriptions/{}/vms/{vm}/protection", self.sub);
                self.admin(Method::PUT, &path, body).await
            }
        }
    }

    /// Waits until the stand-in reconciliation has run for `vm` `times` times.
    pub async fn wait_reconciled(&self, vm: Uuid, times: usize) {
        let expected = json!({"subscriptionId": self.sub.to_string(), "vmId": vm.to_string()});
        for _ in 0..250 {
            let seen = self
                .reconciled
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|p| **p == expected)
                .count();
            if seen >= times {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("reconcile_vm did not run {times} time(s) for {vm}");
    }
}

/// Sends a request, with `body` as JSON; the status and the JSON answer (null when none).
pub async fn send(request: reqwest::RequestBuilder, body: Option<Value>) -> (StatusCode, Value) {
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The text of every leaf element of an XML document, by element name (panics when it does not
/// parse).
pub fn xml_leaves(xml: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let (mut open, mut leaves) = (Vec::<String>::new(), Vec::new());
    loop {
        match reader.read_event().unwrap_or_else(|e| panic!("{e}: {xml}")) {
            Event::Start(e) => open.push(String::from_utf8_lossy(e.local_name().as_ref()).into()),
            Event::Text(t) => {
                if let Some(name) = open.last() {
                    leaves.push((name.clone(), t.unescape().unwrap().into_owned()));
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed elements in {xml}");
    leaves
}

/// The texts of the leaves named `name`.
pub fn leaf<'a>(leaves: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    leaves
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}
