//! Licence write-back (`[connection.licences] manage_from_halo = true`): assigning or removing a
//! licence of an imported user from the service desk. Graph's `assignLicense` decides; the local
//! link changes only when it succeeds. Every attempt, refused or not, is one inbound-log row with
//! source `api`, notification `licence` and the caller's agent. A refusal comes back with
//! Graph's own sentence and what to do about it.
//!
//! Only one integration should manage a tenant's licences: two that assign and remove the same
//! SKUs undo each other's changes, and each sees the other's as drift.

use serde_json::json;

use super::{Caller, Service, ServiceError};
use crate::graph::GraphError;
use crate::graph::licence_assignment::Refusal;
use crate::ids::EntraId;
use crate::instance::ensure_enabled;
use crate::store::{ImportedUser, InboundRow, Licence, LicenceChange};
use crate::vocab::{Action, NotificationKind, RecordKind};

/// Assign or remove one licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenceRequest {
    /// The connection.
    pub connection: String,
    /// The user's Entra object id.
    pub user: String,
    /// The licence: its SKU id or part number (`SPE_E3`).
    pub sku: String,
    /// Assign (`true`) or remove (`false`).
    pub assign: bool,
}

/// A licence change Graph made.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenceWritten {
    /// The user record.
    pub user_id: i64,
    /// The licence.
    pub licence: Licence,
    /// Assigned or removed.
    pub assigned: bool,
    /// The user's licences now, by SKU id.
    pub licences: Vec<Licence>,
}

impl Service {
    /// Assigns or removes a licence through Graph, then links or unlinks it locally.
    pub async fn write_licence(
        &self,
        caller: &Caller,
        request: &LicenceRequest,
    ) -> Result<LicenceWritten, ServiceError> {
        let connection = self.connection(&request.connection)?;
        if !connection.licences.manage_from_halo {
            return Err(ServiceError::Conflict(format!(
                "connection {} does not manage licences from the service desk (set \
                 [connection.licences] manage_from_halo = true, and grant \
                 LicenseAssignment.ReadWrite.All)",
                connection.id
            )));
        }
        ensure_enabled(&self.settings, connection, "licence write-back")?;
        let user = self
            .store
            .imported_user(connection.id.as_str(), &request.user)
            .await?
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "user {:?} of connection {} (an imported user's Entra object id)",
                    request.user, connection.id
                ))
            })?;
        let licences = self.store.licences(connection.id.as_str()).await?;
        let licence = licences
            .iter()
            .find(|l| l.sku_id == request.sku || l.part_number.eq_ignore_ascii_case(&request.sku))
            .cloned()
            .ok_or_else(|| {
                ServiceError::NotFound(format!(
                    "licence {:?} of connection {} (import licences first)",
                    request.sku, connection.id
                ))
            })?;
        let mut before: Vec<String> = self
            .store
            .user_licences(user.id)
            .await?
            .into_iter()
            .map(|l| l.part_number)
            .collect();
        before.sort();
        let sku = licence.sku_id.as_str();
        let (add, remove): (&[&str], &[&str]) = if request.assign {
            (&[sku], &[])
        } else {
            (&[], &[sku])
        };
        let graph = self.graph_client(connection)?;
        let outcome = graph.assign_licences(&user.entra_id, add, remove).await;
        let row = |action: Action, after: &[String], message: String| InboundRow {
            id: 0,
            run_id: None,
            connection_id: connection.id.clone(),
            source: "api".to_owned(),
            logged_at: self.clock.now(),
            entra_id: Some(EntraId(user.entra_id.clone())),
            upn: user.upn.clone(),
            target: Some(RecordKind::User),
            notification: NotificationKind::Licence,
            matched: json!({}),
            action,
            changes: json!([{
                "record": RecordKind::User,
                "field": "licences",
                "before": before,
                "after": after,
            }]),
            message: Some(message),
            agent_id: caller.agent(),
        };
        let verb = if request.assign {
            "assigned"
        } else {
            "removed"
        };
        let message = match outcome {
            Ok(()) => format!("{} {verb} by {}", licence.part_number, caller.name()),
            // A removal Graph says is already done (a retried request, or a change in Entra
            // since the last sync) leaves the state asked for: the link follows.
            Err(ref e) if !request.assign && Refusal::of(e) == Some(Refusal::NotAssigned) => {
                format!(
                    "{} {verb} by {} (Entra had already removed it)",
                    licence.part_number,
                    caller.name()
                )
            }
            Err(error) => {
                let refused = refusal(&error, &licence, &user, request.assign);
                let log = row(Action::Error, &before, refused.to_string());
                self.store.log(std::slice::from_ref(&log)).await?;
                return Err(refused);
            }
        };
        let after: Vec<String> = if request.assign {
            let mut after = before.clone();
            if !after.contains(&licence.part_number) {
                after.push(licence.part_number.clone());
                after.sort();
            }
            after
        } else {
            before
                .iter()
                .filter(|p| **p != licence.part_number)
                .cloned()
                .collect()
        };
        let log = row(Action::Updated, &after, message);
        self.store
            .record_licence_change(&LicenceChange {
                user_id: user.id,
                connection_id: connection.id.as_str(),
                sku_id: sku,
                assigned: request.assign,
                log: &log,
            })
            .await?;
        Ok(LicenceWritten {
            user_id: user.id,
            licence,
            assigned: request.assign,
            licences: self.store.user_licences(user.id).await?,
        })
    }
}

/// Graph's refusal, verbatim, with what to do about it; any other failure as it is.
fn refusal(
    error: &GraphError,
    licence: &Licence,
    user: &ImportedUser,
    assign: bool,
) -> ServiceError {
    let who = user.upn.as_deref().unwrap_or(&user.entra_id);
    let advice = match Refusal::of(error) {
        Some(Refusal::UsageLocation) => format!(
            "set the usage location (usageLocation, a two-letter country code) of {who} in \
             Entra first: licences are sold per country"
        ),
        Some(Refusal::NoUnits) => format!(
            "{} ({}) has no unit left: {} enabled, {} consumed; buy more or free one, then \
             import licences again",
            licence.display_name,
            licence.part_number,
            licence.enabled_units,
            licence.consumed_units
        ),
        Some(Refusal::UnknownSku) => format!(
            "the tenant no longer subscribes to {} ({}); import licences to refresh the list",
            licence.part_number, licence.sku_id
        ),
        Some(Refusal::NotAssigned) => format!("{who} does not hold {}", licence.part_number),
        Some(Refusal::Permission) => "grant the app registration the application permission \
             LicenseAssignment.ReadWrite.All, with admin consent"
            .to_owned(),
        None => return ServiceError::Graph(error.clone()),
    };
    let graph = match error {
        GraphError::Api { message, .. } => message.clone(),
        other => other.to_string(),
    };
    ServiceError::Refused {
        what: format!(
            "Microsoft Graph refused to {} {} {} {who}",
            if assign { "assign" } else { "remove" },
            licence.part_number,
            if assign { "to" } else { "from" },
        ),
        graph,
        advice,
    }
}
