//! One Entra person as the engine reads it: attribute values by catalogue index.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::catalogue::{Attribute, CATALOGUE, known};

/// An Entra user with the attributes the mirror holds for it: always a whole person,
/// never a partial delta object.
///
/// Scalars are kept as text (`accountEnabled` is `"true"`/`"false"`); `businessPhones` and
/// `otherMails` keep their first element, `manager` the manager's object id and
/// `assignedLicenses` the SKU ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntraUser {
    id: Arc<str>,
    // Shared strings: planning hands values to the plan by reference count, not by copy.
    catalogue: [Option<Arc<str>>; 32],
    /// `extensionAttributeN` values by N; few people have any.
    on_premises_extensions: Vec<(u8, Arc<str>)>,
    extensions: BTreeMap<Arc<str>, Arc<str>>,
    assigned_licenses: Vec<String>,
    /// What Graph sent of another JSON type than the attribute has, and how it was read
    /// (`jobTitle: Graph sent a number where text was expected; read as text`). Empty for
    /// nearly everyone.
    odd_types: Vec<String>,
}

/// Why a Graph user object cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphUserError {
    /// The object has no `id` string.
    #[error("the Graph user object has no \"id\" string")]
    MissingId,
}

/// A borrowed view of one attribute's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeValue<'a> {
    /// Not set (or null).
    Absent,
    /// One text value (may be empty).
    One(&'a str),
    /// A list (only `assignedLicenses`: SKU ids).
    Many(&'a [String]),
}

impl<'a> AttributeValue<'a> {
    /// No value, an empty or blank text, or an empty list.
    pub fn is_empty(&self) -> bool {
        match self {
            AttributeValue::Absent => true,
            AttributeValue::One(text) => is_blank(text),
            AttributeValue::Many(items) => items.is_empty(),
        }
    }

    /// Whether any text value satisfies `test`.
    pub(crate) fn any(&self, mut test: impl FnMut(&str) -> bool) -> bool {
        match self {
            AttributeValue::Absent => false,
            AttributeValue::One(text) => test(text),
            AttributeValue::Many(items) => items.iter().any(|item| test(item)),
        }
    }

    /// The value as one text, `None` when empty; a list is joined with `", "`.
    pub fn to_text(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        match self {
            AttributeValue::Absent => None,
            AttributeValue::One(text) => Some((*text).to_owned()),
            AttributeValue::Many(items) => Some(items.join(", ")),
        }
    }

    /// The single text value, `None` when empty or a list.
    pub fn as_text(&self) -> Option<&'a str> {
        match self {
            AttributeValue::One(text) if !is_blank(text) => Some(text),
            _ => None,
        }
    }
}

/// Empty or only whitespace; cheap for the usual value that starts with a letter.
fn is_blank(text: &str) -> bool {
    text.chars().next().is_none_or(char::is_whitespace) && text.trim().is_empty()
}

impl EntraUser {
    /// A user with only its object id.
    pub fn new(id: impl AsRef<str>) -> EntraUser {
        let id: Arc<str> = Arc::from(id.as_ref());
        let mut user = EntraUser::default();
        user.catalogue[known::ID] = Some(id.clone());
        user.id = id;
        user
    }

