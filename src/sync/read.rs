//! Reading Entra: the users chain and the groups chains, each a delta round
//! that starts fresh, resumes from its checkpoint, or continues from the stored delta link.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use aws_lc_rs::digest;
use futures::StreamExt;
use serde_json::Value;
use tracing::{info, warn};

use super::sink::Sink;
use crate::config::{ConnectionSettings, DeltaMethod};
use crate::graph::endpoints::{self, GROUP_DELTA_SELECT};
use crate::graph::{GraphClient, GraphError, ReadAhead, odata};
use crate::ids::EntraId;
use crate::mirror::{self, GroupDelta, MirrorUser, Notification};
use crate::store::{DeltaState, MemberMarks, StoreError};

/// Why reading failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Graph failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a chain's round went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Pages read.
    pub pages: u64,
    /// Objects read.
    pub objects: u64,
    /// The round was an initial (full) one.
    pub initial: bool,
    /// Why it started over, when it did (fingerprint change, expired token, …).
    pub restarted: Vec<String>,
    /// Somebody's `assignedLicenses` changed (users chain only).
    pub licences_changed: bool,
    /// People whose attributes held text no database can store (NUL characters), mirrored
    /// without it (users chain only).
    pub cleaned: Vec<Cleaned>,
}

/// A person some of whose attributes held NUL characters, mirrored with them removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// The person's Entra id.
    pub entra_id: String,
    /// Their user principal name, when known.
    pub upn: Option<String>,
    /// The attributes that were cleaned.
    pub attributes: Vec<String>,
}

/// Where a chain's round starts: a fresh initial round when the chain is new, its
/// fingerprint changed or a full run is asked for; the checkpoint of an unfinished round; else the
/// stored delta link. Never a jump to "latest".
struct RoundStart<'a> {
    config_fingerprint: &'a str,
    initial_url: &'a url::Url,
    run_id: i64,
    full: bool,
    delta: bool,
}

impl RoundStart<'_> {
    /// `(url, round id, initial)`.
    fn decide(
        &self,
        graph: &GraphClient,
        stored: Option<&DeltaState>,
        changed: &str,
        report: &mut ChainReport,
    ) -> Result<(url::Url, i64, bool), GraphError> {
        let fresh = (self.initial_url.clone(), self.run_id, true);
        Ok(match stored {
            Some(s) if s.fingerprint != self.config_fingerprint => {
                report.restarted.push(changed.to_owned());
                fresh
            }
            Some(DeltaState {
                next_link: Some(next),
                round_id,
                round_initial,
                ..
            }) if *round_initial || !self.full => (
                graph.link(next)?,
                round_id.unwrap_or(self.run_id),
                *round_initial,
            ),
            Some(DeltaState {
                delta_link: Some(link),
                ..
            }) if !self.full && self.delta => (graph.link(link)?, self.run_id, false),
            _ => fresh,
        })
    }
}

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

/// A short stable hash of what a chain was created with.
pub fn fingerprint(parts: &[&str]) -> String {
    let digest = digest::digest(&digest::SHA256, parts.join("\n").as_bytes());
    hex::encode(&digest.as_ref()[..8])
}

/// People read before the users chain commits (several pages in one transaction).
const USERS_PER_COMMIT: usize = 5_000;

/// Pages the users chain reads ahead of its merges and commits.
const USERS_READ_AHEAD: usize = 8;

/// Pages a group's read runs ahead of its writes. A group that stops reading falls behind the
/// round trips it shares with the others and can never catch up, so this is deep: the pages wait
/// as JSON text, about 90 kB each.
const GROUP_READ_AHEAD: usize = 256;

/// Membership changes read before a groups chain commits.
const MEMBERS_PER_COMMIT: usize = 5_000;

/// Membership additions and removals held in `groups` (what a groups commit writes).
fn member_changes(groups: &[GroupDelta]) -> usize {
    groups
        .iter()
        .map(|g| g.added.len() + g.removed_members.len())
        .sum()
}

