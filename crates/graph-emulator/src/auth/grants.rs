//! Issued credentials: access tokens (JWTs signed by the emulator), authorization codes and
//! rotating refresh tokens.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, Header, encode};
use rand::Rng;
use serde::Serialize;
use uuid::Uuid;

use super::aadsts::Aadsts;
use super::keys::KeyMaterial;

/// Refresh tokens expire after 90 days without use (refresh-tokens.md).
const REFRESH_INACTIVITY_DAYS: i64 = 90;
/// Authorization codes live about ten minutes (v2-oauth2-auth-code-flow.md).
const CODE_LIFETIME_MINUTES: i64 = 10;

/// What an access token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Tenant (`tid`).
    pub tenant: Uuid,
    /// App (`appid`).
    pub client_id: Uuid,
    /// Application permissions (`roles`), for app-only tokens.
    pub roles: Vec<String>,
    /// Delegated permissions (`scp`), for user tokens.
    pub scopes: Vec<String>,
    /// The signed-in user, for delegated tokens.
    pub user: Option<Uuid>,
    /// `exp`.
    pub expires: DateTime<Utc>,
}

impl Grant {
    /// Whether the token carries any of these permissions (as a role or a scope).
    pub fn allows_any(&self, permissions: &[&str]) -> bool {
        permissions.iter().any(|p| {
            self.roles
                .iter()
                .chain(&self.scopes)
                .any(|granted| granted.eq_ignore_ascii_case(p))
        })
    }
}

/// An authorization code waiting to be redeemed.
#[derive(Debug, Clone)]
pub struct AuthCode {
    /// Tenant.
    pub tenant: Uuid,
    /// App it was issued to.
    pub client_id: Uuid,
    /// The consenting user.
    pub user: Uuid,
    /// Consented delegated permissions (plus `offline_access`, `openid` when asked).
    pub scopes: Vec<String>,
    /// The redirect URI it was sent to.
    pub redirect_uri: String,
    /// PKCE challenge and method.
    pub challenge: Option<(String, String)>,
    /// When it was issued.
    pub issued: DateTime<Utc>,
    /// Whether it was redeemed.
    pub redeemed: bool,
}

/// A refresh token.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    /// Tenant.
    pub tenant: Uuid,
    /// App.
    pub client_id: Uuid,
    /// User.
    pub user: Uuid,
    /// Delegated permissions.
    pub scopes: Vec<String>,
    /// When it was issued.
    pub issued: DateTime<Utc>,
    /// Revoked by the control API, or redeemed under single-use rotation.
    pub revoked: bool,
}

#[derive(Debug, Serialize)]
struct AccessClaims<'a> {
    aud: &'a str,
    iss: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    app_displayname: &'a str,
    appid: String,
    appidacr: &'a str,
    idp: String,
    idtyp: &'a str,
    oid: String,
    sub: String,
    tid: String,
    uti: String,
    ver: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    upn: Option<&'a str>,
}

/// How the client proved who it is (`appidacr`: 1 secret, 2 certificate or assertion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Client secret.
    Secret,
    /// Certificate or federated assertion.
    Assertion,
}

/// Every credential the emulator has handed out.
#[derive(Debug, Default)]
pub struct TokenStore {
    access: HashMap<String, Grant>,
    codes: HashMap<String, AuthCode>,
    refresh: HashMap<String, RefreshToken>,
}

