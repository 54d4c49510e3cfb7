//! What the daemon asks Graph for: the users and groups delta rounds, groups by display name, the
//! tenant's SKUs, and the attributes delta cannot track. Callers get URLs to read or typed
//! results; the paths, query options and wire shapes stay here.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use url::Url;

use super::batch::BatchRequest;
use super::{GraphClient, GraphError, Pages, odata};

/// The `$select` of every groups delta round: each group's name and its member changes.
pub const GROUP_DELTA_SELECT: &str = "displayName,mail,mailEnabled,members";

/// A directory object as Graph returns it.
pub type Object = Map<String, Value>;

/// A subscribed SKU: the fields the daemon keeps. A field Graph leaves out or sends as `null`
/// reads as empty or zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sku {
    /// `skuId`, the SKU's GUID.
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku_id: String,
    /// `skuPartNumber`, e.g. `ENTERPRISEPACK`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub sku_part_number: String,
    /// `consumedUnits`: licences assigned.
    #[serde(default, deserialize_with = "null_as_default")]
    pub consumed_units: i64,
    /// `prepaidUnits`: licences bought.
    #[serde(default, deserialize_with = "null_as_default")]
    pub prepaid_units: PrepaidUnits,
    /// `capabilityStatus`: `Enabled`, `Warning`, `Suspended`, `Deleted` or `LockedOut`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub capability_status: String,
}

/// A SKU's `prepaidUnits`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PrepaidUnits {
    /// `enabled`: licences that can be assigned.
    #[serde(default, deserialize_with = "null_as_default")]
    pub enabled: i64,
    /// `warning`: licences in their grace period after the subscription lapsed.
    #[serde(default, deserialize_with = "null_as_default")]
    pub warning: i64,
    /// `suspended`: licences no longer usable.
    #[serde(default, deserialize_with = "null_as_default")]
    pub suspended: i64,
}

/// The SKU list's envelope.
#[derive(Deserialize)]
struct SkuList {
    #[serde(default)]
    value: Vec<Sku>,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// One person read by id: their object, or why it could not be read.
#[derive(Debug)]
pub struct UserRead {
    /// The person's Entra id.
    pub id: String,
    /// Their object (`id` and the selected attributes), or the error.
    pub result: Result<Object, GraphError>,
}

/// The same round as `initial`, asked for as of now (`$deltatoken=latest`): its pages hold no
/// objects, its last one a link that reports only what changes from then on.
pub fn latest(initial: &Url) -> Url {
    let mut url = initial.clone();
    url.query_pairs_mut().append_pair("$deltatoken", "latest");
    url
}

fn users_delta_path(select: &str) -> String {
    format!("users/delta?$select={}", odata::encode(select))
}

fn groups_delta_path(ids: &[&str]) -> String {
    format!(
        "groups/delta?$filter={}&$select={GROUP_DELTA_SELECT}",
        odata::encode(&odata::ids_eq(ids))
    )
}

fn group_named_path(name: &str) -> String {
    format!(
        "/groups?$filter={}&$select=id,displayName",
        odata::encode(&odata::display_name_eq(name))
    )
}

fn users_path(select: &str) -> String {
    format!("users?$select={}&$top=999", odata::encode(select))
}

fn user_path(id: &str, select: &str) -> String {
    format!("/users/{id}?$select={}", odata::encode(select))
}

impl GraphClient {
    /// The first page of a fresh users delta round selecting `select` (comma-separated).
    pub fn users_delta_url(&self, select: &str) -> Result<Url, GraphError> {
        self.url(&users_delta_path(select))
    }

    /// The users delta link as of now (`$deltatoken=latest`), for a round selecting `select`:
    /// the next round from it reports only changes made from now on. `None` when Graph ends the
    /// round without a link.
    pub async fn latest_users_delta_link(
        &self,
        select: &str,
    ) -> Result<Option<String>, GraphError> {
        let url = self.url(&format!("{}&$deltatoken=latest", users_delta_path(select)))?;
        let mut pages = self.pages(url);
        while pages.next_page().await?.is_some() {}
        Ok(pages.delta_link().map(str::to_owned))
    }

    /// The first page of a fresh groups delta round over the groups `ids` (at most 50),
    /// selecting [`GROUP_DELTA_SELECT`].
    pub fn groups_delta_url(&self, ids: &[&str]) -> Result<Url, GraphError> {
        self.url(&groups_delta_path(ids))
    }

