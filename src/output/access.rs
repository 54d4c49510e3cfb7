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

/// `authorize`, on standard error while it waits.
pub fn sign_in_prompt(
    connection: &str,
    callback: &url::Url,
    expires_at: chrono::DateTime<chrono::Utc>,
    served_here: bool,
) -> String {
    let who = if served_here {
        "this command is listening for it"
    } else {
        "the daemon on the admin listener takes it"
    };
    format!(
        "Open the URL above in a browser and sign in to connection {connection}'s tenant (an administrator consents for the organisation).\n\
         Entra sends the browser back to {callback} ({who}); the link works once, until {} UTC.\n",
        expires_at.format("%H:%M:%S")
    )
}

/// `authorize`, once the callback has come (or has not).
pub fn sign_in_result(connection: &str, progress: &crate::service::SignInProgress) -> String {
    use crate::service::SignInProgress;
    match progress {
        SignInProgress::Done(outcome) if outcome == "signed_in" => {
            format!("Connection {connection} is authorised: its refresh token is stored sealed.\n")
        }
        SignInProgress::Done(outcome) => {
            format!("The sign-in of connection {connection} did not complete ({outcome}).\n")
        }
        SignInProgress::Pending | SignInProgress::Expired => format!(
            "Nobody came back from the sign-in of connection {connection} in time; run `entra-sync authorize {connection}` again.\n"
        ),
    }
}
