//! The control API: change a tenant so delta has something to report, read counters, script
//! faults, expire tokens, reset. In process through [`Control`], and over HTTP under
//! `/_emulator/` with the same operations.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::apps::{AppCredentials, AppRegistration};
use crate::auth::keys::KeyError;
use crate::counters::Counters;
use crate::directory::{
    AssignedLicense, Directory, DirectoryError, GroupKind, SignInActivity, UserProp,
};
use crate::faults::FaultRule;
use crate::scenario::Scenario;
use crate::state::{Emulator, Tenant, lock, read, write};

mod http;

pub use http::router;

/// Why a control operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No tenant with that id.
    #[error("no tenant {0}")]
    UnknownTenant(Uuid),
    /// The directory refused the change.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Keys could not be made during a reset.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
}

/// What a tenant's directory holds now: the counts a Graph client's reads are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TenantSummary {
    /// Live (not deleted) users, members and guests.
    pub users: usize,
    /// Live users whose `accountEnabled` is true.
    pub enabled_users: usize,
    /// Live users whose `userType` is `Guest`.
    pub guests: usize,
    /// Live groups.
    pub groups: usize,
}

/// In-process handle on a running emulator's tenants, counters and faults.
#[derive(Debug, Clone)]
pub struct Control {
    pub(crate) emulator: Arc<Emulator>,
    pub(crate) scenario: Option<Arc<Scenario>>,
}

fn object(props: Value) -> Result<Map<String, Value>, ControlError> {
    match props {
        Value::Object(map) => Ok(map),
        other => Err(ControlError::BadRequest(format!(
            "expected a JSON object of Graph properties, got {other}"
        ))),
    }
}

impl Control {
    fn tenant(&self, tenant: Uuid) -> Result<Arc<Tenant>, ControlError> {
        self.emulator
            .tenant_by_id(tenant)
            .ok_or(ControlError::UnknownTenant(tenant))
    }

    fn change<T>(
        &self,
        tenant: Uuid,
        f: impl FnOnce(&mut Directory, DateTime<Utc>) -> Result<T, DirectoryError>,
    ) -> Result<T, ControlError> {
        let tenant = self.tenant(tenant)?;
        let now = self.emulator.now();
        Ok(f(&mut write(&tenant.directory), now)?)
    }

    /// Reads a tenant's directory.
    pub fn with_directory<T>(
        &self,
        tenant: Uuid,
        f: impl FnOnce(&Directory) -> T,
    ) -> Result<T, ControlError> {
        let tenant = self.tenant(tenant)?;
        Ok(f(&read(&tenant.directory)))
    }

    /// The counts of a tenant's live directory.
    pub fn summary(&self, tenant: Uuid) -> Result<TenantSummary, ControlError> {
        self.with_directory(tenant, |d| TenantSummary {
            users: d.live_users().count(),
            enabled_users: d.live_users().filter(|u| u.account_enabled).count(),
            guests: d
                .live_users()
                .filter(|u| u.text(UserProp::UserType) == Some("Guest"))
                .count(),
            groups: d.groups.iter().filter(|g| g.is_live()).count(),
        })
    }

