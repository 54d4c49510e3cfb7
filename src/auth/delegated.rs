//! The delegated sign-in (authorization code with `offline_access`; the refresh token rotates on
//! every use and is stored sealed before the old one is dropped): the admin is sent to `/authorize`, Entra redirects
//! back with a code, and the code is redeemed for a refresh token that is stored sealed.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::{AuthError, GRAPH_DEFAULT_SCOPE, RefreshTokens, post_token_form};

/// The scopes a delegated connection asks for: Graph's configured permissions, plus a refresh
/// token.
pub fn delegated_scope() -> String {
    format!("{GRAPH_DEFAULT_SCOPE} offline_access")
}

/// `{authority}/{tenant}/oauth2/v2.0/authorize?…` for an admin to sign in and consent.
pub fn authorize_url(
    authority: &str,
    tenant: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
) -> Result<Url, AuthError> {
    let mut url = Url::parse(&format!(
        "{}/{tenant}/oauth2/v2.0/authorize",
        authority.trim_end_matches('/')
    ))
    .map_err(|e| AuthError::Credential(format!("the authority URL is not usable: {e}")))?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("response_mode", "query")
        .append_pair("scope", &delegated_scope())
        .append_pair("state", state);
    Ok(url)
}

#[derive(Deserialize)]
struct CodeResponse {
    refresh_token: Option<String>,
}

/// Redeems an authorization code and stores the refresh token it yields.
pub async fn redeem_code(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    client_secret: Option<&SecretString>,
    code: &str,
    redirect_uri: &str,
    tokens: &dyn RefreshTokens,
) -> Result<(), AuthError> {
    let mut form = vec![
        ("client_id", client_id.to_owned()),
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", redirect_uri.to_owned()),
        ("scope", delegated_scope()),
    ];
    if let Some(secret) = client_secret {
        form.push(("client_secret", secret.expose_secret().to_owned()));
    }
    let response: CodeResponse = post_token_form(http, token_endpoint, &form).await?;
    let refresh = response.refresh_token.ok_or_else(|| {
        AuthError::Credential(
            "the sign-in returned no refresh token: the app must allow offline_access".to_owned(),
        )
    })?;
    tokens.store(SecretString::from(refresh)).await
}
