//! OpenID discovery and the JWKS: what MSAL and azure-identity read before they ask for a
//! token, and the keys a resource server verifies the emulator's tokens with.

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::start;

async fn get_json(env: &crate::common::Env, url: &str) -> (StatusCode, Value) {
    let response = env.client.get(url).send().await.expect("request");
    let status = response.status();
    (status, response.json().await.expect("json"))
}

/// Source: v2-protocols-oidc.md ("Sample response": issuer, authorization_endpoint,
/// token_endpoint, jwks_uri; `common` has the `{tenantid}` issuer placeholder).
#[tokio::test]
async fn discovery_documents_point_at_the_emulators_endpoints() {
    let env = start(5, 1).await;
    let authority = &env.running.authority_url;
    let tenant = env.tenant();
    let (status, doc) = get_json(
        &env,
        &format!("{authority}/{tenant}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["issuer"], format!("{authority}/{tenant}/v2.0"));
    assert_eq!(doc["token_endpoint"], env.token_url());
    assert_eq!(
        doc["authorization_endpoint"],
        format!("{authority}/{tenant}/oauth2/v2.0/authorize")
    );
    assert_eq!(
        doc["jwks_uri"],
        format!("{authority}/{tenant}/discovery/v2.0/keys")
    );
    assert_eq!(doc["id_token_signing_alg_values_supported"][0], "RS256");

    let (status, common) = get_json(
        &env,
        &format!("{authority}/common/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(common["issuer"], format!("{authority}/{{tenantid}}/v2.0"));
    assert_eq!(
        common["token_endpoint"],
        format!("{authority}/common/oauth2/v2.0/token")
    );

    let endpoint = format!("{authority}/{tenant}/oauth2/v2.0/authorize");
    let url = reqwest::Url::parse_with_params(
        &format!("{authority}/common/discovery/instance"),
        &[
            ("api-version", "1.1"),
            ("authorization_endpoint", &endpoint),
        ],
    )
    .expect("url");
    let (status, instance) = get_json(&env, url.as_str()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        instance["tenant_discovery_endpoint"],
        format!("{authority}/{tenant}/v2.0/.well-known/openid-configuration")
    );
    let host = authority.trim_start_matches("http://");
    assert_eq!(instance["metadata"][0]["aliases"][0], host);

    let (status, unknown) = get_json(
        &env,
        &format!("{authority}/nobody.example/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown["error_codes"][0], 90002, "{unknown}");
    let counters = env.running.control.counters();
    assert_eq!(
        counters.count("GET /{tenant}/v2.0/.well-known/openid-configuration"),
        3
    );
}

/// Source: access-tokens.md ("Validate the signature": the `kid` header names a key of the
/// JWKS at `jwks_uri`; RS256).
#[tokio::test]
async fn issued_tokens_verify_against_the_published_jwks() {
    let env = start(5, 1).await;
    let authority = &env.running.authority_url;
    let tenant = env.tenant();
    let (_, doc) = get_json(
        &env,
        &format!("{authority}/{tenant}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    let (status, jwks) = get_json(&env, doc["jwks_uri"].as_str().expect("jwks_uri")).await;
    assert_eq!(status, StatusCode::OK);
    let token = env.token().await;
    let header = decode_header(&token).expect("header");
    assert_eq!(header.alg, Algorithm::RS256);
    let kid = header.kid.expect("kid");
    let key = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the token's key is published");
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["use"], "sig");
    let decoding = DecodingKey::from_rsa_components(
        key["n"].as_str().expect("n"),
        key["e"].as_str().expect("e"),
    )
    .expect("rsa key");
    let mut validation = Validation::new(Algorithm::RS256);
    // The emulator runs on a manual clock fixed in the past: its tokens' `exp` is not now's.
    validation.validate_exp = false;
    validation.set_audience(&["https://graph.microsoft.com"]);
    validation.set_issuer(&[format!("https://sts.windows.net/{tenant}/")]);
    let claims = decode::<Value>(&token, &decoding, &validation).expect("signature verifies");
    assert_eq!(claims.claims["tid"], tenant.to_string());

    let mut forged = token.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    let error = decode::<Value>(&forged, &decoding, &validation).expect_err("forged");
    assert_eq!(
        error.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidSignature
    );
}
