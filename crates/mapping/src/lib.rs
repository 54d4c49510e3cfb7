//! The pure mapping engine of entra-sync (BRIEF §3.1, §3.2, §4.3, §4.4).
//!
//! No IO, no async, no clock: this crate cannot depend on tokio, reqwest or sqlx, so "mapping is
//! pure" holds at compile time.
//!
//! # Layout
//! The pipeline reads top to bottom:
//!
//! - [`spec`]: the config sections as serde types (`[halo]`, field/site/role/team/CAB mappings).
//! - `catalogue`: the Entra attributes and Halo fields a mapping may name (§3.1).
//! - `reference`: [`validate_reference`] for `[halo]`, and name lookups into it.
//! - `compile`: [`compile`] turns a [`MappingSpec`] into a [`Mapping`], reporting every
//!   [`Problem`] at once with its key path; `filter` compiles `where` rows (§3.2).
//! - `mapping`: the compiled [`Mapping`] and what the daemon reads from it to query Graph
//!   (attributes for `$select`, group names, attributes delta cannot track).
//! - `entra_user`: [`EntraUser`], one person's attributes as read from Graph.
//! - `directory`: the [`Directory`] trait, what planning asks beyond the person (memberships,
//!   imported agents, existing sites and teams); `membership` closes group membership.
//! - `planning`: [`Mapping::plan`] applies §4.3 to one person; `plan` holds the [`Plan`] it
//!   returns (desired user/agent, matched mappings, out-of-scope reasons).
//! - `reconcile`: [`Mapping::reconcile_user`] / [`Mapping::reconcile_agent`] compare a plan with
//!   the existing record and return only the [`Changes`] to write (§4.5, §4.6); `matching`
//!   gives the §4.4 fallback keys ([`Mapping::matching_keys`]).
//!
//! ```
//! use mapping::{compile, MappingSpec, ReferenceSpec};
//! let mapping = compile(&MappingSpec::default(), &ReferenceSpec::default()).expect("valid");
//! assert!(mapping.groups().is_empty());
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
