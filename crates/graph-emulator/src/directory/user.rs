//! A directory user: its properties (by Graph name), and the version at which each last changed,
//! so delta rounds can answer "what changed since version N" per property.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// A user property the emulator stores, named as Graph names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum UserProp {
    /// `userPrincipalName`
    UserPrincipalName,
    /// `mail`
    Mail,
    /// `displayName`
    DisplayName,
    /// `givenName`
    GivenName,
    /// `surname`
    Surname,
    /// `jobTitle`
    JobTitle,
    /// `department`
    Department,
    /// `officeLocation`
    OfficeLocation,
    /// `companyName`
    CompanyName,
    /// `employeeId`
    EmployeeId,
    /// `employeeType`
    EmployeeType,
    /// `mobilePhone`
    MobilePhone,
    /// `faxNumber`
    FaxNumber,
    /// `streetAddress`
    StreetAddress,
    /// `city`
    City,
    /// `state`
    State,
    /// `postalCode`
    PostalCode,
    /// `country`
    Country,
    /// `usageLocation`
    UsageLocation,
    /// `preferredLanguage`
    PreferredLanguage,
    /// `userType`
    UserType,
    /// `creationType`
    CreationType,
    /// `createdDateTime`
    CreatedDateTime,
    /// `onPremisesSamAccountName`
    OnPremisesSamAccountName,
    /// `mailNickname`
    MailNickname,
    /// `accountEnabled`
    AccountEnabled,
    /// `onPremisesSyncEnabled`
    OnPremisesSyncEnabled,
    /// `businessPhones`
    BusinessPhones,
    /// `otherMails`
    OtherMails,
    /// `assignedLicenses`
    AssignedLicenses,
    /// `onPremisesExtensionAttributes`
    OnPremisesExtensionAttributes,
    /// `manager` (a navigation property: `$expand` on lists, `manager@delta` in delta rounds)
    Manager,
    /// `signInActivity` (audit data: needs `AuditLog.Read.All`, not tracked by delta)
    SignInActivity,
}

/// How many string-valued properties lead the [`UserProp`] list.
pub const STRING_PROPS: usize = 25;

impl UserProp {
    /// Every property, in declaration order.
    pub const ALL: [UserProp; 33] = [
        Self::UserPrincipalName,
        Self::Mail,
        Self::DisplayName,
        Self::GivenName,
        Self::Surname,
        Self::JobTitle,
        Self::Department,
        Self::OfficeLocation,
        Self::CompanyName,
        Self::EmployeeId,
        Self::EmployeeType,
        Self::MobilePhone,
        Self::FaxNumber,
        Self::StreetAddress,
        Self::City,
        Self::State,
        Self::PostalCode,
        Self::Country,
        Self::UsageLocation,
        Self::PreferredLanguage,
        Self::UserType,
        Self::CreationType,
        Self::CreatedDateTime,
        Self::OnPremisesSamAccountName,
        Self::MailNickname,
        Self::AccountEnabled,
        Self::OnPremisesSyncEnabled,
        Self::BusinessPhones,
        Self::OtherMails,
        Self::AssignedLicenses,
        Self::OnPremisesExtensionAttributes,
        Self::Manager,
        Self::SignInActivity,
    ];

    /// The properties Graph v1.0 returns for a user when no `$select` is given
    /// (user-list.md, "Response"), `id` aside.
    pub const DEFAULT: [UserProp; 10] = [
        Self::BusinessPhones,
        Self::DisplayName,
        Self::GivenName,
        Self::JobTitle,
        Self::Mail,
        Self::MobilePhone,
        Self::OfficeLocation,
        Self::PreferredLanguage,
        Self::Surname,
        Self::UserPrincipalName,
    ];