/// The mirror's stored versions of `ids`, by Entra id.
async fn stored_by_id(
    sink: &dyn Sink,
    ids: &[EntraId],
) -> Result<BTreeMap<String, MirrorUser>, StoreError> {
    Ok(sink
        .stored(ids)
        .await?
        .into_iter()
        .map(|u| (u.entra_id.clone(), u))
        .collect())
}

/// Reads the users chain into the sink. `full` forces a fresh initial round.
pub async fn read_users(
    graph: &GraphClient,
    sink: &dyn Sink,
    connection: &ConnectionSettings,
    run_id: i64,
    full: bool,
    progress: Option<&super::Progress>,
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
                .filter_map(|o| o.get("id").and_then(Value::as_str))
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
                let Some(id) = object.get("id").and_then(Value::as_str) else {
                    warn!(connection = %connection.id, "A users delta object without an id was skipped.");
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
                (p.0)(super::Step::Read(report.objects));
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

/// Resolves the configured group names to ids ([`GraphClient::group_ids_named`]).
/// Returns name → id for names that resolve to exactly one group, and a warning per other name.
pub async fn resolve_groups(
    graph: &GraphClient,
    names: &[&str],
) -> Result<(BTreeMap<String, String>, Vec<String>), ReadError> {
    let mut resolved = BTreeMap::new();
    let mut warnings = Vec::new();
    for (found, name) in graph.group_ids_named(names).await?.into_iter().zip(names) {
        match found.as_slice() {
            [id] => {
                resolved.insert((*name).to_owned(), id.clone());
            }
            [] => warnings.push(format!("group \"{name}\" was not found in Entra: mappings naming it match nobody")),
            several => warnings.push(format!(
                "group name \"{name}\" matches {} groups in Entra: mappings naming it match nobody until the name is unique",
                several.len()
            )),
        }
    }
    Ok((resolved, warnings))
}

/// Reads the groups chains for `group_ids` (at most 50 per chain). With nested groups, child
/// groups found in memberships join the tracked set and are read in the same run.
pub async fn read_groups(
    graph: &GraphClient,
    sink: &dyn Sink,
    connection: &ConnectionSettings,
    run_id: i64,
    full: bool,
    group_ids: BTreeSet<String>,
) -> Result<ChainReport, ReadError> {
    let mut report = ChainReport::default();
    let mut tracked = group_ids.clone();
    let mut level = group_ids;
    for depth in 0..6 {
        // Each level's chains are independent, so they are read concurrently; a level's chain
        // names stay stable while its groups do (configured groups first, then each nesting level).
        let ids: Vec<&String> = level.iter().collect();
        let prefix = if depth == 0 {
            "groups".to_owned()
        } else {
            format!("nested{depth}")
        };
        let chains = ids.chunks(50).enumerate().map(|(index, chunk)| {
            let chain = format!("{prefix}:{index}");
            // Boxed as `Send`: a future made by a closure and awaited through `try_join_all`
            // would otherwise not be provably `Send` for every lifetime, and the daemon spawns
            // its runs.
            let read: ChainRead<'_> = Box::pin(async move {
                let mut chain_report = ChainReport::default();
                read_group_chain(
                    graph,
                    sink,
                    connection,
                    run_id,
                    full,
                    chain,
                    chunk,
                    &mut chain_report,
                )
                .await?;
                Ok::<_, ReadError>(chain_report)
            });
            read
        });
        let chains: Vec<ChainRead<'_>> = chains.collect();
        for chain_report in futures::future::try_join_all(chains).await? {
            report.pages += chain_report.pages;
            report.objects += chain_report.objects;
            report.initial |= chain_report.initial;
            report.restarted.extend(chain_report.restarted);
        }
        if !connection.sync.nested_groups {
            break;
        }
        let children: BTreeSet<String> = sink
            .group_links()
            .await?
            .into_iter()
            .filter(|(g, _, _)| level.contains(g))
            .map(|(_, member, _)| member)
            .filter(|m| !tracked.contains(m))
            .collect();
        if children.is_empty() {
            break;
        }
        tracked.extend(children.iter().cloned());
        level = children;
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn read_group_chain(
    graph: &GraphClient,
    sink: &dyn Sink,
    connection: &ConnectionSettings,
    run_id: i64,
    full: bool,
    chain: String,
    ids: &[&String],
    report: &mut ChainReport,
) -> Result<(), ReadError> {
    let id_strs: Vec<&str> = ids.iter().map(|s| s.as_str()).collect();
    let filter = odata::ids_eq(&id_strs);
    let config_fingerprint = fingerprint(&["groups", &filter, GROUP_DELTA_SELECT]);
    let initial_url = graph.groups_delta_url(&id_strs)?;
    let stored = sink.state(&chain).await?;
    let start = RoundStart {
        config_fingerprint: &config_fingerprint,
        initial_url: &initial_url,
        run_id,
        full,
        delta: connection.sync.delta,
    };
    let why = format!("{chain}: the tracked groups changed; starting a fresh initial round");
    let (mut url, mut round, mut initial) = start.decide(graph, stored.as_ref(), &why, report)?;
    if url == initial_url && ids.len() > 1 {
        let checkpoint = DeltaState {
            connection_id: connection.id.clone(),
            chain: chain.clone(),
            fingerprint: config_fingerprint.clone(),
            delta_link: None,
            next_link: None,
            round_id: Some(run_id),
            round_initial: true,
        };
        if read_chain_by_group(graph, sink, &initial_url, checkpoint, ids, report).await? {
            return Ok(());
        }
    }
    // A fresh initial round rebuilds the chain's memberships; a resumed one continues them.
    let mut first_page_of_initial = initial && round == run_id;
    let mut restarts = 0;
    'round: loop {
        let mut pages = graph.pages(url.clone()).read_ahead(GROUP_READ_AHEAD);
        // Pages read since the last commit (several go into one transaction).
        let mut groups: Vec<GroupDelta> = Vec::new();
        let mut reset: Vec<String> = Vec::new();
        loop {
            let (page, position) = match pages.next().await {
                Ok(Some(page)) => page,
                Ok(None) => break 'round,
                Err(GraphError::ResyncRequired { reason }) if restarts < 2 => {
                    restarts += 1;
                    report.restarted.push(format!(
                        "{chain}: resync required ({reason}); starting a fresh initial round"
                    ));
                    (url, round, initial) = (initial_url.clone(), run_id, true);
                    first_page_of_initial = true;
                    continue 'round;
                }
                Err(e) => return Err(e.into()),
            };
            report.pages += 1;
            report.objects += page.value.len() as u64;
            groups.extend(page.value.iter().filter_map(mirror::group_delta));
            if first_page_of_initial {
                reset = ids.iter().map(|s| (*s).clone()).collect();
            }
            first_page_of_initial = false;
            if member_changes(&groups) < MEMBERS_PER_COMMIT && position.is_some() {
                continue;
            }
            let checkpoint = DeltaState {
                connection_id: connection.id.clone(),
                chain: chain.clone(),
                fingerprint: config_fingerprint.clone(),
                delta_link: page.delta_link.clone(),
                next_link: position.map(|u| u.to_string()),
                round_id: Some(round),
                round_initial: initial,
            };
            sink.groups_page(&reset, &groups, MemberMarks::Changed, &checkpoint)
                .await?;
            groups.clear();
            reset.clear();
        }
    }
    report.initial |= initial;
    Ok(())
}

/// Writers of a group-by-group read: each takes the pages of its share of the groups, in order.
/// On a small machine more writers mostly wait on each other.
const GROUP_WRITERS: usize = 2;

/// A fresh initial round of a groups chain, read group by group: first the chain's
/// link as of now ([`endpoints::latest`]), so the next round reports whatever changes while the
/// groups are read, then each group's own initial round. Until the last group is in, the chain's
/// checkpoint names no link, so a run that dies meanwhile starts the round again. Returns `false`
/// (nothing read) when Graph answers `latest` with objects instead of a bare link; the chain is
/// then read as one round.
///
/// Every group is read at once, ahead of the writes (with page batching their pages share round
/// trips, and the largest group is in every one). [`GROUP_WRITERS`] writers take the pages: a
/// group always goes to the same writer, so its pages are written in order, its first (which
/// resets its memberships) first.
async fn read_chain_by_group(
    graph: &GraphClient,
    sink: &dyn Sink,
    initial_url: &url::Url,
    mut checkpoint: DeltaState,
    ids: &[&String],
    report: &mut ChainReport,
) -> Result<bool, ReadError> {
    let mut pages = graph.pages(endpoints::latest(initial_url));
    let mut empty = true;
    while let Some(page) = pages.next_page().await? {
        report.pages += 1;
        empty &= page.value.is_empty();
    }
    let Some(latest) = pages.delta_link().map(str::to_owned).filter(|_| empty) else {
        return Ok(false);
    };
    // No link while the groups are read.
    sink.groups_page(&[], &[], MemberMarks::Changed, &checkpoint)
        .await?;
    let mut shares: Vec<Vec<(String, ReadAhead)>> =
        (0..GROUP_WRITERS).map(|_| Vec::new()).collect();
    for (i, id) in ids.iter().enumerate() {
        let url = graph.groups_delta_url(&[id.as_str()])?;
        let pages = graph.pages(url).read_ahead(GROUP_READ_AHEAD);
        shares[i % GROUP_WRITERS].push(((*id).clone(), pages));
    }
    let writers = shares
        .into_iter()
        .map(|share| write_groups(sink, share, &checkpoint));
    for read in futures::future::try_join_all(writers).await? {
        report.pages += read.pages;
        report.objects += read.objects;
    }
    // The members are marked once, with the link that completes the round.
    checkpoint.delta_link = Some(latest);
    let groups: Vec<String> = ids.iter().map(|id| (*id).clone()).collect();
    sink.group_members_marked(&groups, &checkpoint).await?;
    report.initial = true;
    Ok(true)
}

/// One group chain's read, as [`read_groups`] runs them side by side.
type ChainRead<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<ChainReport, ReadError>> + Send + 'a>>;

/// Writes the pages of `share` (group id, its round) as they come, several groups' pages to a
/// commit; a group's first page resets its memberships.
async fn write_groups(
    sink: &dyn Sink,
    share: Vec<(String, ReadAhead)>,
    checkpoint: &DeltaState,
) -> Result<ChainReport, ReadError> {
    let mut read = ChainReport::default();
    // Each group's pages, the first marked with the group's id.
    let rounds = share.into_iter().map(|(id, pages)| {
        Box::pin(futures::stream::unfold(
            (pages, Some(id)),
            |(mut pages, first)| async move {
                let page = pages.next().await.transpose()?;
                Some(((first, page), (pages, None)))
            },
        ))
    });
    let mut pages = futures::stream::select_all(rounds);
    let mut groups: Vec<GroupDelta> = Vec::new();
    let mut reset: Vec<String> = Vec::new();
    loop {
        let next = pages.next().await;
        let done = next.is_none();
        if let Some((first, page)) = next {
            let (page, _) = page?;
            read.pages += 1;
            read.objects += page.value.len() as u64;
            reset.extend(first);
            groups.extend(page.value.iter().filter_map(mirror::group_delta));
        }
        if (done && !(groups.is_empty() && reset.is_empty()))
            || member_changes(&groups) >= MEMBERS_PER_COMMIT
        {
            sink.groups_page(&reset, &groups, MemberMarks::Later, checkpoint)
                .await?;
            groups.clear();
            reset.clear();
        }
        if done {
            return Ok(read);
        }
    }
}

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
        .filter_map(|o| o.get("id").and_then(Value::as_str).map(EntraId::from))
        .collect();
    let stored = stored_by_id(sink, &ids).await?;
    let mut people = Vec::new();
    for object in objects {
        let Some(previous) = object
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| stored.get(id))
        else {
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
