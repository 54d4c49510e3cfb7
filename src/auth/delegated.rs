//! The delegated sign-in (authorization code with PKCE and `offline_access`; the refresh token
//! rotates on every use and is stored sealed before the old one is dropped): the admin is sent
//! to `/authorize`, Entra redirects back with a code, and the code is redeemed, with the PKCE
//! verifier, for a refresh token that is stored sealed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use super::{AuthError, GRAPH_DEFAULT_SCOPE, RefreshTokens, post_token_form};

/// The scopes a delegated connection asks for: Graph's configured permissions, plus a refresh
/// token.
pub fn delegated_scope() -> String {
    format!("{GRAPH_DEFAULT_SCOPE} offline_access")
}

/// A PKCE pair (RFC 7636): the verifier stays with the daemon, the S256 challenge goes to
/// `/authorize`, and only the holder of the verifier can redeem the code.
pub struct Pkce {
    /// 43 characters of URL-safe base64 (32 random bytes).
    pub verifier: SecretString,
    /// `BASE64URL(SHA256(verifier))`.
    pub challenge: String,
}

impl Pkce {
    /// A fresh pair.
    pub fn new() -> Self {
        let verifier = random_token();
        Self {
            challenge: challenge_of(verifier.expose_secret()),
            verifier,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// The S256 challenge of a verifier.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// 32 random bytes as 43 characters of URL-safe base64: a PKCE verifier or a `state`.
pub fn random_token() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

/// `{authority}/{tenant}/oauth2/v2.0/authorize?…` for an admin to sign in and consent, with the
/// PKCE `code_challenge` (S256).
pub fn authorize_url(
    authority: &str,
    tenant: &str,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    code_challenge: &str,
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
        .append_pair("state", state)
        .append_pair("code_challenge", code_challenge)
        .append_pair("code_challenge_method", "S256");
    Ok(url)
}

#[derive(Deserialize)]
struct CodeResponse {
    refresh_token: Option<String>,
}

/// What redeems an authorization code: the app, where the code was sent, and the PKCE
/// verifier of the request that asked for it.
pub struct Redemption<'a> {
    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub token_endpoint: &'a str,
    /// The app.
    pub client_id: &'a str,
    /// A confidential client's secret.
    pub client_secret: Option<&'a SecretString>,
    /// The redirect URI the code was sent to (Entra checks it is the same).
    pub redirect_uri: &'a str,
    /// The PKCE verifier.
    pub verifier: &'a SecretString,
}

/// Redeems an authorization code and stores the refresh token it yields.
pub async fn redeem_code(
    http: &reqwest::Client,
    redemption: &Redemption<'_>,
    code: &str,
    tokens: &dyn RefreshTokens,
) -> Result<(), AuthError> {
    let mut form = vec![
        ("client_id", redemption.client_id.to_owned()),
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", redemption.redirect_uri.to_owned()),
        ("scope", delegated_scope()),
        (
            "code_verifier",
            redemption.verifier.expose_secret().to_owned(),
        ),
    ];
    if let Some(secret) = redemption.client_secret {
        form.push(("client_secret", secret.expose_secret().to_owned()));
    }
    let response: CodeResponse = post_token_form(http, redemption.token_endpoint, &form).await?;
    let refresh = response.refresh_token.ok_or_else(|| {
        AuthError::Credential(
            "the sign-in returned no refresh token: the app must allow offline_access".to_owned(),
        )
    })?;
    tokens.store(SecretString::from(refresh)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_is_rfc_7636s_s256_of_the_verifier() {
        // RFC 7636, appendix B.
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let pkce = Pkce::new();
        assert_eq!(pkce.verifier.expose_secret().len(), 43);
        assert_eq!(pkce.challenge, challenge_of(pkce.verifier.expose_secret()));
        assert_ne!(
            Pkce::new().verifier.expose_secret(),
            pkce.verifier.expose_secret()
        );
    }

    #[test]
    fn the_authorize_url_asks_for_s256_and_a_refresh_token() {
        let url = authorize_url(
            "https://login.example/",
            "t",
            "c",
            "http://127.0.0.1:1/authcallback",
            "s",
            "ch",
        )
        .unwrap();
        let pairs: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(url.path(), "/t/oauth2/v2.0/authorize");
        assert_eq!(pairs["code_challenge"], "ch");
        assert_eq!(pairs["code_challenge_method"], "S256");
        assert_eq!(pairs["state"], "s");
        assert!(pairs["scope"].ends_with(" offline_access"));
    }
}
