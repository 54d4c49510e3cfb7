//! Distribution groups as ticket followers (`[followers]` and `[connection.followers]`).
//!
//! A mail-enabled Entra group joins a ticket in one of two ways:
//! - **as its address**: one CC or BCC follower. Exchange expands the group when mail is sent,
//!   so its membership stays live; the follower is an address and grants no ticket access;
//! - **expanded** into individual followers: imported users and agents are linked (and may so
//!   reach the ticket), other people are added by their address, organisational contacts by
//!   their mail. It is capped by `max_members`: a bigger group is refused with its size and
//!   nothing is added. An expansion is a snapshot: later joiners and leavers do not follow.
//!
//! Groups are read from Graph when asked for, so the picker lists every mail-enabled group of the
//! tenant, not only those the mappings track (the mirror keeps those with their address).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Service, ServiceError};
use crate::config::ConnectionSettings;
use crate::graph::mail_groups::{GroupMember, MailGroup, MemberKind};
use crate::store::{CopyKind, Follower, TicketFollower};

/// The most people an expansion reads before giving up counting.
const COUNT_CEILING: usize = 10_000;

/// How a group joins a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FollowMode {
    /// One follower: the group's address.
    Address,
    /// One follower per person the group reaches.
    Expanded,
}

/// Add a group to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowRequest {
    /// The connection whose tenant holds the group.
    pub connection: String,
    /// The ticket.
    pub ticket_id: i64,
    /// The group's Entra object id.
    pub group: String,
    /// Address or expanded.
    pub mode: FollowMode,
    /// CC or BCC.
    pub copy: CopyKind,
}

/// A group the picker offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupChoice {
    /// The group's Entra object id.
    pub id: String,
    /// Its name.
    pub display_name: Option<String>,
    /// Its address.
    pub mail: Option<String>,
    /// The connection's mappings track it (the mirror holds it).
    pub tracked: bool,
}

/// A person an expansion left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Their Entra object id.
    pub id: String,
    /// Their name.
    pub display_name: Option<String>,
    /// Why.
    pub reason: String,
}

/// What adding a group did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowOutcome {
    /// The group.
    pub group: MailGroup,
    /// How it was added.
    pub mode: FollowMode,
    /// The followers added.
    pub added: Vec<TicketFollower>,
    /// The people left out.
    pub skipped: Vec<Skipped>,
    /// What the caller should know about the mode (an expansion is a snapshot).
    pub note: String,
}

impl Service {
    /// The connection `connection` names (or `[followers] default_connection` when it names
    /// none), if it offers groups as followers.
    pub fn followers_connection(
        &self,
        connection: Option<&str>,
    ) -> Result<&ConnectionSettings, ServiceError> {
        let id = match connection {
            Some(id) => id,
            None => self
                .settings
                .followers
                .default_connection
                .as_deref()
                .ok_or_else(|| {
                    ServiceError::Conflict(
                        "no connection named, and [followers] default_connection is not set"
                            .to_owned(),
                    )
                })?,
        };
        let connection = self.connection(id)?;
        if !self.settings.followers.enabled {
            return Err(ServiceError::Conflict(
                "distribution groups as ticket followers are switched off ([followers] enabled = false)"
                    .to_owned(),
            ));
        }
        if !connection.followers.enabled {
            return Err(ServiceError::Conflict(format!(
                "connection {} does not offer groups as ticket followers (set \
                 [connection.followers] enabled = true)",
                connection.id
            )));
        }
        Ok(connection)
    }

    /// The picker: every mail-enabled group of the connection's tenant, by name.
    pub async fn mail_groups(&self, connection: &str) -> Result<Vec<GroupChoice>, ServiceError> {
        let connection = self.followers_connection(Some(connection))?;
        let graph = self.graph_client(connection)?;
        let tracked: Vec<String> = self
            .store
            .mirror_mail_groups(connection.id.as_str())
            .await?
            .into_iter()
            .map(|g| g.entra_id)
            .collect();
        Ok(graph
            .mail_groups()
            .await?
            .into_iter()
            .map(|g| GroupChoice {
                tracked: tracked.contains(&g.id),
                id: g.id,
                display_name: g.display_name,
                mail: g.mail,
            })
            .collect())
    }

