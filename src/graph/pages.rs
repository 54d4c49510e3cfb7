//! Collection and delta pages, and a cursor that walks them one page at a time (never buffering a
//! whole tenant). The cursor's position is a URL the caller may persist as a checkpoint. A cursor
//! can also [read ahead](Pages::read_ahead) of its consumer, a bounded number of pages.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use url::Url;

use super::batcher::Ticket;
use super::{GraphClient, GraphError};

/// A page as Graph sent it: its links read, its objects still JSON text. Finding the next link is
/// a quick scan, so a cursor can ask for its next page before this one is parsed.
#[derive(Debug)]
pub(crate) struct RawPage {
    body: Box<RawValue>,
    next_link: Option<String>,
    delta_link: Option<String>,
}

impl RawPage {
    /// Reads the links of a page body.
    pub(crate) fn new(body: Box<RawValue>, url: &Url) -> Result<RawPage, GraphError> {
        // Other members (the objects) are skipped over, not built.
        #[derive(Deserialize)]
        struct Links {
            #[serde(rename = "@odata.nextLink")]
            next_link: Option<Value>,
            #[serde(rename = "@odata.deltaLink")]
            delta_link: Option<Value>,
        }
        let links = serde_json::from_str::<Links>(body.get())
            .map_err(|_| invalid(url, "the page is not a JSON object".to_owned()))?;
        let link = |value: Option<Value>, key: &str| match value {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(invalid(
                url,
                format!("`{key}` is {}, not a string", kind(&other)),
            )),
        };
        Ok(RawPage {
            next_link: link(links.next_link, "@odata.nextLink")?,
            delta_link: link(links.delta_link, "@odata.deltaLink")?,
            body,
        })
    }

    fn parse(body: &RawValue, url: &Url) -> Result<Page, GraphError> {
        let value = serde_json::from_str(body.get())
            .map_err(|e| invalid(url, format!("the page is not JSON: {e}")))?;
        Page::from_json(value, url)
    }

    /// `@odata.nextLink`, as the quick scan read it.
    pub(crate) fn next_link(&self) -> Option<&str> {
        self.next_link.as_deref()
    }

    /// `@odata.deltaLink`, as the quick scan read it.
    pub(crate) fn delta_link(&self) -> Option<&str> {
        self.delta_link.as_deref()
    }

    /// The page's objects.
    pub(crate) fn page(self, url: &Url) -> Result<Page, GraphError> {
        RawPage::parse(&self.body, url)
    }
}

/// Whether `url` reads a delta round (`users/delta`, `groups/delta()`, their next links).
fn is_delta_round(url: &Url) -> bool {
    let path = url.path().trim_end_matches('/');
    path.ends_with("/delta") || path.ends_with("/delta()")
}

fn invalid(url: &Url, message: String) -> GraphError {
    GraphError::InvalidResponse {
        url: url.to_string(),
        message,
    }
}

/// One page: its objects (kept as JSON maps at the edge) and where the round goes next.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The objects on the page.
    pub value: Vec<Map<String, Value>>,
    /// `@odata.nextLink`: more pages follow.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`: the round is complete; keep this for the next round.
    pub delta_link: Option<String>,
}

