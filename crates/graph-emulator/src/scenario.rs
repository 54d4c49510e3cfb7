//! Scenario files: JSON that sizes each tenant and adds named users and groups on top of the
//! generated ones, so a demo or test can rely on exact people.
//!
//! ```json
//! { "tenants": [ {
//!     "users": 50, "groups": 20,
//!     "add_users": [ { "userPrincipalName": "ada@contoso.com", "displayName": "Ada Lovelace",
//!                      "department": "IT", "usageLocation": "GB", "manager": "boss@contoso.com" } ],
//!     "add_groups": [ { "displayName": "SG-Demo", "kind": "security",
//!                       "members": ["ada@contoso.com", "SG-Agents-L1"] } ]
//! } ] }
//! ```

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::directory::{Directory, GroupKind};

/// Why a scenario file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// Unreadable file.
    #[error("reading scenario {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Not a valid scenario.
    #[error("parsing scenario {path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        source: serde_json::Error,
    },
}

/// A scenario: one entry per tenant.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The tenants, in order.
    pub tenants: Vec<ScenarioTenant>,
}

/// One tenant of a scenario.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioTenant {
    /// Generated users (default: the emulator's `users`).
    pub users: Option<usize>,
    /// Generated groups (default: the emulator's `groups`).
    pub groups: Option<usize>,
    /// Users to add: Graph property names; `manager` names a userPrincipalName.
    #[serde(default)]
    pub add_users: Vec<Map<String, Value>>,
    /// Groups to add.
    #[serde(default)]
    pub add_groups: Vec<ScenarioGroup>,
}

/// A group a scenario adds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScenarioGroup {
    /// Display name.
    pub display_name: String,
    /// security | microsoft365 | distribution.
    #[serde(default = "security")]
    pub kind: GroupKind,
    /// Description.
    pub description: Option<String>,
    /// Members: userPrincipalNames or display names of groups.
    #[serde(default)]
    pub members: Vec<String>,
}

fn security() -> GroupKind {
    GroupKind::Security
}

/// A stable id for a named object, so scenario objects keep their ids across runs.
fn named_id(tenant: Uuid, name: &str) -> Uuid {
    let digest = Sha256::digest(format!("{tenant}/{name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

impl Scenario {
    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: shown.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ScenarioError::Parse {
            path: shown,
            source,
        })
    }
}

impl ScenarioTenant {
    /// Adds the scenario's users and groups; problems are logged and the item skipped, so a
    /// demo still starts.
    pub fn apply(&self, dir: &mut Directory, now: DateTime<Utc>) {
        let mut managers = Vec::new();
        for props in &self.add_users {
            let mut props = props.clone();
            let manager = props
                .remove("manager")
                .and_then(|m| m.as_str().map(str::to_owned));
            let upn = props
                .get("userPrincipalName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            match dir.create_user(named_id(dir.tenant_id, &upn), &props, now) {
                Ok(id) => managers.extend(manager.map(|m| (id, m))),
                Err(error) => tracing::warn!(%error, upn, "Scenario user skipped."),
            }
        }
        for (id, manager) in managers {
            let manager_id = dir.live_user_by_key(&manager).map(|u| u.id);
            if let Err(error) = manager_id.map_or(Ok(()), |m| dir.set_manager(id, Some(m))) {
                tracing::warn!(%error, manager, "Scenario manager skipped.");
            }
        }
        for group in &self.add_groups {
            let id = named_id(dir.tenant_id, &group.display_name);
            let created = dir.create_group(
                id,
                &group.display_name,
                group.kind,
                group.description.as_deref(),
                now,
            );
            if let Err(error) = created {
                tracing::warn!(%error, group = group.display_name, "Scenario group skipped.");
                continue;
            }
            for member in &group.members {
                let member_id = dir.live_user_by_key(member).map(|u| u.id).or_else(|| {
                    dir.groups
                        .iter()
                        .find(|g| g.is_live() && g.display_name.as_ref() == member)
                        .map(|g| g.id)
                });
                let added = member_id.map(|m| dir.add_member(id, m));
                if !matches!(added, Some(Ok(()))) {
                    tracing::warn!(
                        member,
                        group = group.display_name,
                        "Scenario member skipped."
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::{TenantSize, generate};

    #[test]
    fn a_scenario_adds_named_users_groups_and_managers() {
        let scenario: Scenario = serde_json::from_value(serde_json::json!({"tenants": [{
            "add_users": [
                {"userPrincipalName": "boss@x.test", "displayName": "Boss"},
                {"userPrincipalName": "ada@x.test", "displayName": "Ada", "manager": "boss@x.test"}
            ],
            "add_groups": [{"displayName": "SG-Demo", "members": ["ada@x.test", "SG-CAB"]}]
        }]}))
        .expect("scenario");
        let mut dir = generate(
            1,
            0,
            TenantSize {
                users: 20,
                groups: 1,
            },
        );
        scenario.tenants[0].apply(&mut dir, DateTime::default());
        let ada = dir.live_user_by_key("ada@x.test").expect("ada");
        let boss = dir.live_user_by_key("boss@x.test").expect("boss");
        assert_eq!(ada.manager, Some(boss.id));
        let demo = dir
            .groups
            .iter()
            .find(|g| g.display_name.as_ref() == "SG-Demo")
            .expect("group");
        assert_eq!(demo.members.len(), 2);
    }
}
