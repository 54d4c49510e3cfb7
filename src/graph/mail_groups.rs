//! Groups as ticket followers: the tenant's mail-enabled groups (`GET /groups?$filter=mailEnabled
//! eq true`, group-list.md), one group (`GET /groups/{id}`, group-get.md), and the people a
//! group reaches through nested membership (`GET /groups/{id}/transitiveMembers`,
//! group-list-transitivemembers.md), each with the address a follower needs.

use serde_json::{Map, Value};

use super::{GraphClient, GraphError, odata};

const GROUP_SELECT: &str = "id,displayName,mail,mailEnabled";
const MEMBER_SELECT: &str = "id,displayName,mail,userPrincipalName";

/// A group and its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailGroup {
    /// Object id.
    pub id: String,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `mail`: the SMTP address, if it has one.
    pub mail: Option<String>,
    /// `mailEnabled`.
    pub mail_enabled: bool,
}

impl MailGroup {
    fn from_object(object: &Map<String, Value>) -> Option<MailGroup> {
        let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        Some(MailGroup {
            id: text("id")?,
            display_name: text("displayName"),
            mail: text("mail"),
            mail_enabled: object
                .get("mailEnabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }
}

/// What kind of directory object a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// A user (`#microsoft.graph.user`).
    User,
    /// An organisational contact (`#microsoft.graph.orgContact`): an address outside the tenant.
    Contact,
    /// A nested group: its own members are listed beside it.
    Group,
    /// Anything else (devices, service principals).
    Other,
}

/// One object a group reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMember {
    /// Object id.
    pub id: String,
    /// Its kind.
    pub kind: MemberKind,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `mail`.
    pub mail: Option<String>,
    /// `userPrincipalName` (users only).
    pub upn: Option<String>,
}

impl GroupMember {
    fn from_object(object: &Map<String, Value>) -> Option<GroupMember> {
        let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let kind = match object.get("@odata.type").and_then(Value::as_str) {
            Some("#microsoft.graph.user") => MemberKind::User,
            Some("#microsoft.graph.orgContact") => MemberKind::Contact,
            Some("#microsoft.graph.group") => MemberKind::Group,
            _ => MemberKind::Other,
        };
        Some(GroupMember {
            id: text("id")?,
            kind,
            display_name: text("displayName"),
            mail: text("mail"),
            upn: text("userPrincipalName"),
        })
    }
}

impl GraphClient {
    /// Every mail-enabled group of the tenant (distribution lists, mail-enabled security groups
    /// and Microsoft 365 groups), sorted by name.
    pub async fn mail_groups(&self) -> Result<Vec<MailGroup>, GraphError> {
        let url = self.url(&format!(
            "groups?$filter={}&$select={GROUP_SELECT}&$top=999",
            odata::encode("mailEnabled eq true")
        ))?;
        let mut pages = self.pages(url);
        let mut groups = Vec::new();
        while let Some(page) = pages.next_page().await? {
            groups.extend(page.value.iter().filter_map(MailGroup::from_object));
        }
        groups.sort_by(|a, b| a.display_name.cmp(&b.display_name).then(a.id.cmp(&b.id)));
        Ok(groups)
    }

    /// One group; `None` when the tenant has no group `id` (an id that is no GUID included:
    /// it never reaches the URL).
    pub async fn mail_group(&self, id: &str) -> Result<Option<MailGroup>, GraphError> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Ok(None);
        }
        let url = self.url(&format!("groups/{id}?$select={GROUP_SELECT}"))?;
        match self.get(&url).await {
            Ok(Value::Object(object)) => Ok(MailGroup::from_object(&object)),
            Ok(_) => Err(GraphError::InvalidResponse {
                url: url.to_string(),
                message: "the group is not a JSON object".to_owned(),
            }),
            Err(GraphError::Api { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Everything the group `id` reaches through nested membership, each object once, until
    /// more than `ceiling` users and contacts are read; `true` in second place when the whole
    /// group was read.
    pub async fn group_reach(
        &self,
        id: &str,
        ceiling: usize,
    ) -> Result<(Vec<GroupMember>, bool), GraphError> {
        let id = uuid::Uuid::parse_str(id).map_err(|_| GraphError::InvalidResponse {
            url: id.to_owned(),
            message: "a group id is a GUID".to_owned(),
        })?;
        let url = self.url(&format!(
            "groups/{id}/transitiveMembers?$select={MEMBER_SELECT}&$top=999"
        ))?;
        let mut pages = self.pages(url);
        let mut members = Vec::new();
        let mut people = 0;
        while let Some(page) = pages.next_page().await? {
            for member in page.value.iter().filter_map(GroupMember::from_object) {
                if matches!(member.kind, MemberKind::User | MemberKind::Contact) {
                    people += 1;
                }
                members.push(member);
            }
            if people > ceiling {
                return Ok((members, false));
            }
        }
        Ok((members, true))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn members_are_read_with_their_kind_and_address() {
        let object = json!({
            "@odata.type": "#microsoft.graph.orgContact",
            "id": "c1",
            "displayName": "Fabrikam Support",
            "mail": "support@fabrikam.example",
        });
        let member = GroupMember::from_object(object.as_object().unwrap()).unwrap();
        assert_eq!(member.kind, MemberKind::Contact);
        assert_eq!(member.mail.as_deref(), Some("support@fabrikam.example"));
        assert_eq!(member.upn, None);
        let nameless = json!({"@odata.type": "#microsoft.graph.device"});
        assert_eq!(
            GroupMember::from_object(nameless.as_object().unwrap()),
            None
        );
    }

    #[test]
    fn a_group_without_mail_enabled_is_not_mail_enabled() {
        let object = json!({"id": "g1", "displayName": "Sec", "mail": null});
        let group = MailGroup::from_object(object.as_object().unwrap()).unwrap();
        assert!(!group.mail_enabled);
        assert_eq!(group.mail, None);
    }
}
