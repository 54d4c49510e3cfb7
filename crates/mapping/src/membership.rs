//! The configured groups one person belongs to, as a bit set over the mapping's group table.

use std::collections::HashSet;

use crate::directory::Directory;
use crate::mapping::{GroupId, Mapping};

/// A set of [`GroupId`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupSet {
    words: Vec<u64>,
}

impl GroupSet {
    fn with_capacity(groups: usize) -> GroupSet {
        GroupSet {
            words: vec![0; groups.div_ceil(64)],
        }
    }

    fn insert(&mut self, group: GroupId) {
        if let Some(word) = self.words.get_mut(group / 64) {
            *word |= 1 << (group % 64);
        }
    }

    pub(crate) fn contains(&self, group: GroupId) -> bool {
        self.words
            .get(group / 64)
            .is_some_and(|word| word & (1 << (group % 64)) != 0)
    }
}

impl Mapping {
    /// The configured groups `entra_id` belongs to: directly, or transitively when
    /// `nested_groups` is on.
    pub(crate) fn memberships(&self, entra_id: &str, directory: &dyn Directory) -> GroupSet {
        let mut set = GroupSet::with_capacity(self.groups.len());
        if !self.nested_groups {
            directory.groups_of(entra_id, &mut |_, name| {
                if let Some(group) = self.group_ids.get(name) {
                    set.insert(*group);
                }
            });
            return set;
        }
        // Walk up through every group, configured or not: a configured group may hold the person
        // only through an unconfigured one. `seen` keeps cycles and diamonds finite.
        let mut seen: HashSet<String> = HashSet::new();
        let mut pending: Vec<String> = vec![entra_id.to_owned()];
        while let Some(member) = pending.pop() {
            directory.groups_of(&member, &mut |group_id, name| {
                if seen.insert(group_id.to_owned()) {
                    if let Some(group) = self.group_ids.get(name) {
                        set.insert(*group);
                    }
                    pending.push(group_id.to_owned());
                }
            });
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_set_holds_ids_past_the_first_word() {
        let mut set = GroupSet::with_capacity(130);
        set.insert(3);
        set.insert(129);
        assert!(set.contains(3) && set.contains(129));
        assert!(!set.contains(64) && !set.contains(500));
    }
}
