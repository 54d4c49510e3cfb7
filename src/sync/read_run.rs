//! A run's read step: the configured groups resolved (a warning for each that does not resolve
//! to one group), the users and groups chains read side by side into the sink ([`super::read`]),
//! the SKUs and their unit counts imported when licences sync, the people mirrored without their
//! NUL characters logged, and the attributes delta cannot track read last.

use std::collections::BTreeSet;

use serde_json::Value;
use tracing::warn;

use super::evaluate::syncs_licences;
use super::message::Message;
use super::read;
use super::sink::Sink;
use super::{Mode, RunFailure, RunReport, RunRequest, Syncer};
use crate::config::ConnectionSettings;
use crate::graph::GraphClient;
use crate::ids::{EntraId, RunId};
use crate::store::InboundRow;
use crate::tasks::TaskScope;
use crate::vocab::{Action, NotificationKind};

impl Syncer {
    /// Reads Entra into `sink` for a run: resolves the configured groups, reads the users and
    /// groups chains side by side (and the SKUs on a full run), logs what it warns of, then reads
    /// the attributes delta cannot track.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn read(
        &self,
        connection: &ConnectionSettings,
        run_id: Option<RunId>,
        full: bool,
        sink: &dyn Sink,
        request: &RunRequest,
        tasks: &TaskScope,
        report: &mut RunReport,
    ) -> Result<(), RunFailure> {
        let mode = request.mode;
        let graph = self.graph.as_ref().ok_or(RunFailure::Other(
            "this run needs a Graph client".to_owned(),
        ))?;
        // A fresh round is numbered by the run that starts it (0 on a dry run, which stores none).
        let round = run_id.map_or(0, |id| id.0);
        let names = connection.mapping.groups();
        let (resolved, warnings) = read::resolve_groups(graph, &names).await?;
        for warning in &warnings {
            warn!(connection = %connection.id, warning = %warning, "A configured group did not resolve.");
        }
        if let (Mode::Apply, false) = (mode, warnings.is_empty()) {
            let rows: Vec<InboundRow> = warnings
                .iter()
                .map(|w| self.warning_row(connection, run_id, None, None, Message::of(w).finish()))
                .collect();
            self.store.log(&rows).await?;
        }
        report.warnings.extend(warnings);
        // SKUs (and their unit counts) are read on full runs, and on a delta run only when
        // somebody's licence assignments changed: nothing else moves the counts.
        let licences = syncs_licences(connection) && mode == Mode::Apply;
        let ids: BTreeSet<String> = resolved.into_values().collect();
        // The chains' pages share `$batch` round trips (src/graph/batcher.rs); the batcher and
        // the chains' read-ahead are tasks of the run.
        let chains = &graph.within(tasks).with_page_batching();
        let (users, groups, skus) = tokio::join!(
            read::read_users(
                chains,
                sink,
                connection,
                round,
                full,
                request.progress.as_ref()
            ),
            read::read_groups(chains, sink, connection, round, full, ids),
            async {
                if licences && full {
                    self.import_licences(graph, connection).await
                } else {
                    Ok(())
                }
            },
        );
        report.users = users?;
        report.groups = groups?;
        skus?;
        if mode == Mode::Apply && !report.users.cleaned.is_empty() {
            let rows: Vec<InboundRow> = report
                .users
                .cleaned
                .iter()
                .map(|c| {
                    self.warning_row(
                        connection,
                        run_id,
                        Some(EntraId::from(c.entra_id.as_str())),
                        c.upn.clone(),
                        Some(cleaned_message(&c.attributes)),
                    )
                })
                .collect();
            self.store.log(&rows).await?;
        }
        report.warnings.extend(report.users.cleaned.iter().map(|c| {
            format!(
                "{}: {}",
                c.upn.as_deref().unwrap_or(&c.entra_id),
                cleaned_message(&c.attributes)
            )
        }));
        if licences && !full && (report.users.initial || report.users.licences_changed) {
            self.import_licences(graph, connection).await?;
        }
        read::read_untracked(graph, sink, connection, report.users.initial).await?;
        report
            .warnings
            .extend(report.users.restarted.iter().cloned());
        report
            .warnings
            .extend(report.groups.restarted.iter().cloned());
        Ok(())
    }

    async fn import_licences(
        &self,
        graph: &GraphClient,
        connection: &ConnectionSettings,
    ) -> Result<(), RunFailure> {
        super::licences::import(graph, self.store.as_ref(), connection, self.clock.now()).await?;
        Ok(())
    }

    /// A warning row of the inbound log, of the run's configuration (no person) or of `entra_id`.
    fn warning_row(
        &self,
        connection: &ConnectionSettings,
        run_id: Option<RunId>,
        entra_id: Option<EntraId>,
        upn: Option<String>,
        message: Option<String>,
    ) -> InboundRow {
        InboundRow {
            id: 0,
            run_id,
            connection_id: connection.id.clone(),
            source: "integrator".to_owned(),
            logged_at: self.clock.now(),
            entra_id,
            upn,
            target: None,
            notification: NotificationKind::Warning,
            matched: Value::Object(serde_json::Map::new()),
            action: Action::Error,
            changes: Value::Array(Vec::new()),
            message,
            agent_id: None,
        }
    }
}

/// What the inbound log and the run's warnings say of attributes mirrored without their NUL
/// characters.
fn cleaned_message(attributes: &[String]) -> String {
    format!(
        "{} held NUL characters, which the database cannot store; stored without them (correct the value in Entra)",
        attributes.join(", ")
    )
}