    /// Reads a Graph user object as `users/delta` or `/users` return it (objects kept as JSON
    /// maps at the edge). A value of another JSON type than its attribute has is never an error
    /// (only a missing `id` is): a scalar is read as text, a list by its first item, an object
    /// is ignored, and each such value is noted ([`EntraUser::odd_types`]) for the person's plan.
    pub fn from_graph(object: &Map<String, Value>) -> Result<EntraUser, GraphUserError> {
        let id = match object.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id,
            _ => return Err(GraphUserError::MissingId),
        };
        let mut user = EntraUser::new(id);
        for (key, value) in object {
            match key.as_str() {
                "id" => {}
                "manager" | "manager@delta" => {
                    user.catalogue[known::MANAGER] = manager_id(value).map(Arc::from);
                }
                "assignedLicenses" => user.assigned_licenses = sku_ids(value),
                "signInActivity" => {
                    user.catalogue[known::SIGN_IN] = value
                        .get("lastSignInDateTime")
                        .and_then(scalar_text)
                        .map(Arc::from);
                }
                "onPremisesExtensionAttributes" => match value {
                    Value::Object(attributes) => {
                        for n in 1..=15 {
                            let name = format!("extensionAttribute{n}");
                            let value = attributes.get(&name);
                            if let Some(value) = value {
                                user.note_type(&format!("{key}.{name}"), Expected::Text, value);
                            }
                            let text = value.and_then(scalar_text);
                            user.set_parsed(&Attribute::OnPremisesExtension(n), text);
                        }
                    }
                    other => user.note_type(key, Expected::Object, other),
                },
                name => {
                    if let Some(attribute) = Attribute::parse(name) {
                        if let Attribute::Catalogue(index) = attribute {
                            user.note_type(key, expected(index), value);
                        }
                        user.set_parsed(&attribute, first_text(value));
                    }
                }
            }
        }
        Ok(user)
    }

    /// Sets an attribute by its Graph name (as a mapping names it). Returns false, changing
    /// nothing, for a name outside the catalogue. `assignedLicenses` takes comma-separated SKU ids.
    pub fn set(&mut self, attribute: &str, value: Option<&str>) -> bool {
        match Attribute::parse(attribute) {
            Some(Attribute::Catalogue(known::ID)) | None => false,
            Some(parsed) => {
                self.set_parsed(&parsed, value.map(str::to_owned));
                true
            }
        }
    }

    /// Builder form of [`EntraUser::set`] for fixtures; unknown names are ignored.
    pub fn with(mut self, attribute: &str, value: &str) -> EntraUser {
        self.set(attribute, Some(value));
        self
    }

    fn set_parsed(&mut self, attribute: &Attribute, value: Option<String>) {
        match attribute {
            Attribute::Catalogue(known::ID) => {}
            Attribute::Catalogue(known::ASSIGNED_LICENSES) => {
                self.assigned_licenses = value
                    .iter()
                    .flat_map(|list| list.split(','))
                    .map(str::trim)
                    .filter(|sku| !sku.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            Attribute::Catalogue(index) => {
                if let Some(slot) = self.catalogue.get_mut(*index) {
                    *slot = value.map(Arc::from);
                }
            }
            Attribute::OnPremisesExtension(n) => {
                self.on_premises_extensions
                    .retain(|(existing, _)| existing != n);
                if let Some(value) = value {
                    self.on_premises_extensions.push((*n, Arc::from(value)));
                }
            }
            Attribute::Extension(name) => match value {
                Some(value) => {
                    self.extensions.insert(name.clone(), Arc::from(value));
                }
                None => {
                    self.extensions.remove(&**name);
                }
            },
        }
    }

    /// Notes `value` of `attribute` when its JSON type is not the `expected` one.
    fn note_type(&mut self, attribute: &str, expected: Expected, value: &Value) {
        let read = match (expected, value) {
            (_, Value::Null)
            | (Expected::Text, Value::String(_))
            | (Expected::Flag, Value::Bool(_))
            | (Expected::Object, Value::Object(_)) => return,
            (Expected::List, Value::Array(items)) if items.iter().all(Value::is_string) => return,
            (Expected::List, Value::String(_)) => "read as a list of one",
            (Expected::List, Value::Array(_)) => "its first text item was read",
            (Expected::Object, _) => "ignored",
            (_, Value::Array(items)) if items.iter().any(|item| scalar_text(item).is_some()) => {
                "its first item was read"
            }
            (_, Value::Array(_) | Value::Object(_)) => "ignored",
            (_, Value::Bool(_) | Value::Number(_) | Value::String(_)) => "read as text",
        };
        self.odd_types.push(format!(
            "{attribute}: Graph sent {} where {} was expected; {read}",
            kind(value),
            expected.describe()
        ));
    }

    /// The values Graph sent of another JSON type than their attribute has, and how each was
    /// read: one note each.
    pub fn odd_types(&self) -> &[String] {
        &self.odd_types
    }

    /// The Entra object id.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn shared_id(&self) -> Arc<str> {
        self.id.clone()
    }

    /// The manager's Entra object id, if any.
    pub fn manager(&self) -> Option<&str> {
        self.catalogue[known::MANAGER]
            .as_deref()
            .filter(|id| !id.is_empty())
    }

    /// SKU ids of the assigned licences.
    pub fn assigned_licenses(&self) -> &[String] {
        &self.assigned_licenses
    }

    /// `userType = Guest` (compared ignoring case).
    pub fn is_guest(&self) -> bool {
        self.catalogue[known::USER_TYPE]
            .as_deref()
            .is_some_and(|kind| kind.eq_ignore_ascii_case("guest"))
    }

    /// `accountEnabled = false`. An unknown state counts as enabled.
    pub fn is_disabled(&self) -> bool {
        self.catalogue[known::ACCOUNT_ENABLED]
            .as_deref()
            .is_some_and(|enabled| enabled.eq_ignore_ascii_case("false"))
    }

    /// An attribute's value.
    pub fn value(&self, attribute: &Attribute) -> AttributeValue<'_> {
        if *attribute == Attribute::Catalogue(known::ASSIGNED_LICENSES) {
            return AttributeValue::Many(&self.assigned_licenses);
        }
        self.shared(attribute)
            .map_or(AttributeValue::Absent, |text| AttributeValue::One(text))
    }

    /// An attribute's text, shared with the plan (a reference count, not a copy); `None` when
    /// empty. A list is joined with `", "`.
    pub(crate) fn text(&self, attribute: &Attribute) -> Option<Arc<str>> {
        if *attribute == Attribute::Catalogue(known::ASSIGNED_LICENSES) {
            return AttributeValue::Many(&self.assigned_licenses)
                .to_text()
                .map(Arc::from);
        }
        self.shared(attribute)
            .filter(|text| !is_blank(text))
            .cloned()
    }

    fn shared(&self, attribute: &Attribute) -> Option<&Arc<str>> {
        match attribute {
            Attribute::Catalogue(index) => self.catalogue.get(*index).and_then(Option::as_ref),
            Attribute::OnPremisesExtension(n) => self
                .on_premises_extensions
                .iter()
                .find(|(existing, _)| existing == n)
                .map(|(_, text)| text),
            Attribute::Extension(name) => self.extensions.get(&**name),
        }
    }

    /// An attribute's value by Graph name; `Absent` for names outside the catalogue.
    pub fn get(&self, attribute: &str) -> AttributeValue<'_> {
        Attribute::parse(attribute).map_or(AttributeValue::Absent, |parsed| self.value(&parsed))
    }

    /// The catalogue names with a value, for debugging and previews.
    pub fn attribute_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        CATALOGUE
            .iter()
            .zip(self.catalogue.iter())
            .filter(|(_, value)| value.is_some())
            .map(|(name, _)| *name)
    }
}

