//! The pure mapping engine of entra-sync: field, site, role, team, CAB and licence rules turn one
//! Entra person into the records the service desk should hold.
//!
//! No IO, no async, no clock: this crate cannot depend on tokio, reqwest or sqlx, so "mapping is
//! pure" holds at compile time.
//!
//! # Layout
//! The pipeline reads top to bottom:
//!
//! - [`spec`]: the config sections as serde types (`[halo]`, field/site/role/team/CAB mappings).
//! - `catalogue`: the Entra attributes and Halo fields a mapping may name.
//! - `reference`: [`validate_reference`] for `[halo]`, and name lookups into it.
//! - `compile` (with `compile/site_mapping`): [`compile`] turns a [`MappingSpec`] into a [`Mapping`], reporting every
//!   [`Problem`] at once with its key path; `filter` compiles `where` rows.
//! - `mapping`: the compiled [`Mapping`] and what the daemon reads from it to query Graph
//!   (attributes for `$select`, group names, attributes delta cannot track).
//! - `entra_user`: [`EntraUser`], one person's attributes as read from Graph.
//! - `directory`: the [`Directory`] trait, what planning asks beyond the person (memberships,
//!   imported agents, existing sites and teams); `membership` closes group membership.
//! - `planning`: [`Mapping::plan`] places one person (scope, fields, roles, teams, CABs, agent
//!   licence); `plan` holds the [`Plan`] it
//!   returns (desired user/agent, matched mappings, out-of-scope reasons).
//! - `reconcile`: [`Mapping::reconcile_user`] / [`Mapping::reconcile_agent`] compare a plan with
//!   the existing record and return only the [`Changes`] to write (only changed fields; deactivation and reactivation); `matching`
//!   gives the fallback matching keys ([`Mapping::matching_keys`]).
//!
//! # Use
//! ```
//! use std::sync::Arc;
//! use mapping::{compile, validate_reference, Directory, EntraUser, MappingSpec, ReconcilePolicy,
//!               ReferenceSpec, Site};
//!
//! /// The daemon answers from its mirror and store; this one knows nobody.
//! struct Nobody;
//! impl Directory for Nobody {
//!     fn groups_of(&self, _member: &str, _visit: &mut dyn FnMut(&str, &str)) {}
//!     fn has_agent(&self, _entra_id: &str) -> bool { false }
//!     fn find_site(&self, _field: &str, _value: &str) -> Option<Site> { None }
//!     fn find_team(&self, _name: &str) -> Option<Arc<str>> { None }
//! }
//!
//! let reference = ReferenceSpec::default();
//! assert!(validate_reference(&reference).is_empty());
//! let mapping = compile(&MappingSpec::default(), &reference).expect("no problems");
//! let plan = mapping.plan(&EntraUser::new("3f1c…").with("displayName", "Ada"), &Nobody);
//! assert_eq!(plan.user.desired(), None); // no site mapping: out of scope, with the reason
//! let changes = mapping.reconcile_user(&plan.user, None, ReconcilePolicy { deactivate_out_of_scope: true });
//! assert_eq!(changes.action, mapping::Action::OutOfScope);
//! ```

mod catalogue;
mod compile;
mod directory;
mod entra_user;
mod filter;
mod mapping;
mod matching;
mod membership;
mod plan;
mod planning;
mod problem;
mod reconcile;
mod reference;
pub mod spec;

pub use catalogue::{Attribute, CATALOGUE, DELTA_INCOMPATIBLE, HaloField, SYSTEM_ATTRIBUTES};
pub use compile::{AGENT_SITE, compile};
pub use directory::Directory;
pub use entra_user::{AttributeValue, EntraUser, GraphUserError};
pub use mapping::{AttributeUse, Mapping, MatchingField, TeamFlags};
pub use matching::{MatchKey, normalise_key};
pub use plan::{
    CabGrant, DesiredAgent, DesiredUser, Fields, InactiveReason, LicenceType, MappingRef, Miss,
    OutOfScope, Plan, Scope, TeamGrant, Via,
};
pub use problem::Problem;
pub use reconcile::{
    Action, Activation, Change, Changes, ExistingCab, ExistingRecord, ExistingTeam,
    ReconcilePolicy, Source,
};
pub use reference::{Site, validate_reference};
pub use spec::*;
