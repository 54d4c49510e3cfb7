//! Licence write-back: `POST /users/{id}/assignLicense` (user-assignlicense.md), and what
//! Graph's refusals mean. Graph answers a refused assignment with 400 `Request_BadRequest` and a
//! sentence; the sentences below are the ones Entra sends for each rule an assignment breaks.

use serde_json::json;

use super::{GraphClient, GraphError};

/// Why Graph refused an assignment, read from its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The user has no `usageLocation` (licences are sold per country).
    UsageLocation,
    /// The SKU has no unit left to assign.
    NoUnits,
    /// The tenant has no subscription with that SKU id.
    UnknownSku,
    /// A removal of a licence the user does not hold.
    NotAssigned,
    /// The app lacks the permission to assign licences.
    Permission,
}

impl Refusal {
    /// The refusal `error` says, if it is one of Graph's assignment rules.
    pub fn of(error: &GraphError) -> Option<Refusal> {
        match error {
            GraphError::Forbidden { .. } => Some(Refusal::Permission),
            GraphError::Api {
                status: 400,
                message,
                ..
            } => {
                let message = message.to_ascii_lowercase();
                if message.contains("usage location") {
                    Some(Refusal::UsageLocation)
                } else if message.contains("does not have any available licenses") {
                    Some(Refusal::NoUnits)
                } else if message.contains("does not correspond to a valid company license") {
                    Some(Refusal::UnknownSku)
                } else if message.contains("does not have a corresponding license") {
                    Some(Refusal::NotAssigned)
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

impl GraphClient {
    /// Assigns the SKUs `add` to the user `user` (an object id) and removes the SKUs `remove`,
    /// with no service plan disabled.
    pub async fn assign_licences(
        &self,
        user: &str,
        add: &[&str],
        remove: &[&str],
    ) -> Result<(), GraphError> {
        let url = self.url(&format!("users/{user}/assignLicense"))?;
        let body = json!({
            "addLicenses": add
                .iter()
                .map(|sku| json!({"skuId": sku, "disabledPlans": []}))
                .collect::<Vec<_>>(),
            "removeLicenses": remove,
        });
        self.post(&url, &body).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad_request(message: &str) -> GraphError {
        GraphError::Api {
            status: 400,
            code: "Request_BadRequest".to_owned(),
            message: message.to_owned(),
        }
    }

    #[test]
    fn graphs_refusal_sentences_are_recognised() {
        let cases = [
            (
                "License assignment cannot be done for user with invalid usage location.",
                Some(Refusal::UsageLocation),
            ),
            (
                "Subscription with SKU c7df2760-2c81-4ef7-b578-5b5392b571df does not have any available licenses.",
                Some(Refusal::NoUnits),
            ),
            (
                "License 00000000-0000-0000-0000-000000000001 does not correspond to a valid company License.",
                Some(Refusal::UnknownSku),
            ),
            (
                "User does not have a corresponding license 00000000-0000-0000-0000-000000000001 to remove.",
                Some(Refusal::NotAssigned),
            ),
            ("Invalid object identifier 'x'.", None),
        ];
        for (message, refusal) in cases {
            assert_eq!(Refusal::of(&bad_request(message)), refusal, "{message}");
        }
        let forbidden = GraphError::Forbidden {
            permission: "LicenseAssignment.ReadWrite.All".to_owned(),
            what: "a licence assignment".to_owned(),
        };
        assert_eq!(Refusal::of(&forbidden), Some(Refusal::Permission));
        assert_eq!(Refusal::of(&GraphError::Transient("x".to_owned())), None);
    }
}
