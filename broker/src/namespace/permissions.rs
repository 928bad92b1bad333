//! Namespace permissions as Pulsar stores them in a namespace's policies
//! (`auth_policies`): which actions each role may take on the namespace's
//! topics. Granted and revoked through
//! `/admin/v2/namespaces/{tenant}/{ns}/permissions/{role}`; enforced by
//! `security::authz`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::NamespaceError;

/// An action a role may be granted (Pulsar's `AuthAction`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum AuthAction {
    Produce,
    Consume,
    Functions,
    Sources,
    Sinks,
    Packages,
}

impl AuthAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthAction::Produce => "produce",
            AuthAction::Consume => "consume",
            AuthAction::Functions => "functions",
            AuthAction::Sources => "sources",
            AuthAction::Sinks => "sinks",
            AuthAction::Packages => "packages",
        }
    }
}

impl fmt::Display for AuthAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthAction {
    type Err = NamespaceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "produce" => Ok(AuthAction::Produce),
            "consume" => Ok(AuthAction::Consume),
            "functions" => Ok(AuthAction::Functions),
            "sources" => Ok(AuthAction::Sources),
            "sinks" => Ok(AuthAction::Sinks),
            "packages" => Ok(AuthAction::Packages),
            _ => Err(NamespaceError::InvalidPolicy(format!(
                "{:?} is not an action (produce, consume, functions, sources, sinks, packages)",
                text.chars().take(64).collect::<String>()
            ))),
        }
    }
}

/// Pulsar's `auth_policies` object. Only `namespace_auth` is enforced;
/// the other two are kept so that bodies written for Pulsar round-trip.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AuthPolicies {
    /// Role → actions on every topic of the namespace.
    pub namespace_auth: BTreeMap<String, BTreeSet<AuthAction>>,
    /// Topic → role → actions (stored, not enforced).
    pub destination_auth: BTreeMap<String, BTreeMap<String, BTreeSet<AuthAction>>>,
    /// Subscription → roles (stored, not enforced).
    pub subscription_auth_roles: BTreeMap<String, BTreeSet<String>>,
}

impl AuthPolicies {
    pub fn is_empty(&self) -> bool {
        self.namespace_auth.is_empty()
            && self.destination_auth.is_empty()
            && self.subscription_auth_roles.is_empty()
    }

    /// Whether `role` was granted `action`.
    pub fn allows(&self, role: &str, action: AuthAction) -> bool {
        self.namespace_auth
            .get(role)
            .is_some_and(|actions| actions.contains(&action))
    }

    /// Whether `role` was granted anything.
    pub fn grants_any(&self, role: &str) -> bool {
        self.namespace_auth
            .get(role)
            .is_some_and(|actions| !actions.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pulsar_json_round_trips() {
        let text = r#"{"namespace_auth":{"app":["produce","consume"]},"destination_auth":{},"subscription_auth_roles":{}}"#;
        let policies: AuthPolicies = serde_json::from_str(text).unwrap();
        assert!(policies.allows("app", AuthAction::Produce));
        assert!(!policies.allows("app", AuthAction::Functions));
        assert!(!policies.allows("other", AuthAction::Consume));
        assert_eq!(serde_json::to_string(&policies).unwrap(), text);
    }

    #[test]
    fn actions_parse_and_refuse_unknown() {
        assert_eq!(
            "CONSUME".parse::<AuthAction>().unwrap(),
            AuthAction::Consume
        );
        assert!("delete".parse::<AuthAction>().is_err());
        assert!(
            serde_json::from_str::<AuthPolicies>(r#"{"namespace_auth":{"a":["nuke"]}}"#).is_err()
        );
    }
}
