//! `POST /{tenant}/oauth2/v2.0/token`: client credentials (secret, certificate or federated
//! assertion), authorization code and refresh token grants.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Duration;
use serde_json::{Value, json};
use uuid::Uuid;

use super::aadsts::Aadsts;
use super::apps::AppRegistration;
use super::assertion::{self, JWT_BEARER};
use super::grants::{ClientAuth, Grant, RefreshToken};
use crate::directory::UserProp;
use crate::state::{Emulator, Tenant, lock, read};

/// Resource prefix delegated scopes may carry.
pub const GRAPH_RESOURCE: &str = "https://graph.microsoft.com/";

/// The token endpoint.
pub async fn token(
    State(emulator): State<Arc<Emulator>>,
    Path(tenant_key): Path<String>,
    body: Bytes,
) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let now = emulator.now();
    match grant(&emulator, &tenant_key, &form) {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.respond(now, &emulator.urls.authority),
    }
}

fn grant(
    emulator: &Emulator,
    tenant_key: &str,
    form: &HashMap<String, String>,
) -> Result<Value, Aadsts> {
    let tenant = emulator
        .tenant(tenant_key)
        .ok_or_else(|| Aadsts::tenant_not_found(tenant_key))?;
    let grant_type = form
        .get("grant_type")
        .ok_or_else(|| Aadsts::missing_parameter("grant_type"))?;
    let client_id = form
        .get("client_id")
        .ok_or_else(|| Aadsts::missing_parameter("client_id"))?;
    let app = tenant
        .app(client_id)
        .ok_or_else(|| Aadsts::app_not_found(client_id, tenant_key))?;
    match grant_type.as_str() {
        "client_credentials" => {
            let scope = form
                .get("scope")
                .ok_or_else(|| Aadsts::missing_parameter("scope"))?;
            if !scope.trim().ends_with("/.default") {
                return Err(Aadsts::invalid_scope(scope));
            }
            let auth = authenticate(emulator, &tenant, tenant_key, &app, form)?;
            let grant = Grant {
                tenant: tenant.id,
                client_id: app.client_id,
                roles: app.roles.clone(),
                scopes: Vec::new(),
                user: None,
                expires: emulator.now() + lifetime(emulator),
            };
            let access = issue(emulator, grant, &app, auth, None)?;
            Ok(token_body(emulator, access, None, None))
        }
        "authorization_code" => {
            let code = form
                .get("code")
                .ok_or_else(|| Aadsts::missing_parameter("code"))?;
            let auth = authenticate(emulator, &tenant, tenant_key, &app, form)?;
            let redeemed = lock(&emulator.tokens).redeem_code(
                code,
                app.client_id,
                form.get("redirect_uri").map(String::as_str),
                form.get("code_verifier").map(String::as_str),
                emulator.now(),
            )?;
            delegated(
                emulator,
                &tenant,
                &app,
                auth,
                redeemed.user,
                redeemed.scopes,
            )
        }
        "refresh_token" => {
            let token = form
                .get("refresh_token")
                .ok_or_else(|| Aadsts::missing_parameter("refresh_token"))?;
            let auth = authenticate(emulator, &tenant, tenant_key, &app, form)?;
            let single_use = emulator.config.single_use_refresh_tokens;
            let old = lock(&emulator.tokens).redeem_refresh(
                token,
                app.client_id,
                single_use,
                emulator.now(),
            )?;
            delegated(emulator, &tenant, &app, auth, old.user, old.scopes)
        }
        other => Err(Aadsts::unsupported_grant(other)),
    }
}

fn lifetime(emulator: &Emulator) -> Duration {
    Duration::from_std(emulator.config.token_lifetime).unwrap_or(Duration::hours(1))
}

/// Proves the client is the app: by secret, or by a certificate or federated assertion.
fn authenticate(
    emulator: &Emulator,
    tenant: &Tenant,
    tenant_key: &str,
    app: &AppRegistration,
    form: &HashMap<String, String>,
) -> Result<ClientAuth, Aadsts> {
    if let Some(secret) = form.get("client_secret") {
        return if *secret == app.client_secret {
            Ok(ClientAuth::Secret)
        } else {
            Err(Aadsts::invalid_secret(&app.client_id.to_string()))
        };
    }
    let Some(client_assertion) = form.get("client_assertion") else {
        return Err(Aadsts::missing_client_credential());
    };
    if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
        return Err(Aadsts::missing_parameter("client_assertion_type"));
    }
    let authority = &emulator.urls.authority;
    let endpoints: Vec<String> = [
        tenant_key.to_owned(),
        tenant.id.to_string(),
        tenant.domain.clone(),
    ]
    .iter()
    .map(|t| format!("{authority}/{t}/oauth2/v2.0/token"))
    .collect();
    assertion::verify(client_assertion, app, &endpoints, emulator.now())?;
    Ok(ClientAuth::Assertion)
}

fn issue(
    emulator: &Emulator,
    grant: Grant,
    app: &AppRegistration,
    auth: ClientAuth,
    upn: Option<&str>,
) -> Result<String, Aadsts> {
    lock(&emulator.tokens)
        .issue_access(
            &emulator.signing_key,
            grant,
            &app.name,
            auth,
            upn,
            emulator.now(),
        )
        .map_err(|error| {
            tracing::error!(%error, "Signing an access token failed.");
            Aadsts::malformed_grant()
        })
}

fn delegated(
    emulator: &Emulator,
    tenant: &Tenant,
    app: &AppRegistration,
    auth: ClientAuth,
    user: Uuid,
    scopes: Vec<String>,
) -> Result<Value, Aadsts> {
    let upn = read(&tenant.directory)
        .user(user)
        .and_then(|u| u.text(UserProp::UserPrincipalName).map(str::to_owned));
    let permissions: Vec<String> = scopes
        .iter()
        .filter(|s| {
            !matches!(
                s.as_str(),
                "offline_access" | "openid" | "profile" | "email"
            )
        })
        .cloned()
        .collect();
    let grant = Grant {
        tenant: tenant.id,
        client_id: app.client_id,
        roles: Vec::new(),
        scopes: permissions,
        user: Some(user),
        expires: emulator.now() + lifetime(emulator),
    };
    let access = issue(emulator, grant, app, auth, upn.as_deref())?;
    let refresh = scopes.iter().any(|s| s == "offline_access").then(|| {
        lock(&emulator.tokens).issue_refresh(RefreshToken {
            tenant: tenant.id,
            client_id: app.client_id,
            user,
            scopes: scopes.clone(),
            issued: emulator.now(),
            revoked: false,
        })
    });
    let shown: Vec<String> = scopes
        .iter()
        .map(|s| {
            if matches!(
                s.as_str(),
                "offline_access" | "openid" | "profile" | "email"
            ) {
                s.clone()
            } else {
                format!("{GRAPH_RESOURCE}{s}")
            }
        })
        .collect();
    Ok(token_body(emulator, access, refresh, Some(shown.join(" "))))
}

fn token_body(
    emulator: &Emulator,
    access: String,
    refresh: Option<String>,
    scope: Option<String>,
) -> Value {
    let expires_in = emulator.config.token_lifetime.as_secs();
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access,
    });
    if let Some(scope) = scope {
        body["scope"] = Value::String(scope);
    }
    if let Some(refresh) = refresh {
        body["refresh_token"] = Value::String(refresh);
    }
    body
}

/// A 404 for unknown identity-platform paths, in the platform's error shape.
pub async fn unknown(State(emulator): State<Arc<Emulator>>) -> Response {
    let mut response = Aadsts::malformed_grant().respond(emulator.now(), &emulator.urls.authority);
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}
