//! The vocabularies a mapping may name: the Entra attributes of the catalogue (plus directory
//! extensions and `onPremisesExtensionAttributes`) and the Halo user and agent fields.
//!
//! Names are parsed once, at compile time, into [`Attribute`] and [`HaloField`]; planning then
//! reads attributes by index and never compares names.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::spec::Target;

/// The Entra attributes of the catalogue, as Graph spells them. The position of a name is its
/// index in [`crate::EntraUser`]'s storage.
pub const CATALOGUE: [&str; 32] = [
    "id",
    "userPrincipalName",
    "mail",
    "displayName",
    "givenName",
    "surname",
    "jobTitle",
    "department",
    "officeLocation",
    "companyName",
    "employeeId",
    "employeeType",
    "mobilePhone",
    "businessPhones",
    "otherMails",
    "faxNumber",
    "streetAddress",
    "city",
    "state",
    "postalCode",
    "country",
    "usageLocation",
    "preferredLanguage",
    "userType",
    "accountEnabled",
    "creationType",
    "createdDateTime",
    "onPremisesSamAccountName",
    "onPremisesSyncEnabled",
    "manager",
    "assignedLicenses",
    "signInActivity.lastSignInDateTime",
];

/// Catalogue indexes the engine itself reads.
pub(crate) mod known {
    pub const ID: usize = 0;
    pub const USER_PRINCIPAL_NAME: usize = 1;
    pub const MAIL: usize = 2;
    pub const DISPLAY_NAME: usize = 3;
    pub const GIVEN_NAME: usize = 4;
    pub const SURNAME: usize = 5;
    pub const USER_TYPE: usize = 23;
    pub const ACCOUNT_ENABLED: usize = 24;
    pub const MANAGER: usize = 29;
    pub const ASSIGNED_LICENSES: usize = 30;
    pub const SIGN_IN: usize = 31;
}

/// Attributes Graph's `users/delta` cannot track: they are fetched separately (`/users` paging on
/// full runs, `$batch` for the changed people of a delta run).
pub const DELTA_INCOMPATIBLE: [&str; 1] = ["signInActivity.lastSignInDateTime"];

/// Attributes the daemon always selects, whatever the config uses (id, UPN, mail,
/// display name, account state, user type, licences, manager).
pub const SYSTEM_ATTRIBUTES: [&str; 8] = [
    "id",
    "userPrincipalName",
    "mail",
    "displayName",
    "accountEnabled",
    "userType",
    "assignedLicenses",
    "manager",
];

const ON_PREM_PREFIX: &str = "onPremisesExtensionAttributes.extensionAttribute";

/// An Entra attribute a mapping reads, parsed from its Graph name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attribute {
    /// One of [`CATALOGUE`], by index.
    Catalogue(usize),
    /// `onPremisesExtensionAttributes.extensionAttributeN`, N in 1..=15.
    OnPremisesExtension(u8),
    /// A directory extension `extension_<appid>_<name>`.
    Extension(Arc<str>),
}

impl Attribute {
    /// Parses a Graph attribute name; `None` when it is not one a mapping may name.
    pub fn parse(name: &str) -> Option<Attribute> {
        if let Some(index) = CATALOGUE.iter().position(|known| *known == name) {
            return Some(Attribute::Catalogue(index));
        }
        if let Some(number) = name.strip_prefix(ON_PREM_PREFIX) {
            let n: u8 = number.parse().ok()?;
            let canonical = n.to_string() == number;
            return ((1..=15).contains(&n) && canonical)
                .then_some(Attribute::OnPremisesExtension(n));
        }
        is_directory_extension(name).then(|| Attribute::Extension(Arc::from(name)))
    }

    /// The attribute's Graph name, as configured.
    pub fn name(&self) -> String {
        match self {
            Attribute::Catalogue(index) => CATALOGUE.get(*index).copied().unwrap_or("").to_owned(),
            Attribute::OnPremisesExtension(n) => format!("{ON_PREM_PREFIX}{n}"),
            Attribute::Extension(name) => name.to_string(),
        }
    }

    /// The top-level Graph property to put in `$select` for this attribute.
    pub fn graph_property(&self) -> String {
        match self {
            Attribute::Catalogue(known::SIGN_IN) => "signInActivity".to_owned(),
            Attribute::OnPremisesExtension(_) => "onPremisesExtensionAttributes".to_owned(),
            other => other.name(),
        }
    }

