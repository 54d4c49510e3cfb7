//! Identity platform: token endpoint grants, assertions and AADSTS errors.

use graph_emulator::EmulatorConfig;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Env, start, start_with};

async fn post_token(env: &Env, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = env
        .client
        .post(env.token_url())
        .form(form)
        .send()
        .await
        .expect("token request");
    (response.status(), response.json().await.expect("json"))
}

/// Shape of an AADSTS error (reference-error-codes.md, "Handling error codes in your
/// application"; v2-oauth2-client-creds-grant-flow.md, "Error response").
fn assert_aadsts(body: &Value, code: u64, error: &str) {
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"]
        .as_str()
        .expect("error_description");
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    assert!(
        description.contains("\r\nTrace ID: ")
            && description.contains("\r\nCorrelation ID: ")
            && description.contains("\r\nTimestamp: ")
    );
    assert_eq!(body["error_codes"], json!([code]));
    for field in ["timestamp", "trace_id", "correlation_id", "error_uri"] {
        assert!(body[field].is_string(), "{field} in {body}");
    }
}

fn assertion(env: &Env, alg: Algorithm, key_pem: &str, sha256: bool) -> String {
    let app = env.app();
    let now = env.clock.now_for_tests();
    let mut header = Header::new(alg);
    if sha256 {
        header.x5t_s256 = app.certificate_thumbprint_sha256.clone();
    } else {
        header.x5t = app.certificate_thumbprint_sha1.clone();
    }
    let claims = json!({
        "aud": env.token_url(), "iss": app.client_id, "sub": app.client_id,
        "jti": uuid::Uuid::new_v4(), "nbf": now, "iat": now, "exp": now + 600,
    });
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(key_pem.as_bytes()).expect("key"),
    )
    .expect("sign")
}

trait NowForTests {
    fn now_for_tests(&self) -> i64;
}

impl NowForTests for graph_emulator::ManualClock {
    fn now_for_tests(&self) -> i64 {
        use graph_emulator::Clock;
        self.now().timestamp()
    }
}

async fn assertion_grant(env: &Env, jwt: &str) -> (StatusCode, Value) {
    let client_id = env.app().client_id.to_string();
    post_token(
        env,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("scope", "https://graph.microsoft.com/.default"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", jwt),
        ],
    )
    .await
}

/// Source: v2-oauth2-client-creds-grant-flow.md, "Successful response" (token_type,
/// expires_in, ext_expires_in, access_token); the access token carries `roles` and `tid`.
#[tokio::test]
async fn client_secret_grant_returns_the_documented_token_response_with_roles() {
    let env = start(20, 0).await;
    let app = env.app().clone();
    let (status, body) = post_token(
        &env,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &app.client_id.to_string()),
            ("client_secret", &app.client_secret),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    let token = body["access_token"].as_str().expect("token");
    let claims: Value = jsonwebtoken::dangerous::insecure_decode(token)
        .expect("jwt")
        .claims;
    assert_eq!(claims["tid"], app.tenant_id.to_string());
    assert_eq!(claims["appid"], app.client_id.to_string());
    assert!(
        claims["roles"]
            .as_array()
            .expect("roles")
            .contains(&json!("AuditLog.Read.All"))
    );
    assert!(claims["exp"].is_i64() && claims.get("scp").is_none());
}

/// Source: reference-error-codes.md (AADSTS7000215, 700016, 90002).
#[tokio::test]
async fn wrong_secret_unknown_app_and_unknown_tenant_give_their_aadsts_errors() {
    let env = start(20, 0).await;
    let client_id = env.app().client_id.to_string();
    let grant = |secret: &'static str, client: String| async move {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client),
            ("client_secret", secret.to_owned()),
            ("scope", "https://graph.microsoft.com/.default".to_owned()),
        ]
    };
    let form = grant("wrong", client_id.clone()).await;
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post_token(&env, &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_aadsts(&body, 7000215, "invalid_client");

    let other = uuid::Uuid::new_v4().to_string();
    let form = grant("x", other).await;
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post_token(&env, &form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aadsts(&body, 700016, "unauthorized_client");

    let response = env
        .client
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            env.running.authority_url,
            uuid::Uuid::new_v4()
        ))
        .form(&form)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_aadsts(
        &response.json().await.expect("json"),
        90002,
        "invalid_request",
    );
}

/// Source: certificate-credentials.md ("Assertion format": PS256 + x5t#S256, RS256 + x5t;
/// aud = token endpoint, iss = sub = client id).
#[tokio::test]
async fn certificate_assertions_in_ps256_and_rs256_are_accepted() {
    let env = start(20, 0).await;
    let key = env.app().private_key_pem.clone().expect("key");
    for (alg, sha256) in [(Algorithm::PS256, true), (Algorithm::RS256, false)] {
        let (status, body) = assertion_grant(&env, &assertion(&env, alg, &key, sha256)).await;
        assert_eq!(status, StatusCode::OK, "{alg:?}: {body}");
        let claims: Value =
            jsonwebtoken::dangerous::insecure_decode(body["access_token"].as_str().expect("token"))
                .expect("jwt")
                .claims;
        assert_eq!(claims["appidacr"], "2");
    }
}

/// Source: reference-error-codes.md (AADSTS700027 "Client assertion failed signature
/// validation").
#[tokio::test]
async fn a_certificate_assertion_signed_with_a_wrong_key_is_aadsts700027() {
    let env = start(20, 0).await;
    let wrong = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)
        .expect("key")
        .serialize_pem();
    let (status, body) =
        assertion_grant(&env, &assertion(&env, Algorithm::PS256, &wrong, true)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_aadsts(&body, 700027, "invalid_client");
}

