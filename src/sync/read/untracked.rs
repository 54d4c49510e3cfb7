//! The attributes delta cannot track (`signInActivity`), read apart from the users chain and
//! merged into the people the mirror already holds.

use std::collections::BTreeSet;

use serde_json::Value;
use tracing::warn;

use super::{ReadError, stored_by_id};
use crate::config::ConnectionSettings;
use crate::graph::GraphClient;
use crate::ids::EntraId;
use crate::mirror::{self, Notification};
use crate::store::DeltaState;
use crate::sync::sink::Sink;

/// Attributes delta cannot track (`signInActivity`) are read separately: after an
/// initial round for everyone ([`GraphClient::users_pages`]), after a delta round only for the
/// people it changed ([`GraphClient::users_by_id`]). Changed values mark the person pending.
pub async fn read_untracked(
    graph: &GraphClient,
    sink: &dyn Sink,
    connection: &ConnectionSettings,
    initial: bool,
) -> Result<u64, ReadError> {
    let properties: BTreeSet<String> = connection
        .mapping
        .delta_incompatible()
        .into_iter()
        .map(|u| u.graph_property)
        .collect();
    if properties.is_empty() {
        return Ok(0);
    }
    let select = format!(
        "id,{}",
        properties.iter().cloned().collect::<Vec<_>>().join(",")
    );
    let Some(state) = sink.state("users").await? else {
        return Ok(0);
    };
    let round = state.round_id.unwrap_or_default();
    let mut changed = 0;
    if initial {
        let mut pages = graph.users_pages(&select)?;
        while let Some(page) = pages.next_page().await? {
            changed += merge_untracked(sink, &state, round, &page.value).await?;
        }
    } else {
        let mut after = String::new();
        loop {
            let pending = sink.pending(&after, 1000).await?;
            let Some(last) = pending.last() else { break };
            after = last.0.entra_id.clone();
            let ids: Vec<&str> = pending
                .iter()
                .filter(|(u, _)| u.removed.is_none())
                .map(|(u, _)| u.entra_id.as_str())
                .collect();
            let mut objects = Vec::new();
            for read in graph.users_by_id(&ids, &select).await? {
                match read.result {
                    Ok(object) => objects.push(object),
                    // Replication lag or a person deleted meanwhile: the next run sees it.
                    Err(e) => {
                        warn!(connection = %connection.id, user = %read.id, error = %e, "Could not read an untracked attribute.")
                    }
                }
            }
            changed += merge_untracked(sink, &state, round, &objects).await?;
        }
    }
    Ok(changed)
}

async fn merge_untracked(
    sink: &dyn Sink,
    state: &DeltaState,
    round: i64,
    objects: &[serde_json::Map<String, Value>],
) -> Result<u64, ReadError> {
    let ids: Vec<EntraId> = objects
        .iter()
        .filter_map(|o| mirror::object_id(o).map(EntraId::from))
        .collect();
    let stored = stored_by_id(sink, &ids).await?;
    let mut people = Vec::new();
    for object in objects {
        let Some(previous) = mirror::object_id(object).and_then(|id| stored.get(id)) else {
            continue;
        };
        // Never let a partial read revive someone the mirror holds as removed.
        if previous.removed.is_some() {
            continue;
        }
        if let Some(m) = mirror::merge_user(Some(previous), object, false)
            && m.notification.is_some()
        {
            people.push((m.user, Some(Notification::Updated)));
        }
    }
    if !people.is_empty() {
        sink.users_page(round, &people, state).await?;
    }
    Ok(people.len() as u64)
}
