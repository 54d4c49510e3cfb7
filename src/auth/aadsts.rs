//! Identity-platform errors (`AADSTS…`) turned into messages an admin can act on.

use serde::Deserialize;

/// The error body of the token endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenErrorBody {
    /// OAuth error code, e.g. `invalid_client`.
    pub error: String,
    /// `AADSTS7000215: Invalid client secret provided. …`
    #[serde(default)]
    pub error_description: String,
    /// The AADSTS numbers.
    #[serde(default)]
    pub error_codes: Vec<u64>,
}

impl TokenErrorBody {
    /// The first AADSTS number, from `error_codes` or the description's prefix.
    pub fn code(&self) -> Option<u64> {
        self.error_codes.first().copied().or_else(|| {
            let digits: String = self
                .error_description
                .strip_prefix("AADSTS")?
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
    }
}

/// What to do about a known AADSTS code, or `None` for codes without specific advice.
pub fn advice(code: u64) -> Option<&'static str> {
    Some(match code {
        7000215 => {
            "the client secret is wrong — paste the secret's Value (shown once when it was \
             created), not its Secret ID"
        }
        7000222 => "the client secret has expired — create a new one in the app registration",
        700016 => {
            "the application (client) id was not found in this tenant — check client_id, and that \
             the app is registered in (or consented to by) this tenant"
        }
        90002 => "the tenant was not found — check tenant_id (the Directory ID of the tenant)",
        900023 => "the tenant id is malformed — use the Directory (tenant) ID GUID",
        700027 => {
            "the client assertion's signature was not accepted — upload this certificate to the \
             app registration (Certificates & secrets), or configure the matching private key"
        }
        700024 => "the client assertion is outside its valid time range — check this host's clock",
        70008 | 700082 | 700084 => {
            "the delegated sign-in has expired — re-authorise this connection (sign in again from \
             the admin page)"
        }
        65001 => "the app lacks admin consent — grant admin consent for its API permissions",
        70011 => "the requested scope is invalid for this app",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_comes_from_error_codes_or_the_description() {
        let body: TokenErrorBody = serde_json::from_str(
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#,
        )
        .unwrap();
        assert_eq!(body.code(), Some(7000215));
        let bare: TokenErrorBody = serde_json::from_str(
            r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found."}"#,
        )
        .unwrap();
        assert_eq!(bare.code(), Some(90002));
        assert!(advice(7000215).is_some_and(|a| a.contains("Value")));
        assert_eq!(advice(1), None);
    }
}
