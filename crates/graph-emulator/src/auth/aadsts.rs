//! AADSTS error bodies, shaped as the identity platform returns them
//! (reference-error-codes.md, "Handling error codes in your application"; the token endpoint
//! pages v2-oauth2-client-creds-grant-flow.md and v2-oauth2-auth-code-flow.md, "Error response").

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

/// An identity-platform error: an OAuth `error`, an AADSTS number and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aadsts {
    /// HTTP status (400, or 401 for client-authentication failures).
    pub status: StatusCode,
    /// OAuth error (`invalid_client`, `invalid_grant`, …).
    pub error: &'static str,
    /// The AADSTS number.
    pub code: u32,
    /// Text after `AADSTS{code}: `.
    pub description: String,
}

impl Aadsts {
    fn new(
        status: StatusCode,
        error: &'static str,
        code: u32,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            error,
            code,
            description: description.into(),
        }
    }

    /// 90002: the tenant in the path does not exist.
    pub fn tenant_not_found(tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        )
    }

    /// 700016: no app with this client id in the tenant.
    pub fn app_not_found(client_id: &str, tenant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    }

    /// 7000215: wrong client secret.
    pub fn invalid_secret(client_id: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        )
    }

    /// 7000218: neither a secret nor an assertion.
    pub fn missing_client_credential() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    }

    /// 700027: the assertion's signature does not verify against a registered key.
    pub fn bad_assertion_signature(reason: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700027,
            format!("Client assertion failed signature validation. [Reason - {reason}]"),
        )
    }

    /// 700024: the assertion is expired or not yet valid.
    pub fn assertion_time_range() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range.",
        )
    }

    /// 50027: malformed assertion (wrong audience, issuer or subject).
    pub fn malformed_jwt(reason: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            format!("JWT token is invalid or malformed. {reason}"),
        )
    }

    /// 70021: no federated credential matches the assertion.
    pub fn no_federated_match(issuer: &str, subject: &str, audience: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            70021,
            format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{audience}'."
            ),
        )
    }

    /// 900144: a required form parameter is missing.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{name}'."),
        )
    }

    /// 70003: unsupported grant type.
    pub fn unsupported_grant(grant: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{grant}'."),
        )
    }

    /// 1002012: client credentials need a `/.default` scope.
    pub fn invalid_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        )
    }

    /// 70008: the authorization code (or refresh token) expired.
    pub fn expired_code() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    }

    /// 700082: the refresh token expired.
    pub fn expired_refresh_token(issued: DateTime<Utc>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            700082,
            format!(
                "The refresh token has expired due to inactivity. The token was issued on {}.{:07}Z and was inactive for 90.00:00:00.",
                issued.format("%Y-%m-%dT%H:%M:%S"),
                issued.timestamp_subsec_nanos() / 100
            ),
        )
    }

    /// 54005: the code was already redeemed.
    pub fn code_already_redeemed() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        )
    }

    /// 9002313: unknown or garbled code / refresh token.
    pub fn malformed_grant() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        )
    }

    /// 70000: the grant belongs to another client or redirect URI.
    pub fn grant_mismatch(reason: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            70000,
            format!("Provided grant is invalid or malformed. {reason}"),
        )
    }

    /// 501481: PKCE verifier does not match.
    pub fn pkce_mismatch() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            501481,
            "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
        )
    }

    /// 50011: unusable redirect URI.
    pub fn bad_redirect_uri(uri: &str, client_id: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50011,
            format!(
                "The redirect URI '{uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."
            ),
        )
    }

    /// The JSON body, stamped with `now` and fresh trace and correlation ids.
    pub fn body(&self, now: DateTime<Utc>, authority: &str) -> serde_json::Value {
        let trace_id = Uuid::new_v4();
        let correlation_id = Uuid::new_v4();
        let timestamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}",
                self.code, self.description
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{authority}/error?code={}", self.code),
        })
    }

    /// The error as an HTTP response.
    pub fn respond(&self, now: DateTime<Utc>, authority: &str) -> Response {
        (self.status, Json(self.body(now, authority))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_every_field_entra_returns() {
        let body = Aadsts::invalid_secret("abc").body(DateTime::default(), "http://x");
        let description = body["error_description"].as_str().expect("description");
        assert!(description.starts_with("AADSTS7000215: Invalid client secret provided."));
        assert!(description.contains("\r\nTrace ID: "));
        assert_eq!(body["error"], "invalid_client");
        assert_eq!(body["error_codes"], json!([7000215]));
        assert_eq!(body["timestamp"], "1970-01-01 00:00:00Z");
        assert_eq!(body["error_uri"], "http://x/error?code=7000215");
        assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
    }
}