    /// The Graph name of the property.
    pub fn name(self) -> &'static str {
        match self {
            Self::UserPrincipalName => "userPrincipalName",
            Self::Mail => "mail",
            Self::DisplayName => "displayName",
            Self::GivenName => "givenName",
            Self::Surname => "surname",
            Self::JobTitle => "jobTitle",
            Self::Department => "department",
            Self::OfficeLocation => "officeLocation",
            Self::CompanyName => "companyName",
            Self::EmployeeId => "employeeId",
            Self::EmployeeType => "employeeType",
            Self::MobilePhone => "mobilePhone",
            Self::FaxNumber => "faxNumber",
            Self::StreetAddress => "streetAddress",
            Self::City => "city",
            Self::State => "state",
            Self::PostalCode => "postalCode",
            Self::Country => "country",
            Self::UsageLocation => "usageLocation",
            Self::PreferredLanguage => "preferredLanguage",
            Self::UserType => "userType",
            Self::CreationType => "creationType",
            Self::CreatedDateTime => "createdDateTime",
            Self::OnPremisesSamAccountName => "onPremisesSamAccountName",
            Self::MailNickname => "mailNickname",
            Self::AccountEnabled => "accountEnabled",
            Self::OnPremisesSyncEnabled => "onPremisesSyncEnabled",
            Self::BusinessPhones => "businessPhones",
            Self::OtherMails => "otherMails",
            Self::AssignedLicenses => "assignedLicenses",
            Self::OnPremisesExtensionAttributes => "onPremisesExtensionAttributes",
            Self::Manager => "manager",
            Self::SignInActivity => "signInActivity",
        }
    }

    /// The property with this Graph name; OData names are case-insensitive.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(name))
    }

    /// The index of the property in per-property arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    fn string_slot(self) -> Option<usize> {
        (self.index() < STRING_PROPS).then_some(self.index())
    }
}

/// A licence assigned to a user (`assignedLicense` resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignedLicense {
    /// Service plans switched off for this user.
    pub disabled_plans: Vec<Uuid>,
    /// The SKU.
    pub sku_id: Uuid,
}

/// The `signInActivity` resource of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInActivity {
    /// Last interactive sign-in.
    pub last_sign_in: Option<DateTime<Utc>>,
    /// Last non-interactive sign-in.
    pub last_non_interactive_sign_in: Option<DateTime<Utc>>,
    /// Request id of the last sign-in (any kind).
    pub request_id: Uuid,
}

/// Whether a user is in the directory, in the recycle bin, or gone, and since which version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Present.
    Live,
    /// Soft-deleted (restorable for 30 days); delta reports `@removed` with reason `changed`.
    SoftDeleted {
        /// Version of the deletion.
        at: u32,
    },
    /// Permanently deleted; delta reports `@removed` with reason `deleted`.
    HardDeleted {
        /// Version of the deletion.
        at: u32,
    },
}

/// A value of a user property, for reading and writing through the control API.
pub type Text = Option<Arc<str>>;

/// One directory user.
#[derive(Debug, Clone)]
pub struct User {
    /// Object id.
    pub id: Uuid,
    /// String-valued properties, indexed by [`UserProp::index`].
    pub strings: [Text; STRING_PROPS],
    /// `accountEnabled`.
    pub account_enabled: bool,
    /// `onPremisesSyncEnabled` (null for cloud-only users).
    pub on_premises_sync_enabled: Option<bool>,
    /// `businessPhones`.
    pub business_phones: Vec<Arc<str>>,
    /// `otherMails`.
    pub other_mails: Vec<Arc<str>>,
    /// `assignedLicenses`.
    pub assigned_licenses: Vec<AssignedLicense>,
    /// `onPremisesExtensionAttributes.extensionAttribute1..15`, when any is set.
    pub extension_attributes: Option<Box<[Text; 15]>>,
    /// The manager's object id.
    pub manager: Option<Uuid>,
    /// The manager before the last manager change; delta reports its removal.
    pub previous_manager: Option<Uuid>,
    /// `signInActivity`.
    pub sign_in: Option<SignInActivity>,
    /// Version at which each property last changed (0: never set since the tenant existed).
    pub versions: [u32; UserProp::ALL.len()],
    /// Version at which the user last entered the directory (creation or restore).
    pub appeared: u32,
    /// Present, soft-deleted or hard-deleted.
    pub lifecycle: Lifecycle,
    /// Groups the user belonged to when soft-deleted, rejoined on restore.
    pub parked_groups: Vec<Uuid>,
}

impl User {
    /// An empty, enabled member user with this id.
    pub fn new(id: Uuid) -> Self {
        Self {
            id,
            strings: Default::default(),
            account_enabled: true,
            on_premises_sync_enabled: None,
            business_phones: Vec::new(),
            other_mails: Vec::new(),
            assigned_licenses: Vec::new(),
            extension_attributes: None,
            manager: None,
            previous_manager: None,
            sign_in: None,
            versions: [0; UserProp::ALL.len()],
            appeared: 0,
            lifecycle: Lifecycle::Live,
            parked_groups: Vec::new(),
        }
    }