    /// Whether `users/delta` can track the attribute.
    pub fn delta_compatible(&self) -> bool {
        *self != Attribute::Catalogue(known::SIGN_IN)
    }
}

/// `extension_<32 hex digits>_<name>`, as Graph names directory extension attributes.
pub(crate) fn is_directory_extension(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("extension_") else {
        return false;
    };
    let Some((app_id, property)) = rest.split_at_checked(32) else {
        return false;
    };
    let Some(property) = property.strip_prefix('_') else {
        return false;
    };
    app_id.bytes().all(|b| b.is_ascii_hexdigit())
        && !property.is_empty()
        && property
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A service-desk field a mapping writes (each is the target of one mapping per target at most). Serialised as its config name
/// (`department`, `custom.CFCostCentre`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HaloField {
    /// `name` (user, agent).
    Name,
    /// `firstname` (user).
    Firstname,
    /// `surname` (user).
    Surname,
    /// `emailaddress` (user, agent).
    Emailaddress,
    /// `login` (user): the UPN.
    Login,
    /// `phonenumber` (user, agent).
    Phonenumber,
    /// `mobilenumber` (user).
    Mobilenumber,
    /// `jobtitle` (user, agent).
    Jobtitle,
    /// `department` (user).
    Department,
    /// `employee_number` (user).
    EmployeeNumber,
    /// `manager` (user): the manager's Entra object id.
    Manager,
    /// `creationtype` (user, agent).
    Creationtype,
    /// `last_sign_in` (user).
    LastSignIn,
    /// `linemanager` (agent): the Entra object id of the person whose agent is the line manager
    /// (linked as soon as that agent exists).
    Linemanager,
    /// `team` (agent): the default team, by name.
    Team,
    /// `custom.<name>` (user): a declared user custom field.
    Custom(Arc<str>),
}

const USER_FIELDS: [HaloField; 13] = [
    HaloField::Name,
    HaloField::Firstname,
    HaloField::Surname,
    HaloField::Emailaddress,
    HaloField::Login,
    HaloField::Phonenumber,
    HaloField::Mobilenumber,
    HaloField::Jobtitle,
    HaloField::Department,
    HaloField::EmployeeNumber,
    HaloField::Manager,
    HaloField::Creationtype,
    HaloField::LastSignIn,
];

const AGENT_FIELDS: [HaloField; 7] = [
    HaloField::Name,
    HaloField::Emailaddress,
    HaloField::Phonenumber,
    HaloField::Jobtitle,
    HaloField::Linemanager,
    HaloField::Team,
    HaloField::Creationtype,
];

impl HaloField {
    /// Parses a field name of any target (`custom.X` included, declared or not).
    pub fn parse(name: &str) -> Option<HaloField> {
        if let Some(custom) = name.strip_prefix("custom.") {
            return (!custom.is_empty()).then(|| HaloField::Custom(Arc::from(custom)));
        }
        USER_FIELDS
            .iter()
            .chain(AGENT_FIELDS.iter())
            .find(|field| field.as_str() == name)
            .cloned()
    }

    /// The field's config name (`custom.` prefixed for custom fields).
    pub fn as_str(&self) -> &str {
        match self {
            HaloField::Name => "name",
            HaloField::Firstname => "firstname",
            HaloField::Surname => "surname",
            HaloField::Emailaddress => "emailaddress",
            HaloField::Login => "login",
            HaloField::Phonenumber => "phonenumber",
            HaloField::Mobilenumber => "mobilenumber",
            HaloField::Jobtitle => "jobtitle",
            HaloField::Department => "department",
            HaloField::EmployeeNumber => "employee_number",
            HaloField::Manager => "manager",
            HaloField::Creationtype => "creationtype",
            HaloField::LastSignIn => "last_sign_in",
            HaloField::Linemanager => "linemanager",
            HaloField::Team => "team",
            HaloField::Custom(_) => "custom",
        }
    }

    /// Whether records of `target` have this field (custom fields exist on users only).
    pub fn exists_for(&self, target: Target) -> bool {
        match (self, target) {
            (HaloField::Custom(_), Target::User) => true,
            (HaloField::Custom(_), Target::Agent) => false,
            (field, Target::User) => USER_FIELDS.contains(field),
            (field, Target::Agent) => AGENT_FIELDS.contains(field),
        }
    }

