//! OpenID Connect discovery as the identity platform publishes it, so that MSAL, azure-identity
//! and @azure/identity accept the emulator as an authority: the v2.0 and v1 configuration
//! documents for a tenant and for `common`/`organizations`/`consumers`, instance discovery
//! (`/common/discovery/instance`), and the JWKS the issued tokens verify against
//! (v2-protocols-oidc.md, "Find your app's OpenID configuration document URI" and "Sample
//! response"; access-tokens.md, "Validate the signature").

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::aadsts::Aadsts;
use super::keys::KeyMaterial;
use crate::state::Emulator;

/// Tenant names that stand for "whichever tenant signs in".
const MULTI_TENANT: [&str; 3] = ["common", "organizations", "consumers"];

/// The tenant segment a document describes: a known tenant's id, `{tenantid}` for the
/// multi-tenant names, or the AADSTS90002 answer.
fn tenant_segment(emulator: &Emulator, key: &str) -> Result<String, Aadsts> {
    if MULTI_TENANT.iter().any(|m| m.eq_ignore_ascii_case(key)) {
        return Ok("{tenantid}".to_owned());
    }
    emulator
        .tenant(key)
        .map(|t| t.id.to_string())
        .ok_or_else(|| Aadsts::tenant_not_found(key))
}

fn configuration(emulator: &Emulator, key: &str, v2: bool) -> Result<Value, Aadsts> {
    let authority = &emulator.urls.authority;
    let tenant = tenant_segment(emulator, key)?;
    let (issuer, oauth, keys) = if v2 {
        (
            format!("{authority}/{tenant}/v2.0"),
            format!("{authority}/{key}/oauth2/v2.0"),
            format!("{authority}/{key}/discovery/v2.0/keys"),
        )
    } else {
        (
            format!("{authority}/{tenant}/"),
            format!("{authority}/{key}/oauth2"),
            format!("{authority}/{key}/discovery/keys"),
        )
    };
    let host = authority
        .split_once("://")
        .map_or(authority.as_str(), |(_, h)| h);
    Ok(json!({
        "token_endpoint": format!("{oauth}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": keys,
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{authority}/oidc/userinfo"),
        "authorization_endpoint": format!("{oauth}/authorize"),
        "device_authorization_endpoint": format!("{oauth}/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{oauth}/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{authority}/{key}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": host,
        "cloud_graph_host_name": host,
        "msgraph_host": host,
        "rbac_url": authority,
    }))
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub async fn configuration_v2(
    State(emulator): State<Arc<Emulator>>,
    Path(tenant): Path<String>,
) -> Response {
    match configuration(&emulator, &tenant, true) {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.respond(emulator.now(), &emulator.urls.authority),
    }
}

/// `GET /{tenant}/.well-known/openid-configuration` (the v1 document).
pub async fn configuration_v1(
    State(emulator): State<Arc<Emulator>>,
    Path(tenant): Path<String>,
) -> Response {
    match configuration(&emulator, &tenant, false) {
        Ok(body) => Json(body).into_response(),
        Err(error) => error.respond(emulator.now(), &emulator.urls.authority),
    }
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…`: MSAL's instance
/// discovery; the emulator's host is its only alias.
pub async fn instance(State(emulator): State<Arc<Emulator>>, RawQuery(raw): RawQuery) -> Response {
    let authority = &emulator.urls.authority;
    let host = authority
        .split_once("://")
        .map_or(authority.as_str(), |(_, h)| h);
    let tenant = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "authorization_endpoint")
        .and_then(|(_, endpoint)| {
            let path = endpoint
                .strip_prefix(authority.as_str())?
                .trim_start_matches('/');
            path.split('/').next().map(str::to_owned)
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "common".to_owned());
    Json(json!({
        "tenant_discovery_endpoint": format!("{authority}/{tenant}/v2.0/.well-known/openid-configuration"),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    }))
    .into_response()
}

/// The public key of `key` as a JWK (`kty`, `use`, `kid`, `x5t`, `n`, `e`, `x5c`).
pub fn jwk(key: &KeyMaterial, issuer: &str) -> Value {
    let (n, e) = rsa_public_numbers(&key.public_key_der).unwrap_or_default();
    json!({
        "kty": "RSA",
        "use": "sig",
        "kid": key.x5t,
        "x5t": key.x5t,
        "n": URL_SAFE_NO_PAD.encode(n),
        "e": URL_SAFE_NO_PAD.encode(e),
        "x5c": [key.certificate_base64],
        "issuer": issuer,
    })
}

/// `GET /{tenant}/discovery/v2.0/keys` and `/{tenant}/discovery/keys`: the token-signing key.
pub async fn keys(State(emulator): State<Arc<Emulator>>, Path(tenant): Path<String>) -> Response {
    let segment = match tenant_segment(&emulator, &tenant) {
        Ok(segment) => segment,
        Err(error) => return error.respond(emulator.now(), &emulator.urls.authority),
    };
    let issuer = format!("{}/{segment}/v2.0", emulator.urls.authority);
    Json(json!({"keys": [jwk(&emulator.signing_key, &issuer)]})).into_response()
}

/// The modulus and exponent of a PKCS#1 `RSAPublicKey` (DER `SEQUENCE { INTEGER n, INTEGER e }`),
/// without leading zero bytes.
fn rsa_public_numbers(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (tag, body, _) = der_item(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag_n, n, rest) = der_item(body)?;
    let (tag_e, e, _) = der_item(rest)?;
    if tag_n != 0x02 || tag_e != 0x02 {
        return None;
    }
    let strip = |v: &[u8]| {
        let first = v.iter().position(|b| *b != 0).unwrap_or(v.len());
        v[first..].to_vec()
    };
    Some((strip(n), strip(e)))
}

/// One DER item: tag, contents and what follows it.
fn der_item(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (length, &rest[count..])
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_modulus_and_exponent_of_a_pkcs1_key() {
        // SEQUENCE { INTEGER 0x00C5, INTEGER 0x010001 }
        let der = [
            0x30, 0x09, 0x02, 0x02, 0x00, 0xC5, 0x02, 0x03, 0x01, 0x00, 0x01,
        ];
        assert_eq!(
            rsa_public_numbers(&der),
            Some((vec![0xC5], vec![0x01, 0x00, 0x01]))
        );
        assert_eq!(rsa_public_numbers(&der[..5]), None);
    }
}
