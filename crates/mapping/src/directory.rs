//! What planning asks the outside world: group memberships, imported agents, existing sites and
//! teams. The daemon answers from its Entra mirror and service-desk store, loaded before planning;
//! tests answer from fixtures.

use std::sync::Arc;

use crate::reference::Site;

/// Read-only lookups planning needs beyond the person's own attributes.
///
/// Membership is asked *directly* (one level): with `nested_groups = true` the engine closes it
/// transitively itself by asking again for each group found, so the daemon needs no closure of
/// its own and a group nested twice, or in a cycle, is visited once.
pub trait Directory {
    /// Calls `visit(group_object_id, group_display_name)` for every group that `member` (a user's
    /// or a group's Entra object id) is a direct member of.
    fn groups_of(&self, member: &str, visit: &mut dyn FnMut(&str, &str));

    /// Whether an agent has been imported from the person with this Entra object id (for
    /// `linemanager`).
    fn has_agent(&self, entra_id: &str) -> bool;

    /// The existing site whose Halo `field` (`name`) equals `value`, compared as the service desk
    /// compares names (ignoring case). Used by `site_by_field` mappings.
    fn find_site(&self, field: &str, value: &str) -> Option<Site>;

    /// The existing team named `name` (ignoring case), as the service desk spells it. Used by
    /// the agent `team` field.
    fn find_team(&self, name: &str) -> Option<Arc<str>>;

    /// How a note names the person with this Entra object id (a line manager): their user
    /// principal name or display name, when known. Without one, notes name the object id.
    fn name_of(&self, entra_id: &str) -> Option<Arc<str>> {
        let _ = entra_id;
        None
    }
}
