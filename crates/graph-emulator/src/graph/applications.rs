//! `GET /applications?$filter=appId eq '{client id}'` (application-list.md): the tenant's app
//! registrations with their `passwordCredentials` and `keyCredentials` (passwordcredential.md,
//! keycredential.md), so a client can read when its own secret or certificate expires. Needs
//! `Application.Read.All` (or `Application.ReadWrite.All`, `Directory.Read.All`).

use axum::extract::RawQuery;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::SecondsFormat;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Caller;
use super::error::GraphError;
use super::filter::{Filter, Literal};
use super::query::ODataQuery;
use crate::auth::apps::AppRegistration;
use crate::state::read;

/// Permissions that read app registrations.
const READ_APPLICATIONS: &[&str] = &[
    "Application.Read.All",
    "Application.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// `GET /applications`, optionally filtered by `appId eq '…'`, honouring `$select`.
pub async fn list(
    Extension(caller): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    caller.require(READ_APPLICATIONS)?;
    let query = ODataQuery::parse(raw.as_deref())?;
    let wanted = match &query.filter {
        None => None,
        Some(Filter::Eq(property, Literal::Text(value))) if property == "appId" => {
            Some(value.clone())
        }
        Some(_) => {
            return Err(GraphError::unsupported_query(
                "Unsupported query: applications can be filtered by appId eq '…' only.",
            ));
        }
    };
    let apps = read(&caller.tenant.apps);
    let value: Vec<Value> = apps
        .iter()
        .filter(|app| {
            wanted
                .as_deref()
                .is_none_or(|id| Uuid::parse_str(id).is_ok_and(|id| id == app.client_id))
        })
        .map(|app| selected(application(app), query.select.as_deref()))
        .collect();
    Ok(Json(json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#applications",
        "value": value,
    }))
    .into_response())
}

fn application(app: &AppRegistration) -> Map<String, Value> {
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let secret = json!({
        "customKeyIdentifier": null,
        "displayName": format!("{} secret", app.name),
        "endDateTime": at(app.secret_ends),
        "hint": app.client_secret.chars().take(3).collect::<String>(),
        "keyId": Uuid::from_u128(app.object_id.as_u128() ^ 1),
        "secretText": null,
        "startDateTime": at(app.credentials_start),
    });
    let certificates: Vec<Value> = app
        .certificate
        .iter()
        .map(|key| {
            json!({
                "customKeyIdentifier": key.sha1_hex(),
                "displayName": format!("CN={}", app.name),
                "endDateTime": at(app.certificate_ends),
                "key": null,
                "keyId": Uuid::from_u128(app.object_id.as_u128() ^ 2),
                "startDateTime": at(app.credentials_start),
                "type": "AsymmetricX509Cert",
                "usage": "Verify",
            })
        })
        .collect();
    let object = json!({
        "id": app.object_id,
        "appId": app.client_id,
        "displayName": app.name,
        "signInAudience": "AzureADMyOrg",
        "passwordCredentials": [secret],
        "keyCredentials": certificates,
    });
    match object {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// Only the `$select`ed properties (and `id`, which Graph always returns), or all.
fn selected(mut object: Map<String, Value>, select: Option<&[String]>) -> Value {
    if let Some(select) = select {
        object.retain(|k, _| k == "id" || select.iter().any(|s| s.eq_ignore_ascii_case(k)));
    }
    Value::Object(object)
}
