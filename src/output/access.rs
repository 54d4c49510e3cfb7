//! What the `keys`, `access` and `agents` commands print.

use secrecy::ExposeSecret;

use super::table;
use crate::service::CreatedKey;
use crate::store::{AccessGrant, ApiKeyRow};

/// `keys create`: the key alone, so a script can capture it.
pub fn created_key(created: &CreatedKey) -> String {
    format!("{}\n", created.key.expose_secret())
}

/// `keys create`, on standard error: what the key is and that it is not shown again.
pub fn created_key_note(created: &CreatedKey) -> String {
    format!(
        "Key {} created. It is shown only now: the database keeps its digest, not the key.\n",
        created.id
    )
}

/// `keys list`.
pub fn keys(rows: &[ApiKeyRow]) -> String {
    let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".to_owned())
    };
    table(
        &[
            "ID",
            "PREFIX",
            "FOR",
            "CREATED",
            "EXPIRES",
            "LAST USED",
            "STATE",
        ],
        rows.iter()
            .map(|k| {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                vec![
                    k.id.to_string(),
                    k.prefix.clone(),
                    if k.is_admin {
                        "admin".to_owned()
                    } else {
                        k.agent_email.clone().unwrap_or_else(|| "?".to_owned())
                    },
                    when(Some(k.created_at)),
                    when(k.expires_at),
                    when(k.last_used_at),
                    state.to_owned(),
                ]
            })
            .collect(),
    )
}

/// `access list`.
pub fn access_list(grants: &[AccessGrant]) -> String {
    table(
        &["AGENT", "LEVEL"],
        grants
            .iter()
            .map(|g| {
                vec![
                    g.agent_email
                        .clone()
                        .unwrap_or_else(|| format!("agent {}", g.agent_id)),
                    g.level.to_string(),
                ]
            })
            .collect(),
    )
}

/// `agents can-configure`.
pub fn can_configure(email: &str, on: bool) -> String {
    if on {
        format!("{email} can configure Entra: every connection and the access list.\n")
    } else {
        format!("{email} can no longer configure Entra; their per-connection access remains.\n")
    }
}