/// The JSON type an attribute has in Graph's user resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    /// A string (dates too).
    Text,
    /// A list of strings (`businessPhones`, `otherMails`).
    List,
    /// `true` or `false`.
    Flag,
    /// An object.
    Object,
}

impl Expected {
    fn describe(self) -> &'static str {
        match self {
            Expected::Text => "text",
            Expected::List => "a list of text",
            Expected::Flag => "true or false",
            Expected::Object => "an object",
        }
    }
}

/// The JSON type of the catalogue attribute `index` (those read by [`first_text`]).
fn expected(index: usize) -> Expected {
    match CATALOGUE.get(index).copied() {
        Some("businessPhones" | "otherMails") => Expected::List,
        Some("accountEnabled" | "onPremisesSyncEnabled") => Expected::Flag,
        _ => Expected::Text,
    }
}

/// A JSON value's type, as a note names it.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Bool(flag) => Some(flag.to_string()),
        Value::Number(number) => Some(number.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A scalar, or the first element of a list (`businessPhones`, `otherMails`).
fn first_text(value: &Value) -> Option<String> {
    match value {
        Value::Array(items) => items.iter().find_map(scalar_text),
        other => scalar_text(other),
    }
}

/// `manager` as an id, an object with `id` (`$expand=manager`) or a list of such objects
/// (`manager@delta`).
fn manager_id(value: &Value) -> Option<String> {
    match value {
        Value::String(id) => Some(id.clone()),
        Value::Object(object) => object.get("id").and_then(Value::as_str).map(str::to_owned),
        Value::Array(items) => items.iter().find_map(manager_id),
        _ => None,
    }
}

fn sku_ids(value: &Value) -> Vec<String> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::Object(licence) => licence.get("skuId").and_then(Value::as_str),
            Value::String(sku) => Some(sku.as_str()),
            _ => None,
        })
        .filter(|sku| !sku.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn graph(value: Value) -> EntraUser {
        let Value::Object(object) = value else {
            unreachable!("fixture is an object")
        };
        EntraUser::from_graph(&object).expect("has an id")
    }

    #[test]
    fn values_of_another_json_type_are_read_as_they_can_be_and_noted() {
        let user = graph(json!({
            "id": "u1",
            "displayName": null,
            "jobTitle": 12345,
            "department": {"name": "IT"},
            "accountEnabled": "yes",
            "mail": ["a@b.c"],
            "businessPhones": "+1 555 0100",
            "otherMails": ["x@y.z", 7],
            "officeLocation": true,
            "city": [],
            "onPremisesExtensionAttributes": {"extensionAttribute3": 3},
            "surname": "Nowak",
        }));
        assert_eq!(user.get("jobTitle").as_text(), Some("12345"));
        assert_eq!(user.get("department"), AttributeValue::Absent);
        assert_eq!(user.get("mail").as_text(), Some("a@b.c"));
        assert_eq!(user.get("businessPhones").as_text(), Some("+1 555 0100"));
        assert_eq!(user.get("officeLocation").as_text(), Some("true"));
        assert!(!user.is_disabled());
        let mut notes = user.odd_types().to_vec();
        notes.sort();
        assert_eq!(
            notes,
            [
                "accountEnabled: Graph sent a string where true or false was expected; read as text",
                "businessPhones: Graph sent a string where a list of text was expected; read as a list of one",
                "city: Graph sent a list where text was expected; ignored",
                "department: Graph sent an object where text was expected; ignored",
                "jobTitle: Graph sent a number where text was expected; read as text",
                "mail: Graph sent a list where text was expected; its first item was read",
                "officeLocation: Graph sent a boolean where text was expected; read as text",
                "onPremisesExtensionAttributes.extensionAttribute3: Graph sent a number where text was expected; read as text",
                "otherMails: Graph sent a list where a list of text was expected; its first text item was read",
            ]
        );
        let usual = graph(json!({
            "id": "u2", "displayName": "Rosa", "accountEnabled": false,
            "businessPhones": ["+1"], "otherMails": [], "manager": {"id": "m"},
            "onPremisesExtensionAttributes": {"extensionAttribute1": null},
        }));
        assert_eq!(usual.odd_types(), [] as [String; 0]);
    }

    #[test]
    fn graph_objects_keep_first_phone_and_mail_and_the_manager_id() {
        let user = graph(json!({
            "id": "u1",
            "businessPhones": ["+44 1", "+44 2"],
            "otherMails": [],
            "manager": {"@odata.type": "#microsoft.graph.user", "id": "m1"},
            "accountEnabled": false,
        }));
        assert_eq!(user.get("businessPhones"), AttributeValue::One("+44 1"));
        assert_eq!(user.get("otherMails"), AttributeValue::Absent);
        assert_eq!(user.manager(), Some("m1"));
        assert!(user.is_disabled());
    }

    #[test]
    fn graph_objects_read_licences_sign_in_and_extension_attributes() {
        let user = graph(json!({
            "id": "u1",
            "assignedLicenses": [{"disabledPlans": [], "skuId": "sku-a"}],
            "signInActivity": {"lastSignInDateTime": "2024-05-01T10:00:00Z"},
            "onPremisesExtensionAttributes": {"extensionAttribute3": "CC-100"},
            "extension_0123456789abcdef0123456789abcdef_costCentre": "42",
            "manager@delta": [{"id": "m2"}],
        }));
        assert_eq!(user.assigned_licenses(), ["sku-a".to_owned()]);
        assert_eq!(
            user.get("signInActivity.lastSignInDateTime"),
            AttributeValue::One("2024-05-01T10:00:00Z")
        );
        assert_eq!(
            user.get("onPremisesExtensionAttributes.extensionAttribute3"),
            AttributeValue::One("CC-100")
        );
        assert_eq!(
            user.get("extension_0123456789abcdef0123456789abcdef_costCentre"),
            AttributeValue::One("42")
        );
        assert_eq!(user.manager(), Some("m2"));
    }

    #[test]
    fn graph_values_of_the_wrong_type_are_ignored() {
        let user = graph(json!({"id": "u1", "department": {"x": 1}, "city": null, "mail": 7}));
        assert_eq!(user.get("department"), AttributeValue::Absent);
        assert_eq!(user.get("city"), AttributeValue::Absent);
        assert_eq!(user.get("mail"), AttributeValue::One("7"));
    }

    #[test]
    fn a_graph_object_without_id_is_an_error() {
        let Value::Object(object) = json!({"displayName": "x"}) else {
            unreachable!()
        };
        assert_eq!(
            EntraUser::from_graph(&object),
            Err(GraphUserError::MissingId)
        );
    }

    #[test]
    fn blank_text_counts_as_empty() {
        assert!(AttributeValue::One("  ").is_empty());
        assert_eq!(AttributeValue::One("  ").as_text(), None);
    }
}
