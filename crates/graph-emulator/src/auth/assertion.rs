//! Client assertions: a certificate credential's JWT (PS256 with `x5t#S256`, or RS256 with
//! `x5t`; certificate-credentials.md) or a federated identity's JWT (workload identity
//! federation), verified against the keys registered on the app.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::Value;

use super::aadsts::Aadsts;
use super::apps::AppRegistration;

/// `client_assertion_type` for JWT assertions.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew tolerated on `nbf` and `exp`.
const SKEW_MINUTES: i64 = 5;

#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    sub: String,
    #[serde(default)]
    aud: Value,
    exp: Option<i64>,
    nbf: Option<i64>,
}

impl Claims {
    fn audiences(&self) -> Vec<&str> {
        match &self.aud {
            Value::String(s) => vec![s.as_str()],
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    fn check_time(&self, now: DateTime<Utc>) -> Result<(), Aadsts> {
        let skew = Duration::minutes(SKEW_MINUTES).num_seconds();
        let (Some(exp), nbf) = (self.exp, self.nbf) else {
            return Err(Aadsts::malformed_jwt("The 'exp' claim is missing."));
        };
        if exp + skew < now.timestamp() || nbf.is_some_and(|nbf| nbf - skew > now.timestamp()) {
            return Err(Aadsts::assertion_time_range());
        }
        Ok(())
    }
}

/// Verifies `assertion` for `app`. `token_endpoints` are the audiences a certificate assertion
/// may name (the token endpoint with the tenant as id or as domain).
pub fn verify(
    assertion: &str,
    app: &AppRegistration,
    token_endpoints: &[String],
    now: DateTime<Utc>,
) -> Result<(), Aadsts> {
    let header = decode_header(assertion)
        .map_err(|_| Aadsts::malformed_jwt("The client assertion is not a JWT."))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(Aadsts::bad_assertion_signature(&format!(
            "The algorithm {:?} is not supported.",
            header.alg
        )));
    }
    let peeked: Claims = jsonwebtoken::dangerous::insecure_decode(assertion)
        .map(|data| data.claims)
        .map_err(|_| Aadsts::malformed_jwt("The client assertion's claims are not readable."))?;
    let client_id = app.client_id.to_string();
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();

    if peeked.iss.eq_ignore_ascii_case(&client_id) {
        // Certificate credential: the key is the one whose thumbprint the header names.
        let key = app.certificate.as_ref().filter(|cert| {
            header
                .x5t_s256
                .as_deref()
                .is_some_and(|t| cert.matches_thumbprint(t, true))
                || header
                    .x5t
                    .as_deref()
                    .is_some_and(|t| cert.matches_thumbprint(t, false))
        });
        let Some(key) = key else {
            let used = header.x5t_s256.or(header.x5t).unwrap_or_default();
            return Err(Aadsts::bad_assertion_signature(&format!(
                "The key was not found., Thumbprint of key used by client: '{used}'"
            )));
        };
        decode::<Claims>(assertion, &key.decoding, &validation)
            .map_err(|_| Aadsts::bad_assertion_signature("Signature verification failed."))?;
        if !peeked.sub.eq_ignore_ascii_case(&client_id) {
            return Err(Aadsts::malformed_jwt(
                "The 'sub' claim must be the client id.",
            ));
        }
        let audiences = peeked.audiences();
        if !audiences
            .iter()
            .any(|aud| token_endpoints.iter().any(|e| e.eq_ignore_ascii_case(aud)))
        {
            return Err(Aadsts::malformed_jwt(&format!(
                "The audience '{}' is not the token endpoint.",
                audiences.join(", ")
            )));
        }
        return peeked.check_time(now);
    }

    // Federated credential: issuer, subject and audience must match a registered record.
    let audience = peeked.audiences().join(", ");
    let federated = app.federated.as_ref().filter(|f| {
        f.issuer == peeked.iss
            && f.subject == peeked.sub
            && peeked.audiences().contains(&f.audience.as_str())
    });
    let Some(federated) = federated else {
        return Err(Aadsts::no_federated_match(
            &peeked.iss,
            &peeked.sub,
            &audience,
        ));
    };
    decode::<Claims>(assertion, &federated.key.decoding, &validation)
        .map_err(|_| Aadsts::bad_assertion_signature("Signature verification failed."))?;
    peeked.check_time(now)
}