    /// The ids of the groups whose display name is each of `names`, in `names`' order: one
    /// `$filter=displayName eq '…'` per name, batched. Fails when any lookup fails.
    pub async fn group_ids_named(&self, names: &[&str]) -> Result<Vec<Vec<String>>, GraphError> {
        let requests: Vec<BatchRequest> = names
            .iter()
            .enumerate()
            .map(|(i, name)| BatchRequest {
                id: i.to_string(),
                url: group_named_path(name),
            })
            .collect();
        self.batch_get(&requests)
            .await?
            .into_iter()
            .map(|item| {
                let body = item.result?;
                Ok(body
                    .get("value")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|g| g.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect())
            })
            .collect()
    }

    /// The tenant's subscribed SKUs.
    pub async fn subscribed_skus(&self) -> Result<Vec<Sku>, GraphError> {
        let url = self.url("subscribedSkus")?;
        let body = self.get(&url).await?;
        let list: Option<SkuList> =
            serde_json::from_value(body).map_err(|e| GraphError::InvalidResponse {
                url: url.to_string(),
                message: format!("the SKU list is not the documented shape: {e}"),
            })?;
        Ok(list.map(|l| l.value).unwrap_or_default())
    }

    /// Everyone's `select` attributes (comma-separated, `id` among them), page by page: how
    /// attributes delta cannot track are read after an initial round.
    pub fn users_pages(&self, select: &str) -> Result<Pages, GraphError> {
        Ok(self.pages(self.url(&users_path(select))?))
    }

    /// The `select` attributes of the people `ids`, batched: how attributes delta cannot track
    /// are read after a delta round. One result per id, in order; an answer that is no object
    /// is left out.
    pub async fn users_by_id(
        &self,
        ids: &[&str],
        select: &str,
    ) -> Result<Vec<UserRead>, GraphError> {
        let requests: Vec<BatchRequest> = ids
            .iter()
            .map(|id| BatchRequest {
                id: (*id).to_owned(),
                url: user_path(id, select),
            })
            .collect();
        Ok(self
            .batch_get(&requests)
            .await?
            .into_iter()
            .filter_map(|item| {
                let result = match item.result {
                    Ok(Value::Object(object)) => Ok(object),
                    Ok(_) => return None,
                    Err(e) => Err(e),
                };
                Some(UserRead {
                    id: item.id,
                    result,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_paths_encode_their_query_values() {
        assert_eq!(
            users_delta_path("id,displayName"),
            "users/delta?$select=id%2CdisplayName"
        );
        assert_eq!(
            groups_delta_path(&["a", "b"]),
            "groups/delta?$filter=id%20eq%20%27a%27%20or%20id%20eq%20%27b%27\
             &$select=displayName,mail,mailEnabled,members"
        );
        assert_eq!(
            group_named_path("Visitors' Desk"),
            "/groups?$filter=displayName%20eq%20%27Visitors%27%27%20Desk%27&$select=id,displayName"
        );
        assert_eq!(
            user_path("u1", "id,signInActivity"),
            "/users/u1?$select=id%2CsignInActivity"
        );
        assert_eq!(
            users_path("id,signInActivity"),
            "users?$select=id%2CsignInActivity&$top=999"
        );
    }

    #[test]
    fn the_latest_round_adds_the_latest_token() {
        let initial = Url::parse("https://graph.example/v1.0/groups/delta?$select=x").unwrap();
        assert_eq!(
            latest(&initial).as_str(),
            "https://graph.example/v1.0/groups/delta?$select=x&%24deltatoken=latest"
        );
    }

    #[test]
    fn skus_parse_with_missing_and_null_fields_as_empty() {
        let list: SkuList = serde_json::from_str(
            r#"{"value": [
                {"skuId": "s1", "skuPartNumber": "ENTERPRISEPACK", "consumedUnits": 3,
                 "prepaidUnits": {"enabled": 5, "suspended": 1, "warning": 2},
                 "capabilityStatus": "Warning"},
                {"skuId": "s2", "skuPartNumber": null, "prepaidUnits": null}
            ]}"#,
        )
        .unwrap();
        assert_eq!(
            list.value,
            vec![
                Sku {
                    sku_id: "s1".into(),
                    sku_part_number: "ENTERPRISEPACK".into(),
                    consumed_units: 3,
                    prepaid_units: PrepaidUnits {
                        enabled: 5,
                        warning: 2,
                        suspended: 1,
                    },
                    capability_status: "Warning".into(),
                },
                Sku {
                    sku_id: "s2".into(),
                    ..Sku::default()
                },
            ]
        );
    }

    #[test]
    fn a_sku_of_the_wrong_shape_is_refused() {
        let wrong = serde_json::from_str::<SkuList>(r#"{"value": [{"consumedUnits": "three"}]}"#);
        assert!(wrong.is_err());
    }
}
