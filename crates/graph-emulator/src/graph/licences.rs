//! `GET /subscribedSkus` (subscribedsku-list.md) and `POST /users/{id}/assignLicense`
//! (user-assignlicense.md).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::GraphError;
use super::{Caller, render};
use crate::directory::{AssignedLicense, UserProp};
use crate::state::{Emulator, read, write};

/// `GET /subscribedSkus`.
pub async fn subscribed_skus(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, GraphError> {
    caller.require(&[
        "Organization.Read.All",
        "Organization.ReadWrite.All",
        "Directory.Read.All",
        "LicenseAssignment.Read.All",
        "LicenseAssignment.ReadWrite.All",
    ])?;
    let dir = read(&caller.tenant.directory);
    let value: Vec<Value> = dir
        .skus
        .iter()
        .map(|sku| {
            json!({
                "accountName": dir.organisation,
                "accountId": dir.tenant_id,
                "appliesTo": "User",
                "capabilityStatus": "Enabled",
                "consumedUnits": sku.consumed_units,
                "id": format!("{}_{}", dir.tenant_id, sku.sku_id),
                "prepaidUnits": {"enabled": sku.enabled_units, "suspended": 0, "warning": sku.warning_units, "lockedOut": 0},
                "servicePlans": sku.service_plans.iter().map(|p| json!({
                    "servicePlanId": p.id, "servicePlanName": p.name, "provisioningStatus": "Success", "appliesTo": "User"
                })).collect::<Vec<_>>(),
                "skuId": sku.sku_id,
                "skuPartNumber": sku.part_number.as_ref(),
                "subscriptionIds": sku.subscription_ids,
            })
        })
        .collect();
    Ok(Json(json!({"@odata.context": format!("{}/$metadata#subscribedSkus", emulator.urls.graph), "value": value})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssignLicenseBody {
    add_licenses: Vec<AddLicense>,
    remove_licenses: Vec<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddLicense {
    #[serde(default)]
    disabled_plans: Vec<Uuid>,
    sku_id: Uuid,
}

/// `POST /users/{id}/assignLicense`: usage location required, SKUs must exist and have units.
pub async fn assign(
    State(emulator): State<Arc<Emulator>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, GraphError> {
    caller.require(&[
        "LicenseAssignment.ReadWrite.All",
        "User.ReadWrite.All",
        "Directory.ReadWrite.All",
    ])?;
    let request: AssignLicenseBody = serde_json::from_slice(&body).map_err(|e| {
        GraphError::bad_request(format!(
            "Invalid request body: addLicenses and removeLicenses are required ({e})."
        ))
    })?;
    let add: Vec<AssignedLicense> = request
        .add_licenses
        .into_iter()
        .map(|l| AssignedLicense {
            disabled_plans: l.disabled_plans,
            sku_id: l.sku_id,
        })
        .collect();
    let mut dir = write(&caller.tenant.directory);
    let user_id = dir
        .live_user_by_key(&id)
        .map(|u| u.id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    dir.assign_licenses(user_id, &add, &request.remove_licenses)?;
    let user = dir
        .user(user_id)
        .ok_or_else(|| GraphError::not_found(&id))?;
    let mut map = render::user(user, &UserProp::DEFAULT, true);
    map.insert(
        "@odata.context".into(),
        Value::String(format!("{}/$metadata#users/$entity", emulator.urls.graph)),
    );
    Ok(Json(Value::Object(map)).into_response())
}