/// Source: workload-identity-federation (federated credential: issuer, subject, audience
/// `api://AzureADTokenExchange`); reference-error-codes.md (AADSTS70021).
#[tokio::test]
async fn a_federated_assertion_from_the_registered_issuer_is_accepted_and_a_stranger_is_not() {
    let env = start(20, 0).await;
    let app = env.app().clone();
    let now = env.clock.now_for_tests();
    let key = EncodingKey::from_rsa_pem(
        app.federated_private_key_pem
            .as_deref()
            .expect("issuer key")
            .as_bytes(),
    )
    .expect("key");
    let sign = |subject: &str| {
        let claims = json!({"iss": app.federated_issuer, "sub": subject, "aud": app.federated_audience, "nbf": now, "exp": now + 3600});
        encode(&Header::new(Algorithm::RS256), &claims, &key).expect("sign")
    };
    let (status, body) = assertion_grant(
        &env,
        &sign(app.federated_subject.as_deref().expect("subject")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = assertion_grant(&env, &sign("system:serviceaccount:other:intruder")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aadsts(&body, 70021, "invalid_request");
}

/// Source: v2-oauth2-auth-code-flow.md ("Successful response" of /authorize: code + state;
/// redeeming: access_token, refresh_token, scope; "Refresh the access token");
/// refresh-tokens.md (a new refresh token on every use); reference-error-codes.md
/// (AADSTS70008, 54005, 700082).
#[tokio::test]
async fn authorize_redirects_with_code_and_state_and_refresh_tokens_rotate() {
    let env = start_with(EmulatorConfig {
        users: 20,
        groups: 0,
        single_use_refresh_tokens: true,
        ..EmulatorConfig::default()
    })
    .await;
    let app = env.app().clone();
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let authorize = |state: &'static str| {
        no_redirect
            .get(format!("{}/{}/oauth2/v2.0/authorize", env.running.authority_url, app.tenant_id))
            .query(&[("client_id", app.client_id.to_string().as_str()), ("response_type", "code"), ("redirect_uri", "http://127.0.0.1:9/authcallback"), ("scope", "offline_access https://graph.microsoft.com/User.Read.All https://graph.microsoft.com/Group.Read.All"), ("state", state)])
            .send()
    };
    let response = authorize("s-1").await.expect("authorize");
    assert_eq!(response.status(), StatusCode::FOUND);
    let location =
        url::Url::parse(response.headers()["location"].to_str().expect("location")).expect("url");
    assert_eq!(location.path(), "/authcallback");
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(pairs["state"], "s-1");
    let code = pairs["code"].clone();
    let redeem = |code: String| {
        let client_id = app.client_id.to_string();
        let secret = app.client_secret.clone();
        let env = &env;
        async move {
            post_token(
                env,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &client_id),
                    ("client_secret", &secret),
                    ("code", &code),
                    ("redirect_uri", "http://127.0.0.1:9/authcallback"),
                ],
            )
            .await
        }
    };
    let (status, body) = redeem(code.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["scope"]
            .as_str()
            .expect("scope")
            .contains("https://graph.microsoft.com/User.Read.All")
    );
    let claims: Value =
        jsonwebtoken::dangerous::insecure_decode(body["access_token"].as_str().expect("at"))
            .expect("jwt")
            .claims;
    assert_eq!(claims["scp"], "User.Read.All Group.Read.All");
    let first_refresh = body["refresh_token"].as_str().expect("refresh").to_owned();
    let (status, body) = redeem(code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aadsts(&body, 54005, "invalid_grant");

    let refresh = |token: String| {
        let client_id = app.client_id.to_string();
        let secret = app.client_secret.clone();
        let env = &env;
        async move {
            post_token(
                env,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &client_id),
                    ("client_secret", &secret),
                    ("refresh_token", &token),
                ],
            )
            .await
        }
    };
    let (status, body) = refresh(first_refresh.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second_refresh = body["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(second_refresh, first_refresh);
    let (status, body) = refresh(first_refresh).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "single-use: the old refresh token is spent"
    );
    assert_aadsts(&body, 700082, "invalid_grant");

    let response = authorize("s-2").await.expect("authorize");
    let location =
        url::Url::parse(response.headers()["location"].to_str().expect("location")).expect("url");
    let code = location
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("code");
    env.clock.advance(chrono::Duration::minutes(11));
    let (status, body) = redeem(code).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_aadsts(&body, 70008, "invalid_grant");

    env.running.control.expire_refresh_tokens();
    let (_, body) = refresh(second_refresh).await;
    assert_aadsts(&body, 700082, "invalid_grant");
}

/// Source: concepts/errors.md (401 `InvalidAuthenticationToken`), the token lifetime ends
/// at `exp`; the control API can expire tokens early.
#[tokio::test]
async fn missing_and_expired_tokens_get_401_invalid_authentication_token() {
    let env = start(20, 0).await;
    let response = env
        .client
        .get(format!("{}/users", env.running.graph_url))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let token = env.token().await;
    let (status, _, _) = env.get(&token, "/users?$top=1").await;
    assert_eq!(status, StatusCode::OK);
    env.clock.advance(chrono::Duration::seconds(3600));
    let (status, headers, body) = env.get(&token, "/users?$top=1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        crate::common::graph_error_code(&body, &headers),
        "InvalidAuthenticationToken"
    );
    let fresh = env.token().await;
    env.running.control.expire_access_tokens();
    let (status, _, _) = env.get(&fresh, "/users?$top=1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
