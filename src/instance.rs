//! Which connections this instance runs. Each connection lists the instances it is enabled for
//! (`enabled_for_instances`); this daemon is `[instance].name` (or `--instance`). Whatever would
//! write for a connection — a sync, an applied import or remap, an approval, a delta reset, and
//! the scheduler — asks [`ensure_enabled`] first. Previews (`sync --dry-run`, `import` and
//! `remap` without `--apply`) write nothing and run anywhere, so a UAT copy of the configuration
//! can show what production would do.

use crate::config::{ConnectionSettings, Settings};

/// A connection that is not enabled for the running instance, and what was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "connection \"{connection}\" is not enabled for instance \"{instance}\" (it runs on: {}); refusing to {refused}",
    .runs_on.join(", ")
)]
pub struct NotEnabled {
    /// The connection id.
    pub connection: String,
    /// The running instance.
    pub instance: String,
    /// The connection's `enabled_for_instances`.
    pub runs_on: Vec<String>,
    /// What was refused, as a verb phrase (`sync`, `approve run 7`).
    pub refused: String,
}

/// `Ok` when `connection` is enabled for the running instance; otherwise what says why `refused`
/// (a verb phrase: "sync", "approve run 7") is not done.
pub fn ensure_enabled(
    settings: &Settings,
    connection: &ConnectionSettings,
    refused: &str,
) -> Result<(), NotEnabled> {
    let instance = &settings.instance.name;
    if connection.enabled_for_instances.contains(instance) {
        Ok(())
    } else {
        Err(NotEnabled {
            connection: connection.id.to_string(),
            instance: instance.clone(),
            runs_on: connection.enabled_for_instances.clone(),
            refused: refused.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_names_the_instance_the_connection_and_where_it_runs() {
        let refusal = NotEnabled {
            connection: "contoso".into(),
            instance: "uat".into(),
            runs_on: vec!["production".into(), "dr".into()],
            refused: "sync".into(),
        };
        assert_eq!(
            refusal.to_string(),
            "connection \"contoso\" is not enabled for instance \"uat\" (it runs on: production, dr); refusing to sync"
        );
    }
}