    /// Whether the user is present (not deleted).
    pub fn is_live(&self) -> bool {
        self.lifecycle == Lifecycle::Live
    }

    /// A string property, when it is one.
    pub fn text(&self, prop: UserProp) -> Option<&str> {
        prop.string_slot()
            .and_then(|slot| self.strings[slot].as_deref())
    }

    /// Sets a string property (no version bookkeeping).
    pub fn set_text(&mut self, prop: UserProp, value: Text) {
        if let Some(slot) = prop.string_slot() {
            self.strings[slot] = value;
        }
    }

    /// Whether the property holds a value (an empty collection counts as a value).
    pub fn has_value(&self, prop: UserProp) -> bool {
        match prop {
            UserProp::AccountEnabled | UserProp::BusinessPhones | UserProp::OtherMails => true,
            UserProp::AssignedLicenses => true,
            UserProp::OnPremisesSyncEnabled => self.on_premises_sync_enabled.is_some(),
            UserProp::OnPremisesExtensionAttributes => true,
            UserProp::Manager => self.manager.is_some(),
            UserProp::SignInActivity => self.sign_in.is_some(),
            p => self.text(p).is_some(),
        }
    }

    /// The property as Graph JSON (the manager as its id).
    pub fn value(&self, prop: UserProp) -> Value {
        match prop {
            UserProp::AccountEnabled => Value::Bool(self.account_enabled),
            UserProp::OnPremisesSyncEnabled => self
                .on_premises_sync_enabled
                .map(Value::Bool)
                .unwrap_or(Value::Null),
            UserProp::BusinessPhones => strings_value(&self.business_phones),
            UserProp::OtherMails => strings_value(&self.other_mails),
            UserProp::AssignedLicenses => {
                serde_json::to_value(&self.assigned_licenses).unwrap_or(Value::Null)
            }
            UserProp::OnPremisesExtensionAttributes => {
                let mut map = serde_json::Map::new();
                for n in 0..15 {
                    let value = self
                        .extension_attributes
                        .as_ref()
                        .and_then(|attrs| attrs[n].as_deref())
                        .map_or(Value::Null, |s| Value::String(s.to_owned()));
                    map.insert(format!("extensionAttribute{}", n + 1), value);
                }
                Value::Object(map)
            }
            UserProp::Manager => self
                .manager
                .map_or(Value::Null, |m| Value::String(m.to_string())),
            UserProp::SignInActivity => self.sign_in.as_ref().map_or(Value::Null, sign_in_value),
            p => self
                .text(p)
                .map_or(Value::Null, |s| Value::String(s.to_owned())),
        }
    }
}

fn strings_value(list: &[Arc<str>]) -> Value {
    Value::Array(list.iter().map(|s| Value::String(s.to_string())).collect())
}

/// The `signInActivity` resource as Graph returns it (signinactivity.md).
pub fn sign_in_value(activity: &SignInActivity) -> Value {
    let stamp = |t: Option<DateTime<Utc>>| {
        t.map_or(Value::Null, |t| {
            Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        })
    };
    let last_successful = activity
        .last_sign_in
        .max(activity.last_non_interactive_sign_in);
    let request = Value::String(activity.request_id.to_string());
    serde_json::json!({
        "lastSignInDateTime": stamp(activity.last_sign_in),
        "lastSignInRequestId": if activity.last_sign_in.is_some() { request.clone() } else { Value::Null },
        "lastNonInteractiveSignInDateTime": stamp(activity.last_non_interactive_sign_in),
        "lastNonInteractiveSignInRequestId": if activity.last_non_interactive_sign_in.is_some() { request.clone() } else { Value::Null },
        "lastSuccessfulSignInDateTime": stamp(last_successful),
        "lastSuccessfulSignInRequestId": if last_successful.is_some() { request } else { Value::Null },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_names_round_trip_case_insensitively() {
        for prop in UserProp::ALL {
            assert_eq!(UserProp::from_name(&prop.name().to_uppercase()), Some(prop));
            assert_eq!(UserProp::ALL[prop.index()], prop);
        }
        assert_eq!(UserProp::MailNickname.index(), STRING_PROPS - 1);
    }

    #[test]
    fn extension_attributes_serialise_all_fifteen_keys() {
        let user = User::new(Uuid::nil());
        let value = user.value(UserProp::OnPremisesExtensionAttributes);
        assert_eq!(value.as_object().map(|m| m.len()), Some(15));
        assert!(value["extensionAttribute15"].is_null());
    }
}
