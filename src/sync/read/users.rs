//! The users chain: its pages read ahead, merged into the mirror's people several pages to a
//! commit, each commit with its checkpoint; a complete initial round marks everyone it did not
//! return as removed.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use tracing::{info, warn};

use super::{ChainReport, Cleaned, ReadError, RoundStart, fingerprint, stored_by_id};
use crate::config::{ConnectionSettings, DeltaMethod};
use crate::graph::{GraphClient, GraphError};
use crate::ids::EntraId;
use crate::mirror::{self, MirrorUser, Notification};
use crate::store::DeltaState;
use crate::sync::sink::Sink;
use crate::sync::{Progress, Step};

/// The `$select` of the users chain.
pub fn users_select(connection: &ConnectionSettings) -> Vec<String> {
    let mut select: BTreeSet<String> = connection.mapping.graph_select().into_iter().collect();
    if connection.sync.delta_method == DeltaMethod::AllChanges {
        select.extend(
            mapping::CATALOGUE
                .iter()
                .filter(|a| !a.contains('.'))
                .map(|a| (*a).to_owned()),
        );
    }
    select.into_iter().collect()
}

/// People read before the users chain commits (several pages in one transaction).
const USERS_PER_COMMIT: usize = 5_000;

/// Pages the users chain reads ahead of its merges and commits.
const USERS_READ_AHEAD: usize = 8;

/// Reads the users chain into the sink. `full` forces a fresh initial round.
pub async fn read_users(
    graph: &GraphClient,
    sink: &dyn Sink,
    connection: &ConnectionSettings,
    run_id: i64,
    full: bool,
    progress: Option<&Progress>,
) -> Result<ChainReport, ReadError> {
    let select = users_select(connection).join(",");
    let config_fingerprint = fingerprint(&["users", &select]);
    let initial_url = graph.users_delta_url(&select)?;
    let stored = sink.state("users").await?;
    let mut report = ChainReport::default();
    let start = RoundStart {
        config_fingerprint: &config_fingerprint,
        initial_url: &initial_url,
        run_id,
        full,
        delta: connection.sync.delta,
    };
    let why = "the users $select changed with the configuration; starting a fresh initial round";
    let (mut url, mut round, mut initial) =
        start.decide(graph, stored.as_ref(), why, &mut report)?;
    let mut restarts = 0;
    // When the mirror holds nobody as the read begins, a person is stored only once this read has
    // committed them: everyone else is new, and is not looked up (an initial import's lookups
    // would all come back empty).
    let mut committed: Option<HashSet<String>> = sink.holds_nobody().await?.then(HashSet::new);
    'round: loop {
        // Pages are read ahead while earlier ones are merged and committed; each carries the
        // position after it, which its commit's checkpoint names, so a crash resumes from there.
        let mut pages = graph.pages(url.clone()).read_ahead(USERS_READ_AHEAD);
        // People read since the last commit: several pages go into one transaction. A person can
        // appear more than once (replays): later objects merge into earlier ones, in order.
        let mut merged: BTreeMap<String, (MirrorUser, Option<Notification>)> = BTreeMap::new();
        loop {
            let (page, position) = match pages.next().await {
                Ok(Some(page)) => page,
                Ok(None) => break 'round,
                Err(GraphError::ResyncRequired { reason }) if restarts < 2 => {
                    restarts += 1;
                    warn!(connection = %connection.id, reason = %reason, "The users delta state expired; starting a fresh initial round.");
                    report.restarted.push(format!(
                        "resync required ({reason}); starting a fresh initial round"
                    ));
                    (url, round, initial) = (initial_url.clone(), run_id, true);
                    continue 'round;
                }
                Err(e) => return Err(e.into()),
            };
            report.pages += 1;
            report.objects += page.value.len() as u64;
            let position = position.map(|u| u.to_string());
            let ids: Vec<EntraId> = page
                .value
                .iter()
                .filter_map(mirror::object_id)
                .filter(|id| !merged.contains_key(*id))
                .filter(|id| committed.as_ref().is_none_or(|c| c.contains(*id)))
                .map(EntraId::from)
                .collect();
            let stored = if ids.is_empty() {
                BTreeMap::new()
            } else {
                stored_by_id(sink, &ids).await?
            };
            for object in &page.value {
                let Some(id) = mirror::object_id(object) else {
                    warn!(connection = %connection.id, id = ?object.get("id"), "A users delta object without an id the mirror can keep (text without a NUL) was skipped.");
                    continue;
                };
                let earlier = merged.remove(id);
                let previous = earlier.as_ref().map(|(u, _)| u).or_else(|| stored.get(id));
                match mirror::merge_user(previous, object, initial) {
                    Some(m) => {
                        if !m.cleaned.is_empty() {
                            warn!(connection = %connection.id, person = id, attributes = ?m.cleaned,
                                "Attributes held NUL characters, which the database cannot store; they were mirrored without them.");
                            report.cleaned.push(Cleaned {
                                entra_id: id.to_owned(),
                                upn: m.user.upn().map(str::to_owned),
                                attributes: m.cleaned.clone(),
                            });
                        }
                        let licences = "assignedLicenses";
                        report.licences_changed |= previous
                            .and_then(|u| u.attributes.get(licences))
                            != m.user.attributes.get(licences);
                        let notification =
                            Notification::combine(earlier.and_then(|(_, n)| n), m.notification);
                        merged.insert(id.to_owned(), (m.user, notification));
                    }
                    None => {
                        if let Some(earlier) = earlier {
                            merged.insert(id.to_owned(), earlier);
                        }
                    }
                }
            }
            if merged.len() < USERS_PER_COMMIT && position.is_some() {
                continue;
            }
            let checkpoint = DeltaState {
                connection_id: connection.id.clone(),
                chain: "users".to_owned(),
                fingerprint: config_fingerprint.clone(),
                // Only the round's last page carries the next round's link; until then the
                // checkpoint is `next_link`, so a half-read round never looks complete.
                delta_link: page.delta_link.clone(),
                next_link: position.clone(),
                round_id: Some(round),
                round_initial: initial,
            };
            let people: Vec<_> = std::mem::take(&mut merged).into_values().collect();
            sink.users_page(round, &people, &checkpoint).await?;
            if let Some(committed) = &mut committed {
                committed.extend(people.into_iter().map(|(u, _)| u.entra_id));
            }
            if let Some(p) = progress {
                (p.0)(Step::Read(report.objects));
            }
        }
    }
    report.initial = initial;
    if initial {
        let missing = sink.mark_missing(round).await?;
        if missing > 0 {
            info!(connection = %connection.id, missing, "People not returned by the complete initial round are marked removed.");
        }
    }
    Ok(report)
}
