//! The OpenAPI 3 description of the API, generated from the handlers' `#[utoipa::path]`
//! annotations as the router is built (one list of routes makes both, so nothing is served
//! undocumented), served at `GET /openapi.json`, printed by `wapdr openapi` and kept in
//! `schemas/openapi.json`.
//!
//! What every operation of an endpoint shares is added here, where the endpoint's credentials
//! are applied: its Basic security scheme (and the tenant's `x-ms-principal-id`), its tag, the
//! tenant's `{subid}` and the WAP `Error` of its 4xx answers.

use axum::http::header::CONTENT_TYPE;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, OpenApi as Document, Ref, Required, ResponseBuilder, SecurityRequirement,
};
use utoipa::{OpenApi, PartialSchema};
use utoipa_axum::router::OpenApiRouter;

use super::AppState;
use super::auth::PRINCIPAL_HEADER;

/// The API's endpoints, each with its own Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// WAP service management: subscriptions and quota.
    Notification,
    /// WAP's usage collector.
    Usage,
    /// The provider's admin API.
    Admin,
    /// A tenant's view of their subscription.
    Tenant,
}

impl Endpoint {
    /// The endpoint's name: its Basic realm, security scheme and tag.
    pub fn name(self) -> &'static str {
        match self {
            Self::Notification => "notification",
            Self::Usage => "usage",
            Self::Admin => "admin",
            Self::Tenant => "tenant",
        }
    }
}

/// The name of the shared response of every 4xx.
const ERROR_RESPONSE: &str = "Error";

/// The name of the tenant's principal security scheme.
const PRINCIPAL_SCHEME: &str = "principal";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wapdr",
        description = "Disaster recovery as a Windows Azure Pack plan add-on: the resource \
            provider's notification, usage, admin and tenant endpoints. Each endpoint has its own \
            Basic credentials. Bodies are Json.NET-style JSON (enums as integers) or .NET \
            DataContract XML, by Content-Type and Accept; only the JSON form is described here."
    ),
    components(schemas(super::schemas::WapErrorBody))
)]
struct Base;

/// The document before any route is added: title, security schemes, the `Error` schema.
pub fn base() -> Document {
    let mut doc = Base::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    for endpoint in [
        Endpoint::Notification,
        Endpoint::Usage,
        Endpoint::Admin,
        Endpoint::Tenant,
    ] {
        components.add_security_scheme(
            endpoint.name(),
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(format!(
                        "The {} endpoint's user and password (wapdr.toml [endpoints.{}]).",
                        endpoint.name(),
                        endpoint.name()
                    )))
                    .build(),
            ),
        );
    }
    components.add_security_scheme(
        PRINCIPAL_SCHEME,
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            PRINCIPAL_HEADER,
            "The WAP user making a tenant call (WAP's tenant API sets it); only the \
             subscription's account admin and co-admins get an answer.",
        ))),
    );
    components.responses.insert(
        ERROR_RESPONSE.to_owned(),
        ResponseBuilder::new()
            .description(
                "A WAP Error: 400 bad input, 401 wrong credentials, 403/404 not allowed or not \
                 found, 409 conflicting state, 413 body too large, 415 unsupported Content-Type.",
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Error")))
                    .build(),
            )
            .build()
            .into(),
    );
    doc
}

/// Marks every operation of `routes` as belonging to `endpoint`: its tag, its credentials, its
/// 4xx `Error`, and for the tenant the `{subid}` every tenant path starts with.
pub fn secure(endpoint: Endpoint, mut routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let mut requirement = SecurityRequirement::new(endpoint.name(), Vec::<String>::new());
    if endpoint == Endpoint::Tenant {
        requirement = requirement.add(PRINCIPAL_SCHEME, Vec::<String>::new());
    }
    let error = Ref::new(format!("#/components/responses/{ERROR_RESPONSE}"));
    for (_, item) in routes.get_openapi_mut().paths.paths.iter_mut() {
        if endpoint == Endpoint::Tenant {
            item.parameters
                .get_or_insert_with(Vec::new)
                .push(subscription_parameter());
        }
        for operation in operations(item) {
            operation.tags = Some(vec![endpoint.name().to_owned()]);
            // Handler names repeat across endpoints (`list_vms`); operation ids must not.
            operation.operation_id = operation.operation_id.take().map(|id| {
                let prefix = format!("{}_", endpoint.name());
                format!("{prefix}{}", id.strip_prefix(&prefix).unwrap_or(&id))
            });
            operation.security = Some(vec![requirement.clone()]);
            operation
                .responses
                .responses
                .insert("4XX".into(), error.clone().into());
        }
    }
    routes
}

/// The `{subid}` of every tenant path.
fn subscription_parameter() -> Parameter {
    let mut parameter = Parameter::new("subid");
    parameter.parameter_in = ParameterIn::Path;
    parameter.required = Required::True;
    parameter.description = Some("The subscription (a GUID) the principal administers.".to_owned());
    parameter.schema = Some(String::schema());
    parameter
}

/// The operations a path has.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// `GET /openapi.json`: the description, without credentials (it holds no secrets).
pub fn document_route(document: Document) -> axum::Router<AppState> {
    let json: std::sync::Arc<str> = document_json(&document).into();
    axum::Router::new().route(
        "/openapi.json",
        axum::routing::get(move || {
            let json = json.clone();
            async move { ([(CONTENT_TYPE, "application/json")], json.to_string()) }
        }),
    )
}

/// The description as `wapdr openapi` prints it and `schemas/openapi.json` holds it.
pub fn document_json(document: &Document) -> String {
    let mut json = document
        .to_pretty_json()
        .expect("an OpenAPI document always serialises");
    json.push('\n');
    json
}
