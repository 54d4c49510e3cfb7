//! Background tasks that end with what spawned them. A sync run spawns its page batcher, its
//! chains' read-ahead, the loads of its next batches and its batch writes into one [`TaskScope`]:
//! every task is tracked, the cancellable ones stop at their next await point once the scope is
//! cancelled, and the run waits for all of them before it returns, so none outlives it.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// The tasks of one owner (a run). A scope made with [`Default`] belongs to nobody: its tasks are
/// never cancelled and nobody waits for them (a Graph client used outside a run).
#[derive(Debug, Clone, Default)]
pub struct TaskScope {
    tracker: TaskTracker,
    token: CancellationToken,
}

impl TaskScope {
    /// A scope cancelled when `parent` is (and by [`close`](Self::close)).
    pub fn child_of(parent: &CancellationToken) -> Self {
        Self {
            tracker: TaskTracker::new(),
            token: parent.child_token(),
        }
    }

    /// Spawns `task`, which is dropped at its next await point once the scope is cancelled (its
    /// handle then yields `None`).
    pub fn spawn<F>(&self, task: F) -> JoinHandle<Option<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let token = self.token.clone();
        // The task logs within its spawner's span (a run's connection and run id).
        self.tracker
            .spawn(async move { token.run_until_cancelled_owned(task).await }.in_current_span())
    }

    /// Spawns `task`, which runs to its end even once the scope is cancelled: a write
    /// transaction, which then commits or rolls back whole instead of stopping halfway. Only
    /// aborting its handle stops it early.
    pub fn spawn_whole<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task.in_current_span())
    }

    /// A guard that cancels the scope when dropped: an owner that is itself dropped midway (its
    /// caller gave up on it) leaves no cancellable task running.
    pub fn cancel_on_drop(&self) -> DropGuard {
        self.token.clone().drop_guard()
    }

    /// Cancels the scope and waits until every task it spawned has ended.
    pub async fn close(&self) {
        self.token.cancel();
        self.tracker.close();
        self.tracker.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closing_a_scope_stops_its_cancellable_tasks_and_waits_for_the_whole_ones() {
        let parent = CancellationToken::new();
        let scope = TaskScope::child_of(&parent);
        let endless = scope.spawn(std::future::pending::<()>());
        let whole = scope.spawn_whole(async {
            // Still running when the scope is cancelled.
            tokio::task::yield_now().await;
            "written"
        });
        scope.close().await;
        assert!(endless.is_finished() && whole.is_finished());
        assert_eq!(endless.await.unwrap(), None, "dropped at its await point");
        assert_eq!(whole.await.unwrap(), "written", "ran to its end");
        assert!(
            !parent.is_cancelled(),
            "closing a scope leaves its parent alone"
        );
    }

    #[tokio::test]
    async fn a_cancelled_parent_stops_the_scopes_cancellable_tasks() {
        let parent = CancellationToken::new();
        let scope = TaskScope::child_of(&parent);
        let endless = scope.spawn(std::future::pending::<()>());
        parent.cancel();
        assert_eq!(endless.await.unwrap(), None);
    }
}