    /// The field names of `target`, for messages.
    pub(crate) fn names_for(target: Target) -> String {
        let fields: &[HaloField] = match target {
            Target::User => &USER_FIELDS,
            Target::Agent => &AGENT_FIELDS,
        };
        let mut names: Vec<&str> = fields.iter().map(HaloField::as_str).collect();
        if target == Target::User {
            names.push("custom.<declared user custom field>");
        }
        names.join(", ")
    }
}

impl fmt::Display for HaloField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HaloField::Custom(name) => write!(f, "custom.{name}"),
            other => f.write_str(other.as_str()),
        }
    }
}

impl Serialize for HaloField {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            HaloField::Custom(_) => serializer.collect_str(self),
            other => serializer.serialize_str(other.as_str()),
        }
    }
}

impl<'de> Deserialize<'de> for HaloField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        HaloField::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown Halo field \"{name}\"")))
    }
}

/// The closest of `candidates` to `name` (same name ignoring case, or at most two edits away),
/// for "did you mean" hints.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lowered = name.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = if candidate.to_lowercase() == lowered {
            0
        } else {
            edit_distance(&lowered, &candidate.to_lowercase())
        };
        if distance <= 2 && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_names_parse_to_their_index() {
        assert_eq!(
            Attribute::parse("department"),
            Some(Attribute::Catalogue(7))
        );
        assert_eq!(
            Attribute::parse("manager"),
            Some(Attribute::Catalogue(known::MANAGER))
        );
        assert_eq!(Attribute::parse("Department"), None);
    }

    #[test]
    fn on_premises_extension_attributes_run_from_one_to_fifteen() {
        let name = |n: &str| format!("onPremisesExtensionAttributes.extensionAttribute{n}");
        assert_eq!(
            Attribute::parse(&name("1")),
            Some(Attribute::OnPremisesExtension(1))
        );
        assert_eq!(
            Attribute::parse(&name("15")),
            Some(Attribute::OnPremisesExtension(15))
        );
        assert_eq!(Attribute::parse(&name("0")), None);
        assert_eq!(Attribute::parse(&name("16")), None);
        assert_eq!(Attribute::parse(&name("01")), None);
    }

    #[test]
    fn directory_extensions_need_a_32_hex_digit_app_id_and_a_name() {
        assert!(is_directory_extension(
            "extension_0123456789abcdef0123456789ABCDEF_costCentre"
        ));
        assert!(!is_directory_extension(
            "extension_0123456789abcdef_costCentre"
        ));
        assert!(!is_directory_extension(
            "extension_0123456789abcdef0123456789abcdeg_x"
        ));
        assert!(!is_directory_extension(
            "extension_0123456789abcdef0123456789abcdef_"
        ));
    }

    #[test]
    fn sign_in_activity_is_selected_as_its_parent_property_and_not_tracked_by_delta() {
        let attribute = Attribute::parse("signInActivity.lastSignInDateTime");
        assert_eq!(
            attribute.as_ref().map(Attribute::graph_property).as_deref(),
            Some("signInActivity")
        );
        assert_eq!(attribute.map(|a| a.delta_compatible()), Some(false));
    }

    #[test]
    fn halo_fields_exist_only_for_their_targets() {
        assert!(HaloField::Linemanager.exists_for(Target::Agent));
        assert!(!HaloField::Linemanager.exists_for(Target::User));
        assert!(!HaloField::Firstname.exists_for(Target::Agent));
        assert!(HaloField::parse("custom.CFX").is_some_and(|f| f.exists_for(Target::User)));
        assert_eq!(HaloField::parse("custom."), None);
    }

    #[test]
    fn custom_fields_serialise_with_their_prefix() {
        let field = HaloField::Custom(Arc::from("CFCostCentre"));
        assert_eq!(
            serde_json::to_string(&field).ok().as_deref(),
            Some("\"custom.CFCostCentre\"")
        );
    }

    #[test]
    fn closest_suggests_a_near_name() {
        assert_eq!(closest("deparment", CATALOGUE), Some("department"));
        assert_eq!(closest("DisplayName", CATALOGUE), Some("displayName"));
        assert_eq!(closest("zzzzzzzz", CATALOGUE), None);
    }
}
