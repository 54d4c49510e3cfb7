//! Changes to a directory, each bumping its version and stamping the properties it touched:
//! what the control API (and `assignLicense`) do to a tenant.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    AssignedLicense, Directory, DirectoryError, Group, GroupKind, GroupProp, Lifecycle, Member,
    MemberKind, SignInActivity, User, UserProp, graph_time, not_found,
};

impl Directory {
    /// Creates a user from Graph-named properties (`userPrincipalName` and `displayName`
    /// required). Returns its id.
    pub fn create_user(
        &mut self,
        id: Uuid,
        props: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<Uuid, DirectoryError> {
        let upn = props.get("userPrincipalName").and_then(Value::as_str);
        let Some(upn) = upn else {
            return Err(DirectoryError::Invalid(
                "userPrincipalName is required".into(),
            ));
        };
        if props.get("displayName").and_then(Value::as_str).is_none() {
            return Err(DirectoryError::Invalid("displayName is required".into()));
        }
        if self.upn_index.contains_key(&upn.to_lowercase()) {
            return Err(DirectoryError::Invalid(format!(
                "Another object with the same value for property userPrincipalName already exists: {upn}"
            )));
        }
        if self.user_index.contains_key(&id) {
            return Err(DirectoryError::Invalid(format!(
                "object {id} already exists"
            )));
        }
        let version = self.bump();
        let mut user = User::new(id);
        user.set_text(UserProp::UserType, Some(Arc::from("Member")));
        user.set_text(UserProp::CreatedDateTime, Some(Arc::from(graph_time(now))));
        for prop in [
            UserProp::UserType,
            UserProp::CreatedDateTime,
            UserProp::AccountEnabled,
        ] {
            user.versions[prop.index()] = version;
        }
        let mut manager = None;
        for (name, value) in props {
            if name == "manager" {
                manager = value.as_str().and_then(|s| Uuid::parse_str(s).ok());
                continue;
            }
            let prop = settable_prop(name)?;
            apply_value(&mut user, prop, value)?;
            user.versions[prop.index()] = version;
        }
        user.appeared = version;
        let slot = self.users.len() as u32;
        self.upn_index.insert(upn.to_lowercase(), slot);
        self.user_index.insert(id, slot);
        self.users.push(user);
        if let Some(manager) = manager {
            self.set_manager(id, Some(manager))?;
        }
        Ok(id)
    }

    /// Changes Graph-named properties of a live user; a value equal to the current one is not a
    /// change. `manager` may be given as an id or null.
    pub fn update_user(
        &mut self,
        id: Uuid,
        props: &Map<String, Value>,
    ) -> Result<(), DirectoryError> {
        let slot = self.live_user_slot(id)?;
        let mut changes = Vec::new();
        for (name, value) in props {
            if name == "manager" {
                continue;
            }
            let prop = settable_prop(name)?;
            let mut probe = self.users[slot].clone();
            apply_value(&mut probe, prop, value)?;
            if probe.value(prop) != self.users[slot].value(prop) {
                changes.push((prop, value));
            }
        }
        if let Some(manager) = props.get("manager") {
            let manager = match manager {
                Value::Null => None,
                Value::String(s) => Some(
                    Uuid::parse_str(s)
                        .map_err(|_| DirectoryError::Invalid(format!("bad id {s}")))?,
                ),
                other => return Err(DirectoryError::Invalid(format!("bad manager {other}"))),
            };
            self.set_manager(id, manager)?;
        }
        if changes.is_empty() {
            return Ok(());
        }
        let version = self.bump();
        let old_upn = self.users[slot]
            .text(UserProp::UserPrincipalName)
            .map(str::to_lowercase);
        let user = &mut self.users[slot];
        for (prop, value) in changes {
            apply_value(user, prop, value)?;
            user.versions[prop.index()] = version;
        }
        let new_upn = user
            .text(UserProp::UserPrincipalName)
            .map(str::to_lowercase);
        if old_upn != new_upn {
            if let Some(old) = old_upn {
                self.upn_index.remove(&old);
            }
            if let Some(new) = new_upn {
                self.upn_index.insert(new, slot as u32);
            }
        }
        Ok(())
    }

    /// Sets or clears a user's manager.
    pub fn set_manager(&mut self, id: Uuid, manager: Option<Uuid>) -> Result<(), DirectoryError> {
        let slot = self.live_user_slot(id)?;
        if let Some(manager) = manager {
            self.live_user_slot(manager)?;
            if manager == id {
                return Err(DirectoryError::Invalid(
                    "a user cannot manage themselves".into(),
                ));
            }
        }
        if self.users[slot].manager == manager {
            return Ok(());
        }
        let version = self.bump();
        let user = &mut self.users[slot];
        user.previous_manager = user.manager;
        user.manager = manager;
        user.versions[UserProp::Manager.index()] = version;
        Ok(())
    }

    /// Moves a user to the recycle bin: delta reports `@removed: changed`, memberships are
    /// parked until a restore.
    pub fn soft_delete_user(&mut self, id: Uuid) -> Result<(), DirectoryError> {
        let slot = self.live_user_slot(id)?;
        let version = self.bump();
        let mut parked = Vec::new();
        for group in self.groups.iter_mut().filter(|g| g.is_live()) {
            if group.remove_member(id, version) {
                parked.push(group.id);
            }
        }
        let user = &mut self.users[slot];
        user.parked_groups = parked;
        user.lifecycle = Lifecycle::SoftDeleted { at: version };
        Ok(())
    }

    /// Restores a soft-deleted user with its memberships; delta reports it in full again.
    pub fn restore_user(&mut self, id: Uuid) -> Result<(), DirectoryError> {
        let slot = self.user_slot(id)?;
        if !matches!(self.users[slot].lifecycle, Lifecycle::SoftDeleted { .. }) {
            return Err(DirectoryError::Invalid(format!(
                "user {id} is not in deleted items"
            )));
        }
        let version = self.bump();
        let parked = std::mem::take(&mut self.users[slot].parked_groups);
        for group_id in parked {
            if let Ok(g) = self.live_group_slot(group_id) {
                self.groups[g].add_member(
                    Member {
                        id,
                        kind: MemberKind::User,
                    },
                    version,
                );
            }
        }
        let user = &mut self.users[slot];
        user.lifecycle = Lifecycle::Live;
        user.appeared = version;
        Ok(())
    }

    /// Deletes a user permanently (from live or from the recycle bin): delta reports
    /// `@removed: deleted`; direct reports lose their manager.
    pub fn hard_delete_user(&mut self, id: Uuid) -> Result<(), DirectoryError> {
        let slot = self.user_slot(id)?;
        if matches!(self.users[slot].lifecycle, Lifecycle::HardDeleted { .. }) {
            return Err(not_found("user", id));
        }
        let version = self.bump();
        for group in self.groups.iter_mut().filter(|g| g.is_live()) {
            group.remove_member(id, version);
        }
        for report in self.users.iter_mut().filter(|u| u.manager == Some(id)) {
            report.previous_manager = report.manager.take();
            report.versions[UserProp::Manager.index()] = version;
        }
        let licences: Vec<Uuid> = self.users[slot]
            .assigned_licenses
            .iter()
            .map(|l| l.sku_id)
            .collect();
        for sku in self
            .skus
            .iter_mut()
            .filter(|s| licences.contains(&s.sku_id))
        {
            sku.consumed_units = sku.consumed_units.saturating_sub(1);
        }
        let user = &mut self.users[slot];
        user.lifecycle = Lifecycle::HardDeleted { at: version };
        user.parked_groups.clear();
        if let Some(upn) = user
            .text(UserProp::UserPrincipalName)
            .map(str::to_lowercase)
        {
            self.upn_index.remove(&upn);
        }
        Ok(())
    }

    /// Creates a group; returns its id.
    pub fn create_group(
        &mut self,
        id: Uuid,
        display_name: &str,
        kind: GroupKind,
        description: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Uuid, DirectoryError> {
        if self.group_index.contains_key(&id) {
            return Err(DirectoryError::Invalid(format!(
                "object {id} already exists"
            )));
        }
        let version = self.bump();
        let mut group = Group::new(id, display_name, kind, &self.domain, now);
        group.description = description.map(Arc::from);
        for prop in GroupProp::ALL {
            group.versions[prop.index()] = version;
        }
        group.appeared = version;
        self.group_index.insert(id, self.groups.len() as u32);
        self.groups.push(group);
        Ok(id)
    }

    /// Adds a user, group or contact to a group.
    pub fn add_member(&mut self, group: Uuid, member: Uuid) -> Result<(), DirectoryError> {
        let slot = self.live_group_slot(group)?;
        let kind = self
            .kind_of(member)
            .ok_or_else(|| not_found("directory object", member))?;
        if group == member {
            return Err(DirectoryError::Invalid(
                "a group cannot contain itself".into(),
            ));
        }
        if self.groups[slot].has_member(member) {
            return Err(DirectoryError::Invalid(
                "One or more added object references already exist for the following modified properties: 'members'.".into(),
            ));
        }
        let version = self.bump();
        self.groups[slot].add_member(Member { id: member, kind }, version);
        Ok(())
    }

    /// Removes a member from a group.
    pub fn remove_member(&mut self, group: Uuid, member: Uuid) -> Result<(), DirectoryError> {
        let slot = self.live_group_slot(group)?;
        if !self.groups[slot].has_member(member) {
            return Err(not_found("member", member));
        }
        let version = self.bump();
        self.groups[slot].remove_member(member, version);
        Ok(())
    }

    /// Deletes a group as Graph does. A Microsoft 365 group goes to deleted items (delta:
    /// `@removed` reason `changed`); security groups and distribution lists cannot be restored
    /// and are gone for good (reason `deleted`). Either way the group leaves every group it was a
    /// member of, whose `members@delta` then report it removed.
    pub fn delete_group(&mut self, id: Uuid) -> Result<(), DirectoryError> {
        let slot = self.live_group_slot(id)?;
        let version = self.bump();
        for parent in self.groups.iter_mut().filter(|g| g.is_live()) {
            parent.remove_member(id, version);
        }
        let group = &mut self.groups[slot];
        group.lifecycle = if group.kind == GroupKind::Microsoft365 {
            Lifecycle::SoftDeleted { at: version }
        } else {
            Lifecycle::HardDeleted { at: version }
        };
        Ok(())
    }

    /// Adds and removes licences as `assignLicense` does, enforcing usage location, known SKUs
    /// and available units. Graph's error messages are returned verbatim.
    pub fn assign_licenses(
        &mut self,
        id: Uuid,
        add: &[AssignedLicense],
        remove: &[Uuid],
    ) -> Result<(), DirectoryError> {
        let slot = self.live_user_slot(id)?;
        let user = &self.users[slot];
        if !add.is_empty() && user.text(UserProp::UsageLocation).is_none() {
            return Err(DirectoryError::Invalid(
                "License assignment cannot be done for user with invalid usage location.".into(),
            ));
        }
        for sku_id in add.iter().map(|l| l.sku_id).chain(remove.iter().copied()) {
            if !self.skus.iter().any(|s| s.sku_id == sku_id) {
                return Err(DirectoryError::Invalid(format!(
                    "License {sku_id} does not correspond to a valid company License."
                )));
            }
        }
        for sku_id in remove {
            if !user.assigned_licenses.iter().any(|l| l.sku_id == *sku_id) {
                return Err(DirectoryError::Invalid(format!(
                    "User does not have a corresponding license {sku_id} to remove."
                )));
            }
        }
        for licence in add {
            let already = user
                .assigned_licenses
                .iter()
                .any(|l| l.sku_id == licence.sku_id);
            let sku = self.skus.iter().find(|s| s.sku_id == licence.sku_id);
            if !already && sku.is_some_and(|s| s.available_units() == 0) {
                return Err(DirectoryError::Invalid(format!(
                    "Subscription with SKU {} does not have any available licenses.",
                    licence.sku_id
                )));
            }
        }
        let version = self.bump();
        let user = &mut self.users[slot];
        let mut gained = Vec::new();
        for licence in add {
            match user
                .assigned_licenses
                .iter_mut()
                .find(|l| l.sku_id == licence.sku_id)
            {
                Some(existing) => existing.disabled_plans = licence.disabled_plans.clone(),
                None => {
                    user.assigned_licenses.push(licence.clone());
                    gained.push(licence.sku_id);
                }
            }
        }
        user.assigned_licenses
            .retain(|l| !remove.contains(&l.sku_id));
        user.versions[UserProp::AssignedLicenses.index()] = version;
        for sku in &mut self.skus {
            if gained.contains(&sku.sku_id) {
                sku.consumed_units += 1;
            }
            if remove.contains(&sku.sku_id) {
                sku.consumed_units = sku.consumed_units.saturating_sub(1);
            }
        }
        Ok(())
    }

    /// Records a sign-in (not a tracked change: `signInActivity` is audit data).
    pub fn record_sign_in(
        &mut self,
        id: Uuid,
        activity: SignInActivity,
    ) -> Result<(), DirectoryError> {
        let slot = self.live_user_slot(id)?;
        self.users[slot].sign_in = Some(activity);
        Ok(())
    }
}

fn settable_prop(name: &str) -> Result<UserProp, DirectoryError> {
    match UserProp::from_name(name) {
        Some(UserProp::Manager | UserProp::SignInActivity) | None => {
            Err(DirectoryError::Invalid(format!(
                "Property '{name}' does not exist or cannot be set on type 'microsoft.graph.user'."
            )))
        }
        Some(prop) => Ok(prop),
    }
}

fn apply_value(user: &mut User, prop: UserProp, value: &Value) -> Result<(), DirectoryError> {
    let invalid = || {
        DirectoryError::Invalid(format!(
            "Invalid value for property '{}': {value}",
            prop.name()
        ))
    };
    let strings = |value: &Value| -> Result<Vec<Arc<str>>, DirectoryError> {
        match value {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(Arc::from).ok_or_else(invalid))
                .collect(),
            _ => Err(invalid()),
        }
    };
    match prop {
        UserProp::AccountEnabled => user.account_enabled = value.as_bool().ok_or_else(invalid)?,
        UserProp::OnPremisesSyncEnabled => {
            user.on_premises_sync_enabled = if value.is_null() {
                None
            } else {
                Some(value.as_bool().ok_or_else(invalid)?)
            }
        }
        UserProp::BusinessPhones => user.business_phones = strings(value)?,
        UserProp::OtherMails => user.other_mails = strings(value)?,
        UserProp::AssignedLicenses => {
            return Err(DirectoryError::Invalid(
                "use assignLicense to change licences".into(),
            ));
        }
        UserProp::OnPremisesExtensionAttributes => {
            let map = value.as_object().ok_or_else(invalid)?;
            let attrs = user
                .extension_attributes
                .get_or_insert_with(Default::default);
            for (key, v) in map {
                let n: usize = key
                    .strip_prefix("extensionAttribute")
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=15).contains(n))
                    .ok_or_else(invalid)?;
                attrs[n - 1] = v.as_str().map(Arc::from);
            }
        }
        UserProp::Manager | UserProp::SignInActivity => return Err(invalid()),
        text => match value {
            Value::Null => user.set_text(text, None),
            Value::String(s) => user.set_text(text, Some(Arc::from(s.as_str()))),
            _ => return Err(invalid()),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn directory_with_two_users() -> (Directory, Uuid, Uuid) {
        let mut dir = Directory::new(Uuid::from_u128(1), "t.test".into(), "T".into());
        let now = DateTime::default();
        let a = Uuid::from_u128(10);
        let b = Uuid::from_u128(11);
        let props = |upn: &str| {
            json!({"userPrincipalName": upn, "displayName": upn})
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        dir.create_user(a, &props("a@t.test"), now)
            .expect("create a");
        dir.create_user(b, &props("b@t.test"), now)
            .expect("create b");
        (dir, a, b)
    }

    #[test]
    fn an_update_to_the_same_value_is_not_a_change() {
        let (mut dir, a, _) = directory_with_two_users();
        let before = dir.version();
        let same = json!({"displayName": "a@t.test"});
        dir.update_user(a, same.as_object().expect("object"))
            .expect("update");
        assert_eq!(dir.version(), before);
        let other = json!({"jobTitle": "Analyst"});
        dir.update_user(a, other.as_object().expect("object"))
            .expect("update");
        assert_eq!(dir.version(), before + 1);
        let user = dir.user(a).expect("user");
        assert_eq!(user.versions[UserProp::JobTitle.index()], before + 1);
    }

    #[test]
    fn soft_delete_parks_memberships_and_restore_brings_them_back() {
        let (mut dir, a, _) = directory_with_two_users();
        let g = Uuid::from_u128(20);
        dir.create_group(g, "SG-X", GroupKind::Security, None, DateTime::default())
            .expect("group");
        dir.add_member(g, a).expect("add");
        dir.soft_delete_user(a).expect("soft delete");
        assert!(!dir.live_group(g).expect("group").has_member(a));
        dir.restore_user(a).expect("restore");
        assert!(dir.live_group(g).expect("group").has_member(a));
    }

    #[test]
    fn hard_delete_clears_the_manager_of_direct_reports() {
        let (mut dir, a, b) = directory_with_two_users();
        dir.set_manager(b, Some(a)).expect("manager");
        dir.hard_delete_user(a).expect("delete");
        let report = dir.user(b).expect("b");
        assert_eq!(report.manager, None);
        assert_eq!(report.previous_manager, Some(a));
        assert!(dir.live_user_by_key("a@t.test").is_none());
    }

    #[test]
    fn licences_need_a_usage_location() {
        let (mut dir, a, _) = directory_with_two_users();
        let add = [AssignedLicense {
            disabled_plans: vec![],
            sku_id: Uuid::from_u128(5),
        }];
        let err = dir
            .assign_licenses(a, &add, &[])
            .expect_err("no usage location");
        assert!(err.to_string().contains("usage location"));
    }
}