    /// Credentials of every app in every tenant (each tenant's `demo` app first).
    pub fn credentials(&self) -> Vec<AppCredentials> {
        read(&self.emulator.tenants)
            .iter()
            .flat_map(|t| {
                read(&t.apps)
                    .iter()
                    .map(|a| AppCredentials::of(a, t.id, &t.domain))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Tenant ids, in order.
    pub fn tenant_ids(&self) -> Vec<Uuid> {
        read(&self.emulator.tenants).iter().map(|t| t.id).collect()
    }

    /// The id of the live user with this userPrincipalName.
    pub fn find_user(&self, tenant: Uuid, upn: &str) -> Option<Uuid> {
        self.with_directory(tenant, |d| d.live_user_by_key(upn).map(|u| u.id))
            .ok()
            .flatten()
    }

    /// The id of the live group with this display name.
    pub fn find_group(&self, tenant: Uuid, display_name: &str) -> Option<Uuid> {
        self.with_directory(tenant, |d| {
            d.groups
                .iter()
                .find(|g| g.is_live() && g.display_name.as_ref() == display_name)
                .map(|g| g.id)
        })
        .ok()
        .flatten()
    }

    /// Every property of a user as Graph JSON (manager as its id), for assertions.
    pub fn user_json(&self, tenant: Uuid, id: Uuid) -> Option<Value> {
        self.with_directory(tenant, |d| {
            d.user(id).map(|u| {
                let mut map = Map::new();
                map.insert("id".into(), Value::String(u.id.to_string()));
                for prop in UserProp::ALL {
                    map.insert(prop.name().into(), u.value(prop));
                }
                Value::Object(map)
            })
        })
        .ok()
        .flatten()
    }

    /// Creates a user from Graph properties (`userPrincipalName`, `displayName` required;
    /// `manager` may be an id; `id` fixes the object id, else a random one). Returns its id.
    pub fn create_user(&self, tenant: Uuid, props: Value) -> Result<Uuid, ControlError> {
        let mut props = object(props)?;
        let id = match props.remove("id") {
            Some(Value::String(id)) => Uuid::parse_str(&id)
                .map_err(|_| ControlError::BadRequest(format!("bad id {id}")))?,
            Some(other) => return Err(ControlError::BadRequest(format!("bad id {other}"))),
            None => Uuid::new_v4(),
        };
        self.change(tenant, |d, now| d.create_user(id, &props, now))
    }

    /// Changes Graph properties of a user (`manager` as an id or null).
    pub fn update_user(&self, tenant: Uuid, id: Uuid, props: Value) -> Result<(), ControlError> {
        let props = object(props)?;
        self.change(tenant, |d, _| d.update_user(id, &props))
    }

    /// Sets or clears a manager.
    pub fn set_manager(
        &self,
        tenant: Uuid,
        id: Uuid,
        manager: Option<Uuid>,
    ) -> Result<(), ControlError> {
        self.change(tenant, |d, _| d.set_manager(id, manager))
    }

    /// Soft-deletes a user (delta: `@removed` reason `changed`).
    pub fn soft_delete_user(&self, tenant: Uuid, id: Uuid) -> Result<(), ControlError> {
        self.change(tenant, |d, _| d.soft_delete_user(id))
    }

    /// Restores a soft-deleted user.
    pub fn restore_user(&self, tenant: Uuid, id: Uuid) -> Result<(), ControlError> {
        self.change(tenant, |d, _| d.restore_user(id))
    }

    /// Deletes a user permanently (delta: `@removed` reason `deleted`).
    pub fn hard_delete_user(&self, tenant: Uuid, id: Uuid) -> Result<(), ControlError> {
        self.change(tenant, |d, _| d.hard_delete_user(id))
    }

    /// Creates a group; returns its id.
    pub fn create_group(
        &self,
        tenant: Uuid,
        display_name: &str,
        kind: GroupKind,
    ) -> Result<Uuid, ControlError> {
        self.change(tenant, |d, now| {
            d.create_group(Uuid::new_v4(), display_name, kind, None, now)
        })
    }

    /// Adds a user, group or contact to a group.
    pub fn add_member(&self, tenant: Uuid, group: Uuid, member: Uuid) -> Result<(), ControlError> {
        self.change(tenant, |d, _| d.add_member(group, member))
    }

    /// Removes a member from a group.
    pub fn remove_member(
        &self,
        tenant: Uuid,
        group: Uuid,
        member: Uuid,
    ) -> Result<(), ControlError> {
        self.change(tenant, |d, _| d.remove_member(group, member))
    }

    /// Deletes a group: it leaves the groups it was a member of, and delta reports it
    /// `@removed` (reason `changed` for a Microsoft 365 group, `deleted` for the others).
    pub fn delete_group(&self, tenant: Uuid, group: Uuid) -> Result<(), ControlError> {
        self.change(tenant, |d, _| d.delete_group(group))
    }

    /// Adds and removes licences by SKU id, with `assignLicense`'s rules.
    pub fn assign_licences(
        &self,
        tenant: Uuid,
        user: Uuid,
        add: &[Uuid],
        remove: &[Uuid],
    ) -> Result<(), ControlError> {
        let add: Vec<AssignedLicense> = add
            .iter()
            .map(|&sku_id| AssignedLicense {
                disabled_plans: Vec::new(),
                sku_id,
            })
            .collect();
        self.change(tenant, |d, _| d.assign_licenses(user, &add, remove))
    }

    /// Records an interactive sign-in at `at` (shows in `signInActivity`, not in delta).
    pub fn record_sign_in(
        &self,
        tenant: Uuid,
        user: Uuid,
        at: DateTime<Utc>,
    ) -> Result<(), ControlError> {
        let activity = SignInActivity {
            last_sign_in: Some(at),
            last_non_interactive_sign_in: None,
            request_id: Uuid::new_v4(),
        };
        self.change(tenant, |d, _| d.record_sign_in(user, activity))
    }

    /// Registers another app in a tenant with these application permissions.
    pub fn add_app(
        &self,
        tenant: Uuid,
        name: &str,
        roles: &[&str],
    ) -> Result<AppCredentials, ControlError> {
        let tenant = self.tenant(tenant)?;
        let mut rng = StdRng::from_os_rng();
        let now = self.emulator.now();
        let app = AppRegistration::new(
            &mut rng,
            name,
            roles.iter().map(|r| (*r).to_owned()).collect(),
            now,
            chrono::Duration::days(730),
        );
        let credentials = AppCredentials::of(&app, tenant.id, &tenant.domain);
        write(&tenant.apps).push(app);
        Ok(credentials)
    }

    /// Edits a tenant's subscribed SKUs (a subscription lapsing, units bought or suspended).
    pub fn edit_skus(
        &self,
        tenant: Uuid,
        edit: impl FnOnce(&mut Vec<crate::directory::Sku>),
    ) -> Result<(), ControlError> {
        self.change(tenant, |directory, _| {
            edit(&mut directory.skus);
            Ok(())
        })
    }

    /// Sets when an app's client secret and certificate stop working.
    pub fn set_credential_ends(
        &self,
        tenant: Uuid,
        client_id: Uuid,
        secret_ends: DateTime<Utc>,
        certificate_ends: DateTime<Utc>,
    ) -> Result<(), ControlError> {
        let tenant = self.tenant(tenant)?;
        let mut apps = write(&tenant.apps);
        let app = apps
            .iter_mut()
            .find(|a| a.client_id == client_id)
            .ok_or_else(|| ControlError::BadRequest(format!("no app {client_id} in the tenant")))?;
        app.secret_ends = secret_ends;
        app.certificate_ends = certificate_ends;
        Ok(())
    }

    /// Responses so far by endpoint and status.
    pub fn counters(&self) -> Counters {
        lock(&self.emulator.counters).clone()
    }

    /// Zeroes the counters.
    pub fn reset_counters(&self) {
        *lock(&self.emulator.counters) = Counters::default();
    }

    /// Scripts a fault.
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.emulator.faults).add(rule);
    }

    /// Removes every scripted fault.
    pub fn clear_faults(&self) {
        lock(&self.emulator.faults).clear();
    }

    /// Expires every access token issued so far (the next Graph call with one gets 401).
    pub fn expire_access_tokens(&self) {
        lock(&self.emulator.tokens).expire_access_tokens(self.emulator.now());
    }

    /// Every access token, authorization code and refresh token the emulator has issued and
    /// remembers (redeemed and revoked ones included).
    pub fn issued_credentials(&self) -> Vec<String> {
        lock(&self.emulator.tokens).issued()
    }

    /// Revokes every refresh token (the next redemption gets AADSTS700082).
    pub fn expire_refresh_tokens(&self) {
        lock(&self.emulator.tokens).expire_refresh_tokens();
    }

    /// Regenerates every tenant as at start, forgets tokens, counters, faults and throttling
    /// state, and invalidates earlier delta tokens (`syncStateNotFound`).
    pub fn reset(&self) -> Result<(), ControlError> {
        Ok(self.emulator.reset(self.scenario.as_deref())?)
    }
}
