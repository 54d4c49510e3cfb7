//! Page batching: the pages that cursors ask for at the same moment travel together in one
//! `$batch` (Graph's limit: 20 requests per batch).
//!
//! A full read walks one users chain and one chain per group, each strictly page after page. The
//! number of round trips is bound by the longest chain; the number of requests need not be the
//! number of pages. One dispatcher task owns the state:
//!
//! - Cursors that read ahead [register](PageBatcher::register). A registered cursor is *waiting*
//!   (its request is queued or in flight), *preparing* (it has its page and will ask again
//!   shortly) or *parked* (its consumer is behind and it asks again once that catches up).
//! - One batch is in flight at a time, so each round trip carries whatever every cursor has
//!   asked for meanwhile. The next batch goes once every registered cursor has asked, parked ones
//!   included: the chain whose consumer is slowest sets the pace of the read anyway, and a round
//!   without it would be a request more. A request waits [`MAX_WAIT`] at most, so a stalled
//!   cursor delays the others only that long. Consumers that may fall far behind should read
//!   deep ahead (the groups of an initial read do), so that they do not hold the rounds back.
//! - Up to 20 requests go: those of the cursors that have read the most pages first (long chains
//!   decide when the read ends, so they must not wait for a seat), then in arrival order. Requests
//!   of cursors that did not register (plain [`Pages::next_page`](super::Pages::next_page) calls)
//!   go in the next batch and are never waited for.
//! - An item answered with throttling or a transient error is queued again after its delay, up to
//!   the retry policy's bound; other item errors go to their cursor as a top-level request's
//!   would.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::Method;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use url::Url;

use super::batch::{BatchResponse, MAX_BATCH, batch_body};
use super::error::{self, GraphError};
use super::pages::RawPage;
use super::{GraphClient, PREFER_PAGE_SIZE, permissions};

/// How long a queued request waits for the other cursors at most.
const MAX_WAIT: Duration = Duration::from_secs(2);

type Reply = oneshot::Sender<Result<Option<Box<RawValue>>, GraphError>>;

enum Event {
    Register(u64),
    Park(u64),
    Unpark(u64),
    Deregister(u64),
    Request {
        cursor: Option<u64>,
        url: String,
        reply: Reply,
    },
}

/// The handle cursors send their page requests through.
#[derive(Debug)]
pub(crate) struct PageBatcher {
    events: mpsc::UnboundedSender<Event>,
    cursors: AtomicU64,
}

/// A cursor's registration; dropping it deregisters the cursor.
#[derive(Debug)]
pub(crate) struct Ticket {
    id: u64,
    events: mpsc::UnboundedSender<Event>,
}

/// While held, the cursor is parked.
pub(crate) struct Parked<'a>(&'a Ticket);

impl Ticket {
    /// Marks the cursor parked until the guard is dropped.
    pub(crate) fn park(&self) -> Parked<'_> {
        let _ = self.events.send(Event::Park(self.id));
        Parked(self)
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let _ = self.0.events.send(Event::Unpark(self.0.id));
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let _ = self.events.send(Event::Deregister(self.id));
    }
}

impl PageBatcher {
    /// Starts the dispatcher in `client`'s task scope; it sends through `client` (which must not
    /// batch itself) and stops once every handle is gone and its last batch is answered, or when
    /// the scope is cancelled (its batch in flight is then dropped).
    pub(crate) fn start(client: GraphClient) -> PageBatcher {
        let (events, receiver) = mpsc::unbounded_channel();
        let tasks = client.tasks.clone();
        tasks.spawn(dispatch(client, receiver));
        PageBatcher {
            events,
            cursors: AtomicU64::new(0),
        }
    }

    /// Registers a cursor that reads ahead.
    pub(crate) fn register(&self) -> Ticket {
        let id = self.cursors.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send(Event::Register(id));
        Ticket {
            id,
            events: self.events.clone(),
        }
    }

