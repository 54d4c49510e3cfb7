//! The groups chains: the configured group names resolved to ids, their chains (at most 50
//! groups each) read side by side level by level as nested groups are found, and a chain's fresh
//! initial round read group by group.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;

use super::{ChainReport, ReadError, RoundStart, fingerprint};
use crate::config::ConnectionSettings;
use crate::graph::endpoints::{self, GROUP_DELTA_SELECT};
use crate::graph::{GraphClient, GraphError, ReadAhead, odata};
use crate::mirror::{self, GroupDelta};
use crate::store::{DeltaState, MemberMarks};
use crate::sync::sink::Sink;

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
