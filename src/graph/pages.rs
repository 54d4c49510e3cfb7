//! Collection and delta pages, and a cursor that walks them one page at a time (never buffering a
//! whole tenant). The cursor's position is a URL the caller may persist as a checkpoint.

use serde_json::{Map, Value};
use url::Url;

use super::{GraphClient, GraphError};

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
        let invalid = |message: String| GraphError::InvalidResponse {
            url: url.to_string(),
            message,
        };
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
}

impl Pages {
    pub(super) fn new(client: GraphClient, first: Url) -> Self {
        Self {
            client,
            next: Some(first),
            delta_link: None,
        }
    }

    /// The next page, or `None` when the round is complete. On error the cursor stays where it
    /// was, so calling again retries the same page.
    pub async fn next_page(&mut self) -> Result<Option<Page>, GraphError> {
        let Some(url) = self.next.clone() else {
            return Ok(None);
        };
        let page = self.client.page(&url).await?;
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