    /// Adds a group to a ticket, as its address or expanded.
    pub async fn add_group_followers(
        &self,
        request: &FollowRequest,
    ) -> Result<FollowOutcome, ServiceError> {
        let connection = self.followers_connection(Some(&request.connection))?;
        let existing = {
            self.store.ticket(request.ticket_id).await?;
            self.store.followers(request.ticket_id).await?
        };
        let graph = self.graph_client(connection)?;
        let group = graph.mail_group(&request.group).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "group {:?} in the tenant of connection {}",
                request.group, connection.id
            ))
        })?;
        let name = group
            .display_name
            .clone()
            .unwrap_or_else(|| group.id.clone());
        let (candidates, skipped, note) = match request.mode {
            FollowMode::Address => {
                let mail = match (&group.mail, group.mail_enabled) {
                    (Some(mail), true) => mail.clone(),
                    _ => {
                        return Err(ServiceError::Conflict(format!(
                            "group {name:?} is not mail-enabled, so it has no address to follow \
                             the ticket; add it expanded instead"
                        )));
                    }
                };
                let follower = TicketFollower {
                    follower: Follower::Email(mail),
                    copy: request.copy,
                    from_group: None,
                };
                let note = format!(
                    "{name} follows as its address: Exchange expands it when mail is sent, so its \
                     membership stays live; the address grants no access to the ticket"
                );
                (vec![follower], Vec::new(), note)
            }
            FollowMode::Expanded => {
                let cap = connection.followers.max_members as usize;
                let (members, complete) = graph.group_reach(&group.id, COUNT_CEILING).await?;
                let people: Vec<&GroupMember> = members
                    .iter()
                    .filter(|m| matches!(m.kind, MemberKind::User | MemberKind::Contact))
                    .collect();
                if people.len() > cap {
                    let size = if complete {
                        format!("{} members", people.len())
                    } else {
                        format!("more than {COUNT_CEILING} members")
                    };
                    return Err(ServiceError::Conflict(format!(
                        "group {name:?} has {size}, more than [connection.followers] max_members = \
                         {cap}: nothing was added; add it as its address instead"
                    )));
                }
                let (followers, skipped) = self
                    .expand(connection, &group, &people, request.copy)
                    .await?;
                let note = format!(
                    "{name} was expanded into {} followers: a snapshot, so people who join or \
                     leave the group later do not follow; add the group as its address to keep \
                     its membership live",
                    followers.len()
                );
                (followers, skipped, note)
            }
        };
        let (added, mut skipped) = (candidates, skipped);
        let (added, already): (Vec<_>, Vec<_>) = added.into_iter().partition(|f| {
            !existing
                .iter()
                .any(|e| same_follower(&e.follower, &f.follower))
        });
        skipped.extend(already.into_iter().map(|f| Skipped {
            id: follower_label(&f.follower),
            display_name: None,
            reason: "already follows the ticket".to_owned(),
        }));
        self.store.add_followers(request.ticket_id, &added).await?;
        Ok(FollowOutcome {
            group,
            mode: request.mode,
            added,
            skipped,
            note,
        })
    }

    /// One follower per person: imported agents and users linked, others by address.
    async fn expand(
        &self,
        connection: &ConnectionSettings,
        group: &MailGroup,
        people: &[&GroupMember],
        copy: CopyKind,
    ) -> Result<(Vec<TicketFollower>, Vec<Skipped>), ServiceError> {
        let user_ids: Vec<String> = people
            .iter()
            .filter(|p| p.kind == MemberKind::User)
            .map(|p| p.id.clone())
            .collect();
        let imported: BTreeMap<String, Follower> = self
            .store
            .imported_people(connection.id.as_str(), &user_ids)
            .await?
            .into_iter()
            .filter_map(|p| {
                let follower = p
                    .agent_id
                    .map(Follower::Agent)
                    .or(p.user_id.map(Follower::User))?;
                Some((p.entra_id, follower))
            })
            .collect();
        let mut followers: Vec<TicketFollower> = Vec::new();
        let mut skipped = Vec::new();
        for person in people {
            let follower = match imported.get(&person.id) {
                Some(linked) => Some(linked.clone()),
                None => person
                    .mail
                    .clone()
                    .or_else(|| (person.kind == MemberKind::User).then(|| person.upn.clone())?)
                    .map(Follower::Email),
            };
            let Some(follower) = follower else {
                skipped.push(Skipped {
                    id: person.id.clone(),
                    display_name: person.display_name.clone(),
                    reason: "not imported, and no mail address".to_owned(),
                });
                continue;
            };
            if followers
                .iter()
                .any(|f| same_follower(&f.follower, &follower))
            {
                continue;
            }
            followers.push(TicketFollower {
                follower,
                copy,
                from_group: Some(group.id.clone()),
            });
        }
        Ok((followers, skipped))
    }
}

fn same_follower(a: &Follower, b: &Follower) -> bool {
    match (a, b) {
        (Follower::Email(a), Follower::Email(b)) => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}

fn follower_label(follower: &Follower) -> String {
    match follower {
        Follower::User(id) => format!("user {id}"),
        Follower::Agent(id) => format!("agent {id}"),
        Follower::Email(mail) => mail.clone(),
    }
}
