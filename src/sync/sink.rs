//! Where a run's reads go: the store (a real run), or memory over the store (a dry run, which
//! must leave every table unchanged).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{ConnectionId, EntraId};
use crate::mirror::{GroupDelta, MirrorUser, Notification, Removal};
use crate::store::{DeltaState, MemberMarks, MirrorScope, Store, StoreError};

/// The mirror as a run reads and writes it.
#[async_trait]
pub trait Sink: Send + Sync {
    /// A chain's state.
    async fn state(&self, chain: &str) -> Result<Option<DeltaState>, StoreError>;
    /// Stored versions of these people.
    async fn stored(&self, ids: &[EntraId]) -> Result<Vec<MirrorUser>, StoreError>;
    /// The mirror holds nobody of the connection, not even removed people.
    async fn holds_nobody(&self) -> Result<bool, StoreError>;
    /// One users page with its checkpoint.
    async fn users_page(
        &self,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        checkpoint: &DeltaState,
    ) -> Result<(), StoreError>;
    /// People not seen by a complete initial round.
    async fn mark_missing(&self, round: i64) -> Result<u64, StoreError>;
    /// One groups page with its checkpoint.
    async fn groups_page(
        &self,
        reset: &[String],
        groups: &[GroupDelta],
        marks: MemberMarks,
        checkpoint: &DeltaState,
    ) -> Result<(), StoreError>;
    /// Every member of `groups` marked pending, with the chain's checkpoint.
    async fn group_members_marked(
        &self,
        groups: &[String],
        checkpoint: &DeltaState,
    ) -> Result<(), StoreError>;
    /// Every group-in-group membership.
    async fn group_links(&self) -> Result<Vec<(String, String, String)>, StoreError>;
    /// The memberships of these members.
    async fn memberships_for(
        &self,
        members: &[EntraId],
    ) -> Result<Vec<(String, String, String)>, StoreError>;
    /// Group names.
    async fn group_names(&self) -> Result<BTreeMap<String, String>, StoreError>;
    /// Pending people after `after` (by id), at most `limit`.
    async fn pending(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(MirrorUser, Option<Notification>)>, StoreError>;
}

async fn store_holds_nobody(
    store: &dyn Store,
    connection: &ConnectionId,
) -> Result<bool, StoreError> {
    Ok(store
        .mirror_page(connection, "", 1, MirrorScope::All)
        .await?
        .is_empty())
}

/// The real thing: every page committed with its checkpoint.
pub struct StoreSink {
    /// The database.
    pub store: Arc<dyn Store>,
    /// The connection.
    pub connection: ConnectionId,
    /// The clock's reading for `updated_at`.
    pub now: DateTime<Utc>,
    /// Evaluation walks everyone present (remap), not only the pending people.
    pub everyone: bool,
}

#[async_trait]
impl Sink for StoreSink {
    async fn state(&self, chain: &str) -> Result<Option<DeltaState>, StoreError> {
        self.store.delta_state(&self.connection, chain).await
    }
    async fn stored(&self, ids: &[EntraId]) -> Result<Vec<MirrorUser>, StoreError> {
        self.store.mirror_users(&self.connection, ids).await
    }
    async fn holds_nobody(&self) -> Result<bool, StoreError> {
        store_holds_nobody(self.store.as_ref(), &self.connection).await
    }
    async fn users_page(
        &self,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        checkpoint: &DeltaState,
    ) -> Result<(), StoreError> {
        self.store
            .commit_users_page(&self.connection, round, people, checkpoint, self.now)
            .await
    }
    async fn mark_missing(&self, round: i64) -> Result<u64, StoreError> {
        self.store
            .mark_missing(&self.connection, round, self.now)
            .await
    }
    async fn groups_page(
        &self,
        reset: &[String],
        groups: &[GroupDelta],
        marks: MemberMarks,
        checkpoint: &DeltaState,
    ) -> Result<(), StoreError> {
        self.store
            .commit_groups_page(&self.connection, reset, groups, marks, checkpoint, self.now)
            .await
    }
    async fn group_members_marked(
        &self,
        groups: &[String],
        checkpoint: &DeltaState,
    ) -> Result<(), StoreError> {
        self.store
            .mark_group_members(&self.connection, groups, checkpoint, self.now)
            .await
    }
    async fn memberships_for(
        &self,
        members: &[EntraId],
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.store.memberships_for(&self.connection, members).await
    }
    async fn group_links(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.store.group_links(&self.connection).await
    }
    async fn group_names(&self) -> Result<BTreeMap<String, String>, StoreError> {
        self.store.mirror_groups(&self.connection).await
    }
    async fn pending(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(MirrorUser, Option<Notification>)>, StoreError> {
        let scope = if self.everyone {
            MirrorScope::Evaluable
        } else {
            MirrorScope::Pending
        };
        self.store
            .mirror_page(&self.connection, after, limit, scope)
            .await
    }
}

#[derive(Default)]
struct Overlay {
    users: BTreeMap<String, (MirrorUser, Option<Notification>, Option<i64>)>,
    memberships: Option<BTreeSet<(String, String, String)>>,
    groups: BTreeMap<String, String>,
    evaluation: Option<BTreeMap<String, (MirrorUser, Option<Notification>)>>,
}

/// A dry run: reads the store, keeps every change in memory, writes nothing.
pub struct MemorySink {
    store: Arc<dyn Store>,
    connection: ConnectionId,
    overlay: Mutex<Overlay>,
    /// Evaluate everyone mirrored, not only what this read changed (remap).
    all: bool,
}

impl MemorySink {
    /// A dry-run sink over `store`; with `all`, every mirrored person is pending.
    pub fn new(store: Arc<dyn Store>, connection: &ConnectionId, all: bool) -> Self {
        Self {
            store,
            connection: connection.clone(),
            overlay: Mutex::default(),
            all,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Overlay> {
        self.overlay.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The memberships (stored, with this read's changes over them) that `keep` accepts.
    async fn memberships_where(
        &self,
        keep: impl Fn(&(String, String, String)) -> bool,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        self.load_memberships().await?;
        Ok(self
            .lock()
            .memberships
            .iter()
            .flatten()
            .filter(|row| keep(row))
            .cloned()
            .collect())
    }

    async fn load_memberships(&self) -> Result<(), StoreError> {
        if self.lock().memberships.is_some() {
            return Ok(());
        }
        let rows: BTreeSet<_> = self
            .store
            .memberships(&self.connection)
            .await?
            .into_iter()
            .collect();
        let mut overlay = self.lock();
        if overlay.memberships.is_none() {
            overlay.memberships = Some(rows);
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for MemorySink {
    async fn state(&self, chain: &str) -> Result<Option<DeltaState>, StoreError> {
        self.store.delta_state(&self.connection, chain).await
    }
    async fn stored(&self, ids: &[EntraId]) -> Result<Vec<MirrorUser>, StoreError> {
        let (mut found, missing): (Vec<MirrorUser>, Vec<EntraId>) = {
            let overlay = self.lock();
            let found = ids
                .iter()
                .filter_map(|id| overlay.users.get(id.as_str()).map(|(u, _, _)| u.clone()))
                .collect();
            let missing = ids
                .iter()
                .filter(|id| !overlay.users.contains_key(id.as_str()))
                .cloned()
                .collect();
            (found, missing)
        };
        found.extend(self.store.mirror_users(&self.connection, &missing).await?);
        Ok(found)
    }
    async fn holds_nobody(&self) -> Result<bool, StoreError> {
        Ok(self.lock().users.is_empty()
            && store_holds_nobody(self.store.as_ref(), &self.connection).await?)
    }
    async fn users_page(
        &self,
        round: i64,
        people: &[(MirrorUser, Option<Notification>)],
        _: &DeltaState,
    ) -> Result<(), StoreError> {
        let mut overlay = self.lock();
        for (user, notification) in people {
            // Combined with what this run read before; the stored mark joins in `pending`.
            let previous = overlay.users.get(&user.entra_id).and_then(|(_, n, _)| *n);
            let notification = Notification::combine(previous, *notification);
            overlay.users.insert(
                user.entra_id.clone(),
                (user.clone(), notification, Some(round)),
            );
        }
        Ok(())
    }
    async fn mark_missing(&self, round: i64) -> Result<u64, StoreError> {
        let mut after = String::new();
        let mut marked = 0;
        loop {
            let page = self
                .store
                .mirror_page(&self.connection, &after, 1000, MirrorScope::All)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.0.entra_id.clone();
            let mut overlay = self.lock();
            for (user, pending) in page {
                if !overlay.users.contains_key(&user.entra_id) && user.removed.is_none() {
                    let mut user = user;
                    user.removed = Some(Removal::Missing);
                    overlay.users.insert(
                        user.entra_id.clone(),
                        (user, Some(Notification::RemovedDeleted), None),
                    );
                    marked += 1;
                } else if let Some(entry) = overlay.users.get_mut(&user.entra_id)
                    && entry.2 != Some(round)
                {
                    entry.1 = entry.1.or(pending);
                }
            }
        }
        Ok(marked)
    }
    async fn groups_page(
        &self,
        reset: &[String],
        groups: &[GroupDelta],
        _: MemberMarks,
        _: &DeltaState,
    ) -> Result<(), StoreError> {
        self.load_memberships().await?;
        let mut overlay = self.lock();
        let Overlay {
            memberships,
            groups: names,
            ..
        } = &mut *overlay;
        let memberships = memberships.get_or_insert_with(BTreeSet::new);
        memberships.retain(|(g, _, _)| !reset.contains(g));
        for group in groups {
            if let Some(name) = &group.display_name {
                names.insert(group.id.clone(), name.clone());
            }
            if group.removed {
                memberships.retain(|(g, _, _)| g != &group.id);
                continue;
            }
            for (member, kind) in &group.added {
                memberships.insert((group.id.clone(), member.clone(), (*kind).to_owned()));
            }
            memberships.retain(|(g, m, _)| g != &group.id || !group.removed_members.contains(m));
        }
        Ok(())
    }
    async fn group_members_marked(&self, _: &[String], _: &DeltaState) -> Result<(), StoreError> {
        // A dry run does not mark on membership changes (it evaluates what the users read
        // changed, or everyone), so there is nothing to keep.
        Ok(())
    }
    async fn memberships_for(
        &self,
        members: &[EntraId],
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let wanted: BTreeSet<&str> = members.iter().map(EntraId::as_str).collect();
        self.memberships_where(|(_, m, _)| wanted.contains(m.as_str()))
            .await
    }
    async fn group_links(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        self.memberships_where(|(_, _, kind)| kind == "group").await
    }
    async fn group_names(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let mut names = self.store.mirror_groups(&self.connection).await?;
        names.extend(self.lock().groups.clone());
        Ok(names)
    }
    async fn pending(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(MirrorUser, Option<Notification>)>, StoreError> {
        if self.lock().evaluation.is_none() {
            // This read's changes, over the stored pending people (or everyone, with `all`).
            let mut merged: BTreeMap<String, (MirrorUser, Option<Notification>)> = BTreeMap::new();
            let mut cursor = String::new();
            loop {
                let page = self
                    .store
                    .mirror_page(
                        &self.connection,
                        &cursor,
                        1000,
                        if self.all {
                            MirrorScope::Evaluable
                        } else {
                            MirrorScope::Pending
                        },
                    )
                    .await?;
                let Some(last) = page.last() else { break };
                cursor = last.0.entra_id.clone();
                for (user, n) in page {
                    merged.insert(user.entra_id.clone(), (user, n));
                }
            }
            let mut overlay = self.lock();
            for (id, (user, n, _)) in &overlay.users {
                match (merged.get_mut(id), n) {
                    // As a commit combines a page with the stored mark.
                    (Some(entry), _) => {
                        entry.0 = user.clone();
                        entry.1 = Notification::combine(entry.1, *n);
                    }
                    (None, Some(n)) => {
                        merged.insert(id.clone(), (user.clone(), Some(*n)));
                    }
                    (None, None) => {}
                }
            }
            // Everyone walked is evaluated; without a mark, as a full pass.
            for entry in merged.values_mut() {
                entry.1 = entry.1.or(Some(Notification::FullPass));
            }
            overlay.evaluation = Some(merged);
        }
        let overlay = self.lock();
        Ok(overlay
            .evaluation
            .iter()
            .flat_map(|m| {
                m.range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            })
            .take(limit as usize)
            .map(|(_, v)| v.clone())
            .collect())
    }
}
