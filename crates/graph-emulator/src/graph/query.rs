//! OData query options and `Prefer` headers of a Graph request, and the opaque paging tokens
//! the emulator hands out (base64url JSON of what the next page needs).

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::GraphError;
use super::filter::{self, Filter};

/// The query options of a request.
#[derive(Debug, Clone, Default)]
pub struct ODataQuery {
    /// `$select`, split on commas.
    pub select: Option<Vec<String>>,
    /// `$top`.
    pub top: Option<u32>,
    /// `$filter`, parsed.
    pub filter: Option<Filter>,
    /// `$expand`, raw.
    pub expand: Option<String>,
    /// `$skiptoken`.
    pub skip_token: Option<String>,
    /// `$deltatoken`.
    pub delta_token: Option<String>,
    /// `$count=true`.
    pub count: bool,
    /// Options the emulator does not serve (`$orderby`, `$search`, `$skip`).
    pub unsupported: Vec<String>,
    /// Every pair as given, for building next links.
    pub pairs: Vec<(String, String)>,
}

impl ODataQuery {
    /// Parses a raw query string; `$top` outside 1–999 and malformed filters are errors.
    pub fn parse(raw: Option<&str>) -> Result<Self, GraphError> {
        let mut query = Self::default();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let (key, value) = (key.into_owned(), value.into_owned());
            match key.to_ascii_lowercase().as_str() {
                "$select" => {
                    query.select = Some(
                        value
                            .split(',')
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    );
                }
                "$top" => {
                    let top = value.parse::<u32>().ok().filter(|t| (1..=999).contains(t)).ok_or_else(|| {
                        GraphError::unsupported_query(format!(
                            "Invalid page size specified: '{value}'. Must be between 1 and 999 inclusive."
                        ))
                    })?;
                    query.top = Some(top);
                }
                "$filter" => query.filter = Some(filter::parse(&value)?),
                "$expand" => query.expand = Some(value.clone()),
                "$skiptoken" => query.skip_token = Some(value.clone()),
                "$deltatoken" => query.delta_token = Some(value.clone()),
                "$count" => query.count = value.eq_ignore_ascii_case("true"),
                "$orderby" | "$search" | "$skip" => query.unsupported.push(key.clone()),
                _ => {}
            }
            query.pairs.push((key, value));
        }
        Ok(query)
    }

    /// Refuses the options this endpoint does not serve.
    pub fn refuse_unsupported(&self) -> Result<(), GraphError> {
        match self.unsupported.first() {
            Some(option) => Err(GraphError::unsupported_query(format!(
                "The query option '{option}' is not supported by this emulator endpoint."
            ))),
            None => Ok(()),
        }
    }

    /// The query string of the next page: the same options with `$skiptoken` replaced. Keys
    /// keep their literal `$`, as Graph's links do (`…/users?$select=id&$skiptoken=…`).
    pub fn with_skip_token(&self, token: &str) -> String {
        let encode =
            |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        self.pairs
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .map(|(k, v)| format!("{}={}", encode(k).replace("%24", "$"), encode(v)))
            .chain(std::iter::once(format!("$skiptoken={}", encode(token))))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Whether the request carries `ConsistencyLevel: eventual`, which directory objects need for
/// counting (aad-advanced-queries.md).
pub fn eventual(headers: &HeaderMap) -> bool {
    headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("eventual"))
}

impl ODataQuery {
    /// `$count=true` as Graph serves it on directory collections: honoured with
    /// `ConsistencyLevel: eventual`, a 400 without.
    pub fn counted(&self, headers: &HeaderMap) -> Result<bool, GraphError> {
        if !self.count {
            return Ok(false);
        }
        if eventual(headers) {
            Ok(true)
        } else {
            Err(GraphError::directory_bad_request(
                "$count is not currently supported.",
            ))
        }
    }
}

/// `/$count` without `ConsistencyLevel: eventual` (aad-advanced-queries.md).
pub fn raw_count_refused() -> GraphError {
    GraphError::unsupported_query(
        "Raw count (/$count) is not supported because the 'ConsistencyLevel:eventual' header is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
    )
}

/// The `Prefer` preferences Graph honours here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefer {
    /// `odata.maxpagesize=N`.
    pub max_page_size: Option<u32>,
    /// `return=minimal`.
    pub minimal: bool,
}

impl Prefer {
    /// Reads every `Prefer` header (comma- or header-separated).
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let mut prefer = Self::default();
        for value in headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            for item in value.split([',', ';']).map(str::trim) {
                let lower = item.to_ascii_lowercase();
                if let Some(size) = lower.strip_prefix("odata.maxpagesize=") {
                    prefer.max_page_size = size.trim().parse().ok();
                } else if lower == "return=minimal" {
                    prefer.minimal = true;
                }
            }
        }
        prefer
    }
}

/// Encodes paging state as an opaque token.
pub fn encode_token<T: Serialize>(state: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(state).unwrap_or_default())
}

/// Decodes a token made by [`encode_token`].
pub fn decode_token<T: DeserializeOwned>(token: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_must_be_between_one_and_999() {
        assert!(ODataQuery::parse(Some("$top=999")).is_ok());
        for bad in ["$top=0", "$top=1000", "$top=x"] {
            assert_eq!(
                ODataQuery::parse(Some(bad)).expect_err(bad).code,
                "Request_UnsupportedQuery"
            );
        }
    }

    #[test]
    fn next_links_keep_the_options_and_replace_the_skip_token() {
        let query =
            ODataQuery::parse(Some("$select=id,displayName&$top=5&$skiptoken=old")).expect("query");
        assert_eq!(
            query.with_skip_token("new"),
            "$select=id%2CdisplayName&$top=5&$skiptoken=new"
        );
    }

    #[test]
    fn prefer_reads_page_size_and_minimal_from_one_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "prefer",
            "odata.maxpagesize=999, return=minimal"
                .parse()
                .expect("header"),
        );
        assert_eq!(
            Prefer::from_headers(&headers),
            Prefer {
                max_page_size: Some(999),
                minimal: true
            }
        );
    }
}
