//! A store that watches a run's calls: when each started and ended, and a hook told as each one
//! starts and ends. It observes the whole `Store` trait through `ObservedStore`, whose fenced
//! store is observed too, so the writes of a run that holds a lease are seen.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use entra_sync::store::Store;
use entra_sync::store::observed::{ObservedStore, StoreObserver};

/// A store call: which method, when it started, and when it ended (a call dropped midway ends
/// then).
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) method: &'static str,
    pub(crate) started: Instant,
    pub(crate) ended: Option<Instant>,
}

/// Where a call is when the hook is told of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// About to go to the real store.
    Starts,
    /// Back from it (its transaction committed or rolled back).
    Ended,
}

/// A hook told of every call as it starts and as it ends.
type Hook = Box<dyn Fn(&'static str, Phase) + Send + Sync>;

/// What a [`WatchedStore`] (and every store fenced from it) saw.
pub(crate) struct Watch {
    hook: Hook,
    calls: Mutex<Vec<Call>>,
}

impl Watch {
    /// Every call so far, in the order they started.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls started and not ended.
    pub(crate) fn under_way(&self) -> Vec<&'static str> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.ended.is_none())
            .map(|c| c.method)
            .collect()
    }
}

/// Tells the hook of each call and records when it started and ended.
struct Watcher(Arc<Watch>);

impl StoreObserver for Watcher {
    fn started(&self, method: &'static str) -> usize {
        let index = {
            let mut calls = self.0.calls.lock().unwrap();
            calls.push(Call {
                method,
                started: Instant::now(),
                ended: None,
            });
            calls.len() - 1
        };
        (self.0.hook)(method, Phase::Starts);
        index
    }

    fn ended(&self, method: &'static str, call: usize) {
        self.0.calls.lock().unwrap()[call].ended = Some(Instant::now());
        (self.0.hook)(method, Phase::Ended);
    }
}

/// A store whose calls a [`Watch`] sees.
pub(crate) struct WatchedStore;

impl WatchedStore {
    /// `inner`, watched, and what watches it; `hook` is told of each call as it starts and as it
    /// ends.
    pub(crate) fn wrap(
        inner: Arc<dyn Store>,
        hook: impl Fn(&'static str, Phase) + Send + Sync + 'static,
    ) -> (Arc<dyn Store>, Arc<Watch>) {
        let watch = Arc::new(Watch {
            hook: Box::new(hook),
            calls: Mutex::default(),
        });
        let store = Arc::new(ObservedStore::new(inner, Arc::new(Watcher(watch.clone()))));
        (store, watch)
    }
}