/// An opaque random credential string.
fn opaque(prefix: &str) -> String {
    let bytes: [u8; 48] = rand::rng().random();
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

impl TokenStore {
    /// Issues an access token for `grant`: a JWT signed with the emulator's key, remembered so
    /// Graph calls can be authorised by lookup.
    pub fn issue_access(
        &mut self,
        key: &KeyMaterial,
        grant: Grant,
        app_name: &str,
        auth: ClientAuth,
        upn: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let issuer = format!("https://sts.windows.net/{}/", grant.tenant);
        let delegated = grant.user.is_some();
        let scp = delegated.then(|| grant.scopes.join(" "));
        let subject = grant.user.unwrap_or(grant.client_id);
        let claims = AccessClaims {
            aud: "https://graph.microsoft.com",
            iss: issuer.clone(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: grant.expires.timestamp(),
            app_displayname: app_name,
            appid: grant.client_id.to_string(),
            appidacr: if auth == ClientAuth::Secret { "1" } else { "2" },
            idp: issuer,
            idtyp: if delegated { "user" } else { "app" },
            oid: subject.to_string(),
            sub: subject.to_string(),
            tid: grant.tenant.to_string(),
            uti: URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes()),
            ver: "1.0",
            roles: (!delegated).then_some(grant.roles.as_slice()),
            scp,
            upn,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.x5t.clone());
        header.x5t = Some(key.x5t.clone());
        let token = encode(&header, &claims, &key.encoding)?;
        self.access.insert(token.clone(), grant);
        Ok(token)
    }

    /// Every access token, authorization code and refresh token issued so far (for tests that
    /// look for them where they must not be).
    pub fn issued(&self) -> Vec<String> {
        self.access
            .keys()
            .chain(self.codes.keys())
            .chain(self.refresh.keys())
            .cloned()
            .collect()
    }

    /// The grant behind an access token, if the emulator issued it.
    pub fn access(&self, token: &str) -> Option<&Grant> {
        self.access.get(token)
    }

    /// Makes every access token issued so far expired as of `now` (clients must fetch a new
    /// one after their next 401).
    pub fn expire_access_tokens(&mut self, now: DateTime<Utc>) {
        for grant in self.access.values_mut() {
            grant.expires = grant.expires.min(now - Duration::seconds(1));
        }
    }

    /// Issues an authorization code.
    pub fn issue_code(&mut self, code: AuthCode) -> String {
        let value = opaque("1.AQ");
        self.codes.insert(value.clone(), code);
        value
    }

    /// Redeems a code once, within its lifetime, for the app and redirect URI it was issued to,
    /// checking the PKCE verifier when a challenge was given.
    pub fn redeem_code(
        &mut self,
        code: &str,
        client_id: Uuid,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AuthCode, Aadsts> {
        let entry = self
            .codes
            .get_mut(code)
            .ok_or_else(Aadsts::malformed_grant)?;
        if entry.redeemed {
            return Err(Aadsts::code_already_redeemed());
        }
        if now - entry.issued > Duration::minutes(CODE_LIFETIME_MINUTES) {
            return Err(Aadsts::expired_code());
        }
        if entry.client_id != client_id {
            return Err(Aadsts::grant_mismatch(
                "The code was issued to another client.",
            ));
        }
        if redirect_uri.is_some_and(|r| r != entry.redirect_uri) {
            return Err(Aadsts::grant_mismatch(
                "The redirect URI differs from the one the code was sent to.",
            ));
        }
        if let Some((challenge, method)) = &entry.challenge {
            let verifier = verifier.ok_or_else(Aadsts::pkce_mismatch)?;
            let computed = if method.eq_ignore_ascii_case("S256") {
                use sha2::Digest;
                URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
            } else {
                verifier.to_owned()
            };
            if &computed != challenge {
                return Err(Aadsts::pkce_mismatch());
            }
        }
        entry.redeemed = true;
        Ok(entry.clone())
    }

    /// Issues a refresh token.
    pub fn issue_refresh(&mut self, token: RefreshToken) -> String {
        let value = opaque("1.AR");
        self.refresh.insert(value.clone(), token);
        value
    }

    /// Redeems a refresh token. With `single_use` the redeemed token stops working (strict
    /// rotation); otherwise it stays valid, as Entra's does.
    pub fn redeem_refresh(
        &mut self,
        token: &str,
        client_id: Uuid,
        single_use: bool,
        now: DateTime<Utc>,
    ) -> Result<RefreshToken, Aadsts> {
        let entry = self
            .refresh
            .get_mut(token)
            .ok_or_else(Aadsts::malformed_grant)?;
        if entry.client_id != client_id {
            return Err(Aadsts::grant_mismatch(
                "The refresh token was issued to another client.",
            ));
        }
        if entry.revoked || now - entry.issued > Duration::days(REFRESH_INACTIVITY_DAYS) {
            return Err(Aadsts::expired_refresh_token(entry.issued));
        }
        if single_use {
            entry.revoked = true;
        }
        Ok(entry.clone())
    }

    /// Revokes every refresh token (the next redemption fails with AADSTS700082).
    pub fn expire_refresh_tokens(&mut self) {
        for token in self.refresh.values_mut() {
            token.revoked = true;
        }
    }
}
