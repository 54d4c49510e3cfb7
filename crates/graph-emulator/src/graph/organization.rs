//! `GET /organization` and `GET /organization/{id}` (organization-list.md, organization-get.md,
//! resources/organization.md): the tenant's name, its verified domains and the service plans of
//! its subscribed SKUs as `assignedPlans`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::Caller;
use super::error::GraphError;
use crate::directory::{Directory, UserProp, graph_time};
use crate::state::{Emulator, read};

/// Permissions that read the organization (organization-get.md, "Permissions"), plus
/// `User.Read.All`: a leniency of the emulator, not checked against Graph, so that org readers
/// granted only user and group permissions get their tenant's name.
const READ_ORGANIZATION: &[&str] = &[
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "User.Read.All",
];

/// The Graph workload a service plan belongs to, as `assignedPlans[].service` names it.
fn service(plan: &str) -> &str {
    match plan.split('_').next().unwrap_or(plan) {
        "EXCHANGE" => "exchange",
        "SHAREPOINTENTERPRISE" | "SHAREPOINTSTANDARD" | "SHAREPOINTWAC" => "SharePoint",
        "TEAMS1" => "TeamspaceAPI",
        "MCOSTANDARD" => "MicrosoftCommunicationsOnline",
        "AAD" => "AADPremiumService",
        _ => plan,
    }
}

/// The organization resource of a tenant.
pub fn organization(dir: &Directory) -> Value {
    // The tenant is as old as its oldest object (ISO 8601 UTC strings sort by time).
    let created = dir
        .users
        .iter()
        .filter_map(|u| u.text(UserProp::CreatedDateTime).map(str::to_owned))
        .chain(dir.groups.iter().map(|g| graph_time(g.created)))
        .min();
    let assigned_plans: Vec<Value> = dir
        .skus
        .iter()
        .flat_map(|sku| &sku.service_plans)
        .map(|plan| {
            json!({
                "assignedDateTime": created,
                "capabilityStatus": "Enabled",
                "service": service(plan.name),
                "servicePlanId": plan.id,
            })
        })
        .collect();
    json!({
        "id": dir.tenant_id,
        "deletedDateTime": null,
        "businessPhones": [],
        "city": null,
        "country": null,
        "countryLetterCode": "US",
        "createdDateTime": created,
        "defaultUsageLocation": null,
        "displayName": dir.organisation,
        "marketingNotificationEmails": [],
        "onPremisesLastSyncDateTime": null,
        "onPremisesSyncEnabled": null,
        "partnerTenantType": null,
        "postalCode": null,
        "preferredLanguage": "en",
        "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [],
        "state": null,
        "street": null,
        "technicalNotificationMails": [],
        "tenantType": "AAD",
        "directorySizeQuota": {"used": dir.users.len() + dir.groups.len(), "total": 300_000},
        "privacyProfile": null,
        "assignedPlans": assigned_plans,
        "provisionedPlans": [],
        "verifiedDomains": [{
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": true,
            "isInitial": true,
            "name": dir.domain,
            "type": "Managed",
        }],
    })
}

/// `GET /organization`: a collection of the one organization.
pub async fn list(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, GraphError> {
    caller.require(READ_ORGANIZATION)?;
    let dir = read(&caller.tenant.directory);
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#organization", emulator.urls.graph),
        "value": [organization(&dir)],
    }))
    .into_response())
}

/// `GET /organization/{id}`: the caller's own organization; any other id is a 404.
pub async fn get(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, GraphError> {
    caller.require(READ_ORGANIZATION)?;
    let dir = read(&caller.tenant.directory);
    if !id.eq_ignore_ascii_case(&dir.tenant_id.to_string()) {
        return Err(GraphError::not_found(&id));
    }
    let mut body = organization(&dir);
    body["@odata.context"] = Value::String(format!(
        "{}/$metadata#organization/$entity",
        emulator.urls.graph
    ));
    Ok(Json(body).into_response())
}
