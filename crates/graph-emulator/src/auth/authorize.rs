//! `GET /{tenant}/oauth2/v2.0/authorize`: signs a user in and consents at once, then redirects
//! to `redirect_uri` with a code and the caller's `state` (v2-oauth2-auth-code-flow.md).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;
use uuid::Uuid;

use super::aadsts::Aadsts;
use super::grants::AuthCode;
use super::token::GRAPH_RESOURCE;
use crate::directory::UserProp;
use crate::state::{Emulator, lock, read};

/// The authorize endpoint with auto-consent. The signed-in user is the one named by
/// `login_hint`, else the tenant's first enabled member.
pub async fn authorize(
    State(emulator): State<Arc<Emulator>>,
    Path(tenant_key): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let now = emulator.now();
    let authority = emulator.urls.authority.clone();
    let fail = |error: Aadsts| error.respond(now, &authority);
    let Some(tenant) = emulator.tenant(&tenant_key) else {
        return fail(Aadsts::tenant_not_found(&tenant_key));
    };
    let Some(client_id) = query.get("client_id") else {
        return fail(Aadsts::missing_parameter("client_id"));
    };
    let Some(app) = tenant.app(client_id) else {
        return fail(Aadsts::app_not_found(client_id, &tenant_key));
    };
    let redirect = query.get("redirect_uri").and_then(|r| Url::parse(r).ok());
    let Some(mut redirect) = redirect.filter(|u| matches!(u.scheme(), "http" | "https")) else {
        let shown = query.get("redirect_uri").cloned().unwrap_or_default();
        return fail(Aadsts::bad_redirect_uri(&shown, client_id));
    };
    let state = query.get("state").cloned();
    if query.get("response_type").map(String::as_str) != Some("code") {
        let mut pairs = redirect.query_pairs_mut();
        pairs.append_pair("error", "unsupported_response_type");
        pairs.append_pair(
            "error_description",
            "AADSTS700054: response_type 'code' is expected.",
        );
        if let Some(state) = &state {
            pairs.append_pair("state", state);
        }
        drop(pairs);
        return found(&redirect);
    }
    let user = {
        let directory = read(&tenant.directory);
        let hinted = query
            .get("login_hint")
            .and_then(|h| directory.live_user_by_key(h));
        hinted
            .or_else(|| {
                directory
                    .live_users()
                    .find(|u| u.account_enabled && u.text(UserProp::UserType) == Some("Member"))
            })
            .map(|u| u.id)
    };
    let Some(user) = user else {
        return fail(Aadsts::malformed_grant());
    };
    let scopes = consented_scopes(
        query.get("scope").map(String::as_str).unwrap_or(""),
        &app.roles,
    );
    let challenge = query.get("code_challenge").map(|c| {
        (
            c.clone(),
            query
                .get("code_challenge_method")
                .cloned()
                .unwrap_or_else(|| "plain".into()),
        )
    });
    let code = lock(&emulator.tokens).issue_code(AuthCode {
        tenant: tenant.id,
        client_id: app.client_id,
        user,
        scopes,
        redirect_uri: query.get("redirect_uri").cloned().unwrap_or_default(),
        challenge,
        issued: now,
        redeemed: false,
    });
    {
        let mut pairs = redirect.query_pairs_mut();
        pairs.append_pair("code", &code);
        if let Some(state) = &state {
            pairs.append_pair("state", state);
        }
        pairs.append_pair("session_state", &Uuid::new_v4().to_string());
    }
    found(&redirect)
}

fn found(location: &Url) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, location.as_str().to_owned())],
    )
        .into_response()
}

/// What auto-consent grants: requested Graph permissions the app lists (`.default`: all of
/// them), plus `offline_access` / `openid` / `profile` / `email` when asked.
fn consented_scopes(requested: &str, app_permissions: &[String]) -> Vec<String> {
    let mut granted: Vec<String> = Vec::new();
    for scope in requested.split_whitespace() {
        let name = scope.strip_prefix(GRAPH_RESOURCE).unwrap_or(scope);
        if name == ".default" {
            granted.extend(app_permissions.iter().cloned());
        } else if matches!(name, "offline_access" | "openid" | "profile" | "email") {
            granted.push(name.to_owned());
        } else if let Some(p) = app_permissions
            .iter()
            .find(|p| p.eq_ignore_ascii_case(name))
        {
            granted.push(p.clone());
        }
    }
    granted.dedup();
    granted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consent_keeps_listed_permissions_and_openid_scopes_only() {
        let app = vec!["User.Read.All".to_owned(), "Group.Read.All".to_owned()];
        let granted = consented_scopes(
            "offline_access https://graph.microsoft.com/User.Read.All Mail.Send openid",
            &app,
        );
        assert_eq!(granted, vec!["offline_access", "User.Read.All", "openid"]);
        assert_eq!(
            consented_scopes("https://graph.microsoft.com/.default", &app),
            app
        );
    }
}