impl Page {
    /// Parses a page body, saying what is wrong with a malformed one.
    pub fn from_json(body: Value, url: &Url) -> Result<Page, GraphError> {
        let invalid = |message: String| invalid(url, message);
        let Value::Object(mut object) = body else {
            return Err(invalid("the page is not a JSON object".to_owned()));
        };
        let value = match object.remove("value") {
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(map) => Ok(map),
                    other => Err(invalid(format!(
                        "value[{i}] is {}, not an object",
                        kind(&other)
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => {
                return Err(invalid(format!(
                    "`value` is {}, not an array",
                    kind(&other)
                )));
            }
            None => return Err(invalid("the page has no `value` array".to_owned())),
        };
        let link = |object: &mut Map<String, Value>, key: &str| match object.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(invalid(format!(
                "`{key}` is {}, not a string",
                kind(&other)
            ))),
        };
        let next_link = link(&mut object, "@odata.nextLink")?;
        let delta_link = link(&mut object, "@odata.deltaLink")?;
        Ok(Page {
            value,
            next_link,
            delta_link,
        })
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Walks a collection or a delta round page by page.
#[derive(Debug)]
pub struct Pages {
    client: GraphClient,
    next: Option<Url>,
    delta_link: Option<String>,
    /// Registration with the client's page batcher, while reading ahead.
    ticket: Option<Ticket>,
}

impl Pages {
    pub(super) fn new(client: GraphClient, first: Url) -> Self {
        Self {
            client,
            next: Some(first),
            delta_link: None,
            ticket: None,
        }
    }

    /// The next page, or `None` when the round is complete. On error the cursor stays where it
    /// was, so calling again retries the same page.
    pub async fn next_page(&mut self) -> Result<Option<Page>, GraphError> {
        let Some(url) = self.next.clone() else {
            return Ok(None);
        };
        let raw = self.next_raw().await?;
        raw.map(|raw| raw.page(&url)).transpose()
    }

    async fn next_raw(&mut self) -> Result<Option<RawPage>, GraphError> {
        let Some(url) = self.next.clone() else {
            return Ok(None);
        };
        let page = match &self.client.batcher {
            Some(batcher) => {
                batcher
                    .page(&self.client, &url, self.ticket.as_ref())
                    .await?
            }
            None => self.client.raw_page(&url).await?,
        };
        // Every page of a delta round but the last carries `@odata.nextLink`, and the last one
        // `@odata.deltaLink`. A page with neither lost its link: taking it for the round's end
        // would call everyone not read yet missing. The cursor stays on this page.
        if is_delta_round(&url) && page.next_link.is_none() && page.delta_link.is_none() {
            return Err(invalid(
                &url,
                "a delta page carries neither @odata.nextLink nor @odata.deltaLink: the round \
                 is not complete, so it is not taken as one"
                    .to_owned(),
            ));
        }
        self.next = match &page.next_link {
            Some(link) => Some(self.client.link(link)?),
            None => None,
        };
        if page.next_link.is_none() {
            self.delta_link.clone_from(&page.delta_link);
        }
        Ok(Some(page))
    }

    /// The URL the next call will read (a resumable checkpoint), or `None` when done.
    pub fn position(&self) -> Option<&Url> {
        self.next.as_ref()
    }

    /// The round's `@odata.deltaLink`, once the last page has been read.
    pub fn delta_link(&self) -> Option<&str> {
        self.delta_link.as_deref()
    }

    /// Reads the round in the background (a task in the client's
    /// [scope](GraphClient::within)), up to `depth` pages ahead of the consumer. Pages come back
    /// as JSON text and are parsed by [`ReadAhead::next`], on the consumer's side.
    pub fn read_ahead(mut self, depth: usize) -> ReadAhead {
        let (pages, receiver) = mpsc::channel(depth.max(1));
        if let Some(batcher) = &self.client.batcher {
            self.ticket = Some(batcher.register());
        }
        let tasks = self.client.tasks.clone();
        let task = tasks.spawn(async move {
            while self.next.is_some() {
                // A full buffer means the consumer is behind: the batcher should not wait for
                // this cursor meanwhile.
                let slot = match pages.try_reserve() {
                    Ok(slot) => slot,
                    Err(mpsc::error::TrySendError::Closed(())) => return,
                    Err(mpsc::error::TrySendError::Full(())) => {
                        let parked = self.ticket.as_ref().map(Ticket::park);
                        let Ok(slot) = pages.reserve().await else {
                            return;
                        };
                        drop(parked);
                        slot
                    }
                };
                let url = self.next.clone().expect("checked by the loop");
                match self.next_raw().await {
                    Ok(Some(page)) => slot.send(Ok((url, page, self.next.clone()))),
                    Ok(None) => return,
                    Err(e) => {
                        slot.send(Err(e));
                        return;
                    }
                }
            }
        });
        ReadAhead {
            receiver,
            task: task.abort_handle(),
            done: false,
        }
    }
}

/// A page read ahead: where it was read from, the page, and where the round goes next.
type Ahead = Result<(Url, RawPage, Option<Url>), GraphError>;

/// A round read in the background (see [`Pages::read_ahead`]). Dropping it stops the reading.
#[derive(Debug)]
pub struct ReadAhead {
    receiver: mpsc::Receiver<Ahead>,
    task: AbortHandle,
    done: bool,
}

impl ReadAhead {
    /// The next page and the position after it (`None` on the round's last page), or `None` once
    /// the round is complete. After an error the round is over; start a new cursor to retry.
    pub async fn next(&mut self) -> Result<Option<(Page, Option<Url>)>, GraphError> {
        if self.done {
            return Ok(None);
        }
        match self.receiver.recv().await {
            Some(Ok((url, raw, position))) => {
                self.done = position.is_none();
                Ok(Some((raw.page(&url)?, position)))
            }
            Some(Err(e)) => {
                self.done = true;
                Err(e)
            }
            // The reader stopped before the round's last page (its scope was cancelled, or it
            // panicked): never mistake that for the end of the round.
            None => {
                self.done = true;
                Err(GraphError::Transient(
                    "the page reader stopped before the round was complete".to_owned(),
                ))
            }
        }
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://graph.microsoft.com/v1.0/users").unwrap()
    }

    #[test]
    fn a_page_carries_its_links() {
        let page = Page::from_json(
            serde_json::json!({"@odata.context": "x", "value": [{"id": "1"}], "@odata.nextLink": "https://graph.microsoft.com/v1.0/users?$skiptoken=a"}),
            &url(),
        )
        .unwrap();
        assert_eq!(page.value.len(), 1);
        assert_eq!(
            page.next_link.as_deref(),
            Some("https://graph.microsoft.com/v1.0/users?$skiptoken=a")
        );
        assert_eq!(page.delta_link, None);
    }

    #[test]
    fn a_raw_page_reads_its_links_first_and_its_objects_when_asked() {
        let raw = |text: &str| RawValue::from_string(text.to_owned()).unwrap();
        let page = RawPage::new(
            raw(r#"{"value": [{"id": "1"}, {"id": "2"}], "@odata.deltaLink": "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=b"}"#),
            &url(),
        )
        .unwrap();
        assert_eq!(page.next_link, None);
        assert_eq!(
            page.delta_link.as_deref(),
            Some("https://graph.microsoft.com/v1.0/users/delta?$deltatoken=b")
        );
        let page = page.page(&url()).unwrap();
        assert_eq!(page.value.len(), 2);
        assert_eq!(page.value[1]["id"], "2");
        let e = RawPage::new(raw(r#"{"value": [], "@odata.nextLink": 7}"#), &url())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`@odata.nextLink` is a number"), "{e}");
        let e = RawPage::new(raw(r#""a page""#), &url())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not a JSON object") && e.contains("/v1.0/users"),
            "{e}"
        );
        let e = RawPage::new(raw(r#"{"values": []}"#), &url())
            .expect("the links are fine")
            .page(&url())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `value` array"), "{e}");
    }

    #[test]
    fn malformed_pages_say_what_is_wrong() {
        let e = Page::from_json(serde_json::json!({"values": []}), &url())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no `value` array") && e.contains("/v1.0/users"),
            "{e}"
        );
        let e = Page::from_json(serde_json::json!({"value": [1]}), &url())
            .unwrap_err()
            .to_string();
        assert!(e.contains("value[0] is a number"), "{e}");
        let e = Page::from_json(
            serde_json::json!({"value": [], "@odata.deltaLink": 5}),
            &url(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("`@odata.deltaLink` is a number"), "{e}");
    }
}