    /// Reads the page at `url` in the next batch that has room for it.
    pub(crate) async fn page(
        &self,
        client: &GraphClient,
        url: &Url,
        ticket: Option<&Ticket>,
    ) -> Result<RawPage, GraphError> {
        let Some(relative) = url.as_str().strip_prefix(client.base.as_str()) else {
            // Not under the Graph base this client batches against: read it on its own.
            return client.raw_page(url).await;
        };
        let (reply, answer) = oneshot::channel();
        let request = Event::Request {
            cursor: ticket.map(|t| t.id),
            url: format!("/{relative}"),
            reply,
        };
        self.events
            .send(request)
            .map_err(|_| GraphError::Transient("the page batcher has stopped".to_owned()))?;
        let body = answer
            .await
            .map_err(|_| GraphError::Transient("the page batcher has stopped".to_owned()))??;
        let body = body.ok_or_else(|| GraphError::InvalidResponse {
            url: url.to_string(),
            message: "the batch answered the page with no body".to_owned(),
        })?;
        RawPage::new(body, url)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CursorState {
    Waiting,
    Preparing,
    Parked,
}

struct Cursor {
    state: CursorState,
    pages: u64,
}

struct Queued {
    seq: u64,
    cursor: Option<u64>,
    url: String,
    reply: Reply,
    queued_at: Instant,
    retries: error::Retries,
    not_before: Instant,
}

struct State {
    cursors: BTreeMap<u64, Cursor>,
    queue: VecDeque<Queued>,
    seq: u64,
}

impl State {
    fn new() -> State {
        State {
            cursors: BTreeMap::new(),
            queue: VecDeque::new(),
            seq: 0,
        }
    }

    /// Whether every registered cursor has asked.
    fn gathered(&self) -> bool {
        self.cursors
            .values()
            .all(|c| c.state == CursorState::Waiting)
    }

    fn apply(&mut self, event: Event, now: Instant) {
        let mut set = |id: u64, state: CursorState| {
            if let Some(cursor) = self.cursors.get_mut(&id) {
                cursor.state = state;
            }
        };
        match event {
            Event::Register(id) => {
                self.cursors.insert(
                    id,
                    Cursor {
                        state: CursorState::Preparing,
                        pages: 0,
                    },
                );
            }
            Event::Park(id) => set(id, CursorState::Parked),
            Event::Unpark(id) => set(id, CursorState::Preparing),
            Event::Deregister(id) => {
                self.cursors.remove(&id);
            }
            Event::Request { cursor, url, reply } => {
                if let Some(id) = cursor {
                    set(id, CursorState::Waiting);
                }
                self.seq += 1;
                self.queue.push_back(Queued {
                    seq: self.seq,
                    cursor,
                    url,
                    reply,
                    queued_at: now,
                    retries: error::Retries::default(),
                    not_before: now,
                });
            }
        }
    }

    /// The next batch, if one should go now.
    fn take(&mut self, now: Instant) -> Option<Vec<Queued>> {
        self.queue.retain(|q| !q.reply.is_closed());
        let eligible: Vec<&Queued> = self.queue.iter().filter(|q| q.not_before <= now).collect();
        let oldest = eligible.iter().map(|q| q.queued_at).min()?;
        if !self.gathered() && now < oldest + MAX_WAIT {
            return None;
        }
        let pages = |q: &Queued| {
            q.cursor
                .and_then(|id| self.cursors.get(&id))
                .map_or(0, |c| c.pages)
        };
        let mut order: Vec<(std::cmp::Reverse<u64>, u64)> = eligible
            .iter()
            .map(|q| (std::cmp::Reverse(pages(q)), q.seq))
            .collect();
        order.sort_unstable();
        order.truncate(MAX_BATCH);
        let chosen: std::collections::BTreeSet<u64> = order.into_iter().map(|(_, s)| s).collect();
        let (batch, rest): (VecDeque<Queued>, VecDeque<Queued>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|q| chosen.contains(&q.seq));
        self.queue = rest;
        Some(batch.into())
    }

    /// When a batch could next go with no new event (`None`: only an event can change that): a
    /// request's longest wait, or a retried request's delay.
    fn deadline(&self, now: Instant) -> Option<Instant> {
        let gathered = self.gathered();
        self.queue
            .iter()
            .map(|q| {
                if gathered {
                    q.not_before
                } else {
                    q.not_before.max(q.queued_at + MAX_WAIT)
                }
            })
            .filter(|t| *t > now)
            .min()
    }

    /// Hands each answered item to its cursor, or queues it again after its delay.
    fn answer(
        &mut self,
        client: &GraphClient,
        batch: Vec<Queued>,
        response: Result<BatchResponse, GraphError>,
        now: Instant,
    ) {
        let mut items: BTreeMap<String, _> = match response {
            Ok(response) => response
                .responses
                .into_iter()
                .map(|item| (item.id.clone(), item))
                .collect(),
            Err(e) => {
                for queued in batch {
                    self.settle(queued.cursor, false);
                    let _ = queued.reply.send(Err(e.clone()));
                }
                return;
            }
        };
        for mut queued in batch {
            let url = client.url(&queued.url);
            let (permission, what) = url
                .as_ref()
                .map(|u| permissions::required(&Method::GET, u))
                .unwrap_or(("", queued.url.clone()));
            let result = match items.remove(&queued.seq.to_string()) {
                Some(item) => item.into_result(permission, &what),
                None => Err(GraphError::InvalidResponse {
                    url: queued.url.clone(),
                    message: "the batch response has no answer for this page".to_owned(),
                }),
            };
            if let Err(e) = &result
                && e.is_throttle()
            {
                client.stats.throttled.fetch_add(1, Ordering::Relaxed);
            }
            if let Err(e) = &result
                && let Some(delay) = queued.retries.delay(e, &client.policy)
            {
                queued.retries.record(e, delay);
                tracing::warn!(url = %queued.url, retry = queued.retries.total(), delay_ms = delay.as_millis() as u64, error = %e, "A page in a batch failed; asking again.");
                queued.not_before = now + delay;
                self.queue.push_back(queued);
                continue;
            }
            self.settle(queued.cursor, result.is_ok());
            let _ = queued.reply.send(result);
        }
    }

    fn settle(&mut self, cursor: Option<u64>, read: bool) {
        if let Some(c) = cursor.and_then(|id| self.cursors.get_mut(&id)) {
            c.state = CursorState::Preparing;
            c.pages += u64::from(read);
        }
    }
}

type InFlight = BoxFuture<'static, (Vec<Queued>, Result<BatchResponse, GraphError>)>;

async fn dispatch(client: GraphClient, mut events: mpsc::UnboundedReceiver<Event>) {
    let Ok(url) = client.url(super::batch::PATH) else {
        return;
    };
    let mut state = State::new();
    let mut in_flight: Option<InFlight> = None;
    let mut open = true;
    loop {
        if in_flight.is_none()
            && let Some(batch) = state.take(Instant::now())
        {
            let client = client.clone();
            let url = url.clone();
            in_flight = Some(
                async move {
                    let ids: Vec<String> = batch.iter().map(|q| q.seq.to_string()).collect();
                    let headers = [PREFER_PAGE_SIZE];
                    let body = batch_body(
                        batch
                            .iter()
                            .zip(&ids)
                            .map(|(q, id)| (id.as_str(), q.url.as_str(), &headers[..])),
                    );
                    let response = client
                        .post_parsed(&url, &body, |bytes| serde_json::from_slice(bytes))
                        .await;
                    (batch, response)
                }
                .boxed(),
            );
        }
        if !open && in_flight.is_none() && state.queue.is_empty() {
            return;
        }
        let deadline = state
            .deadline(Instant::now())
            .filter(|_| in_flight.is_none() && !state.queue.is_empty());
        tokio::select! {
            event = events.recv(), if open => match event {
                Some(event) => {
                    let now = Instant::now();
                    state.apply(event, now);
                    // Take in everything already sent before deciding.
                    while let Ok(event) = events.try_recv() {
                        state.apply(event, now);
                    }
                }
                None => open = false,
            },
            (batch, response) = async { in_flight.as_mut().expect("guarded").await }, if in_flight.is_some() => {
                in_flight = None;
                state.answer(&client, batch, response, Instant::now());
            }
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Answer = oneshot::Receiver<Result<Option<Box<RawValue>>, GraphError>>;

    fn request(state: &mut State, cursor: Option<u64>, now: Instant) -> Answer {
        let (reply, answer) = oneshot::channel();
        let url = format!("/users?cursor={cursor:?}");
        state.apply(Event::Request { cursor, url, reply }, now);
        answer
    }

    fn cursors(batch: &[Queued]) -> Vec<Option<u64>> {
        batch.iter().map(|q| q.cursor).collect()
    }

    #[test]
    fn a_batch_waits_for_every_registered_cursor_parked_ones_too() {
        let now = Instant::now();
        let mut state = State::new();
        for id in 0..3 {
            state.apply(Event::Register(id), now);
        }
        state.apply(Event::Park(2), now);
        let _answers = [
            request(&mut state, Some(0), now),
            request(&mut state, Some(1), now),
        ];
        assert!(state.take(now).is_none(), "cursor 2 has not asked");
        assert_eq!(state.deadline(now), Some(now + MAX_WAIT));
        state.apply(Event::Unpark(2), now);
        assert!(state.take(now).is_none(), "cursor 2 is preparing");
        let _third = request(&mut state, Some(2), now);
        let batch = state.take(now).expect("everyone has asked");
        assert_eq!(cursors(&batch), [Some(0), Some(1), Some(2)]);
        assert!(state.queue.is_empty());
    }

    #[test]
    fn a_cursor_that_does_not_ask_holds_a_batch_back_only_so_long() {
        let now = Instant::now();
        let mut state = State::new();
        state.apply(Event::Register(0), now);
        state.apply(Event::Register(1), now);
        let _answer = request(&mut state, Some(0), now);
        assert!(state.take(now + MAX_WAIT / 2).is_none());
        let batch = state.take(now + MAX_WAIT).expect("waited long enough");
        assert_eq!(cursors(&batch), [Some(0)]);
        // A request of a cursor that did not register goes with the next batch, waited for by
        // no one.
        state.settle(Some(0), true);
        state.apply(Event::Deregister(1), now);
        let _plain = request(&mut state, None, now);
        assert!(state.take(now).is_none(), "cursor 0 is preparing");
        let _next = request(&mut state, Some(0), now);
        let batch = state.take(now).expect("everyone registered has asked");
        assert_eq!(cursors(&batch), [None, Some(0)], "in the order they asked");
    }

    #[test]
    fn a_throttled_page_goes_again_after_its_delay_without_holding_the_others() {
        let now = Instant::now();
        let mut state = State::new();
        state.apply(Event::Register(0), now);
        state.apply(Event::Register(1), now);
        let _answers = [
            request(&mut state, Some(0), now),
            request(&mut state, Some(1), now),
        ];
        let mut batch = state.take(now).expect("both asked");
        let mut throttled = batch.remove(0);
        throttled.retries.throttles = 1;
        throttled.not_before = now + Duration::from_secs(5);
        state.queue.push_back(throttled);
        state.settle(Some(1), true);
        let _again = request(&mut state, Some(1), now);
        let batch = state.take(now).expect("cursor 0 is waiting, on its delay");
        assert_eq!(cursors(&batch), [Some(1)]);
        assert_eq!(state.deadline(now), Some(now + Duration::from_secs(5)));
        let batch = state
            .take(now + Duration::from_secs(5))
            .expect("the delay is over");
        assert_eq!(cursors(&batch), [Some(0)]);
    }

    #[test]
    fn the_longest_chains_go_first_and_a_batch_holds_twenty() {
        let now = Instant::now();
        let mut state = State::new();
        let mut answers = Vec::new();
        for id in 0..24 {
            state.apply(Event::Register(id), now);
            state.cursors.get_mut(&id).expect("registered").pages = id % 5;
        }
        answers.push(request(&mut state, None, now));
        for id in 0..24 {
            answers.push(request(&mut state, Some(id), now));
        }
        let batch = state.take(now).expect("everyone is waiting");
        assert_eq!(batch.len(), MAX_BATCH);
        let mut pages: Vec<u64> = batch
            .iter()
            .map(|q| q.cursor.map_or(0, |id| state.cursors[&id].pages))
            .collect();
        pages.sort_unstable();
        let expected: Vec<u64> = [(0, 1), (1, 5), (2, 5), (3, 5), (4, 4)]
            .into_iter()
            .flat_map(|(pages, n)| std::iter::repeat_n(pages, n))
            .collect();
        assert_eq!(pages, expected);
        // Among those with no pages read, the oldest request (of a cursor that did not register)
        // went; the five registered ones wait for the next batch.
        assert!(batch.iter().any(|q| q.cursor.is_none()));
        let left: Vec<Option<u64>> = state.queue.iter().map(|q| q.cursor).collect();
        assert_eq!(left, [Some(0), Some(5), Some(10), Some(15), Some(20)]);
    }
}
