//! Which Graph permission each request needs, what a connection's config needs in total
//! (mandatory: User.Read.All and Group.Read.All; optional: AuditLog.Read.All for sign-in
//! activity, Organization.Read.All and LicenseAssignment.ReadWrite.All for licences), and the verdict of `check --online`.

use reqwest::Method;
use url::Url;

use crate::config::ConnectionSettings;

/// The permission a request needs and a short description of it (for `Forbidden`).
pub fn required(method: &Method, url: &Url) -> (&'static str, String) {
    let path = url.path();
    let query = url.query().unwrap_or_default();
    if path.ends_with("/assignLicense") {
        (
            "LicenseAssignment.ReadWrite.All",
            "a licence assignment".to_owned(),
        )
    } else if query.contains("signInActivity") {
        ("AuditLog.Read.All", "sign-in activity".to_owned())
    } else if path.contains("/subscribedSkus") {
        (
            "Organization.Read.All",
            "the tenant's subscribed SKUs".to_owned(),
        )
    } else if path.contains("/groups") {
        ("Group.Read.All", "groups".to_owned())
    } else if path.ends_with("/$batch") {
        ("User.Read.All", "a $batch request".to_owned())
    } else {
        let what = if *method == Method::GET {
            "users"
        } else {
            "a request"
        };
        ("User.Read.All", what.to_owned())
    }
}

/// A permission the config needs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// The permission's name.
    pub permission: &'static str,
    /// Why the config needs it.
    pub why: String,
    /// Other permissions that include it.
    pub satisfied_by: &'static [&'static str],
}

/// Everything `connection` needs to sync, with reasons.
pub fn needed(connection: &ConnectionSettings) -> Vec<Need> {
    let mut needs = vec![
        Need {
            permission: "User.Read.All",
            why: "reading users (mandatory)".to_owned(),
            satisfied_by: &[
                "User.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
        },
        Need {
            permission: "Group.Read.All",
            why: "resolving groups and reading memberships (mandatory)".to_owned(),
            satisfied_by: &[
                "GroupMember.Read.All",
                "Group.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
        },
    ];
    // A delegated connection also needs offline_access; access tokens do not list it in `scp`,
    // so it is checked where it shows: the sign-in yields a refresh token or fails saying so.
    let sign_in: Vec<String> = connection
        .mapping
        .delta_incompatible()
        .into_iter()
        .filter(|u| u.attribute.starts_with("signInActivity"))
        .flat_map(|u| u.used_at)
        .collect();
    if !sign_in.is_empty() {
        needs.push(Need {
            permission: "AuditLog.Read.All",
            why: format!(
                "signInActivity.lastSignInDateTime is used at {}",
                sign_in.join(", ")
            ),
            satisfied_by: &[],
        });
    }
    if connection.licences.import {
        needs.push(Need {
            permission: "Organization.Read.All",
            why: "importing licences (licences.import = true)".to_owned(),
            satisfied_by: &[
                "Organization.ReadWrite.All",
                "Directory.Read.All",
                "Directory.ReadWrite.All",
            ],
        });
    }
    if connection.licences.manage_from_halo {
        needs.push(Need {
            permission: "LicenseAssignment.ReadWrite.All",
            why: "assigning licences (licences.manage_from_halo = true)".to_owned(),
            satisfied_by: &["User.ReadWrite.All", "Directory.ReadWrite.All"],
        });
    }
    needs
}

/// The needs `granted` does not cover.
pub fn missing<'a>(needs: &'a [Need], granted: &[String]) -> Vec<&'a Need> {
    needs
        .iter()
        .filter(|need| {
            !granted
                .iter()
                .any(|g| g == need.permission || need.satisfied_by.contains(&g.as_str()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_the_permission_they_need() {
        let base = Url::parse("https://graph.microsoft.com/v1.0/").unwrap();
        let get = |p: &str| required(&Method::GET, &base.join(p).unwrap()).0;
        assert_eq!(get("users?$select=id,signInActivity"), "AuditLog.Read.All");
        assert_eq!(get("users/delta"), "User.Read.All");
        assert_eq!(get("groups/delta"), "Group.Read.All");
        assert_eq!(get("subscribedSkus"), "Organization.Read.All");
        assert_eq!(
            required(&Method::POST, &base.join("users/x/assignLicense").unwrap()).0,
            "LicenseAssignment.ReadWrite.All"
        );
    }

    #[test]
    fn broader_permissions_satisfy_narrower_ones() {
        let needs = vec![Need {
            permission: "User.Read.All",
            why: String::new(),
            satisfied_by: &["Directory.Read.All"],
        }];
        assert!(missing(&needs, &["Directory.Read.All".to_owned()]).is_empty());
        assert_eq!(missing(&needs, &["Group.Read.All".to_owned()]).len(), 1);
    }
}

/// The outcome of `check --online` for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The connection.
    pub connection: String,
    /// Why it cannot sync at all (sign-in or read failed), if so.
    pub failure: Option<String>,
    /// Permissions granted to the token.
    pub granted: Vec<String>,
    /// Needed permissions not granted: `(permission, why)`.
    pub missing: Vec<(String, String)>,
    /// Attributes the config uses that delta cannot track: `(attribute, where used)`.
    pub untracked: Vec<(String, String)>,
    /// Optional permissions not granted: `(permission, what it would add)`.
    pub optional: Vec<(String, String)>,
}

impl Verdict {
    /// Whether the connection can sync as configured.
    pub fn can_sync(&self) -> bool {
        self.failure.is_none() && self.missing.is_empty()
    }
}

/// Signs in, reads one user and compares the granted permissions with what the config needs.
pub async fn check_online(client: &super::GraphClient, connection: &ConnectionSettings) -> Verdict {
    let untracked = connection
        .mapping
        .delta_incompatible()
        .into_iter()
        .map(|u| (u.attribute.clone(), u.used_at.join(", ")))
        .collect();
    let mut verdict = Verdict {
        connection: connection.id.to_string(),
        failure: None,
        granted: Vec::new(),
        missing: Vec::new(),
        untracked,
        optional: Vec::new(),
    };
    let token = match client.tokens().token().await {
        Ok(token) => token,
        Err(error) => {
            verdict.failure = Some(error.to_string());
            return verdict;
        }
    };
    verdict.granted = token.permissions.clone();
    if !token
        .permissions
        .iter()
        .any(|p| super::applications::READ_APPLICATIONS.contains(&p.as_str()))
    {
        verdict.optional.push((
            "Application.Read.All".to_owned(),
            "the app's own secret and certificate end dates, for the expiry warning (without it, set auth.expires = \"YYYY-MM-DD\")".to_owned(),
        ));
    }
    let needs = needed(connection);
    verdict.missing = missing(&needs, &token.permissions)
        .into_iter()
        .map(|n| (n.permission.to_owned(), n.why.clone()))
        .collect();
    let read = match client.url("users?$top=1&$select=id") {
        Ok(url) => client.page(&url).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(error) = read {
        verdict.failure = Some(format!("reading one user failed: {error}"));
    }
    verdict
}
