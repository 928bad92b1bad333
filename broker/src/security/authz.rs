//! Authorization: what a role may do.
//!
//! - Superuser roles (configuration) may do everything.
//! - A tenant's admin roles (`adminRoles` of the tenant) may administer the
//!   tenant's namespaces and topics, and produce and consume on them.
//! - Other roles need a namespace permission (`auth_policies.namespace_auth`):
//!   `produce` for PRODUCER, `consume` for SUBSCRIBE, and any of `produce`,
//!   `consume` or `functions` for LOOKUP and topic metadata.
//!
//! With authorization off every check passes, as in Pulsar. Permissions are
//! read from the metadata store at each check; checks happen when a client
//! creates a producer or consumer or looks a topic up, never per message.

use std::collections::HashSet;

use crate::namespace::{AuthAction, NamespaceError, NamespaceName, PolicyStore};

use super::SecurityError;

/// Authorization settings (Pulsar's `authorizationEnabled` and
/// `superUserRoles`).
#[derive(Debug, Clone, Default)]
pub struct AuthorizationConfig {
    pub enabled: bool,
    pub superuser_roles: Vec<String>,
}

/// The checks, over the namespace policies in the metadata store.
#[derive(Clone)]
pub struct Authorizer {
    enabled: bool,
    superusers: HashSet<String>,
    policies: PolicyStore,
}

/// What a client asks to do on a namespace's topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicOperation {
    Produce,
    Consume,
    /// LOOKUP, PARTITIONED_METADATA, topic lists, schemas, stats.
    Lookup,
}

impl TopicOperation {
    fn describe(self) -> &'static str {
        match self {
            TopicOperation::Produce => "produce",
            TopicOperation::Consume => "consume",
            TopicOperation::Lookup => "look up topics",
        }
    }
}

impl Authorizer {
    pub fn new(config: &AuthorizationConfig, policies: PolicyStore) -> Self {
        Authorizer {
            enabled: config.enabled,
            superusers: config.superuser_roles.iter().cloned().collect(),
            policies,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn is_superuser(&self, role: &str) -> bool {
        !self.enabled || self.superusers.contains(role)
    }

    /// Superusers only (clusters, tenants, brokers, bookies).
    pub fn check_superuser(&self, role: &str, resource: &str) -> Result<(), SecurityError> {
        if self.is_superuser(role) {
            Ok(())
        } else {
            Err(refusal(role, "administer", resource))
        }
    }

    /// Whether `role` is a superuser or one of `tenant`'s admin roles. A
    /// tenant that does not exist has no admins.
    pub async fn is_tenant_admin(&self, role: &str, tenant: &str) -> Result<bool, SecurityError> {
        if self.is_superuser(role) {
            return Ok(true);
        }
        match self.policies.tenant(tenant).await {
            Ok(info) => Ok(info.admin_roles.iter().any(|admin| admin == role)),
            Err(NamespaceError::TenantNotFound(_) | NamespaceError::InvalidName(_)) => Ok(false),
            Err(error) => Err(SecurityError::Metadata(error.to_string())),
        }
    }

    /// Superusers and the tenant's admins.
    pub async fn check_tenant_admin(&self, role: &str, tenant: &str) -> Result<(), SecurityError> {
        if self.is_tenant_admin(role, tenant).await? {
            Ok(())
        } else {
            Err(refusal(role, "administer", &format!("tenant {tenant}")))
        }
    }

    /// Superusers, the tenant's admins, and roles granted the operation on
    /// the namespace.
    pub async fn check_topic_operation(
        &self,
        role: &str,
        namespace: &NamespaceName,
        operation: TopicOperation,
    ) -> Result<(), SecurityError> {
        if self.is_tenant_admin(role, namespace.tenant()).await? {
            return Ok(());
        }
        let granted = match self.policies.namespace_policies(namespace).await {
            Ok(policies) => {
                let auth = &policies.auth_policies;
                match operation {
                    TopicOperation::Produce => auth.allows(role, AuthAction::Produce),
                    TopicOperation::Consume => auth.allows(role, AuthAction::Consume),
                    TopicOperation::Lookup => [
                        AuthAction::Produce,
                        AuthAction::Consume,
                        AuthAction::Functions,
                    ]
                    .into_iter()
                    .any(|action| auth.allows(role, action)),
                }
            }
            Err(NamespaceError::NamespaceNotFound(_) | NamespaceError::TenantNotFound(_)) => false,
            Err(error) => return Err(SecurityError::Metadata(error.to_string())),
        };
        if granted {
            Ok(())
        } else {
            Err(refusal(
                role,
                operation.describe(),
                &format!("namespace {namespace}"),
            ))
        }
    }
}

fn refusal(role: &str, action: &str, resource: &str) -> SecurityError {
    tracing::info!(%role, action, resource, "refused by authorization");
    SecurityError::Authorization {
        role: role.to_string(),
        action: action.to_string(),
        resource: resource.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use magnetar_metadata::memory::MemoryStore;

    use super::*;
    use crate::namespace::{ClusterData, TenantInfo};

    async fn store() -> PolicyStore {
        let policies = PolicyStore::new(Arc::new(MemoryStore::new()));
        policies
            .bootstrap("standalone", ClusterData::default())
            .await
            .unwrap();
        policies
            .create_tenant(
                "acme",
                &TenantInfo {
                    admin_roles: vec!["acme-admin".into()],
                    allowed_clusters: vec!["standalone".into()],
                },
            )
            .await
            .unwrap();
        let ns = NamespaceName::new("acme", "orders").unwrap();
        policies
            .create_namespace(
                &ns,
                &crate::namespace::NamespacePolicies::with_bundles(1).unwrap(),
            )
            .await
            .unwrap();
        policies
            .update_namespace_policies(&ns, |p| {
                p.auth_policies
                    .namespace_auth
                    .insert("writer".into(), [AuthAction::Produce].into());
                p.auth_policies
                    .namespace_auth
                    .insert("reader".into(), [AuthAction::Consume].into());
                Ok(())
            })
            .await
            .unwrap();
        policies
    }

    fn enabled() -> AuthorizationConfig {
        AuthorizationConfig {
            enabled: true,
            superuser_roles: vec!["root".into()],
        }
    }

    #[tokio::test]
    async fn authorization_without_authentication_is_refused() {
        let off = crate::security::AuthenticationConfig::default();
        let error = crate::security::Security::from_config(&off, &enabled(), None, store().await)
            .err()
            .expect("refused");
        assert!(
            error.to_string().contains("needs authentication"),
            "{error}"
        );
        let plain = crate::security::Security::from_config(
            &off,
            &AuthorizationConfig::default(),
            None,
            store().await,
        );
        assert!(plain.is_ok());
    }

    #[tokio::test]
    async fn the_role_matrix_holds() {
        let authz = Authorizer::new(&enabled(), store().await);
        let ns = NamespaceName::new("acme", "orders").unwrap();
        let other = NamespaceName::new("public", "default").unwrap();
        use TopicOperation::*;
        let cases = [
            ("root", &ns, Produce, true),
            ("root", &other, Consume, true),
            ("acme-admin", &ns, Produce, true),
            ("acme-admin", &ns, Consume, true),
            ("acme-admin", &other, Lookup, false),
            ("writer", &ns, Produce, true),
            ("writer", &ns, Consume, false),
            ("writer", &ns, Lookup, true),
            ("writer", &other, Produce, false),
            ("reader", &ns, Consume, true),
            ("reader", &ns, Produce, false),
            ("reader", &ns, Lookup, true),
            ("nobody", &ns, Lookup, false),
        ];
        for (role, namespace, operation, allowed) in cases {
            let result = authz
                .check_topic_operation(role, namespace, operation)
                .await;
            assert_eq!(
                result.is_ok(),
                allowed,
                "{role} {operation:?} on {namespace}: {result:?}"
            );
        }
        assert!(authz.check_tenant_admin("acme-admin", "acme").await.is_ok());
        assert!(authz.check_tenant_admin("writer", "acme").await.is_err());
        assert!(authz
            .check_tenant_admin("acme-admin", "missing")
            .await
            .is_err());
        assert!(authz.check_superuser("root", "clusters").is_ok());
        assert!(authz.check_superuser("acme-admin", "clusters").is_err());
    }

    #[tokio::test]
    async fn disabled_allows_everything() {
        let authz = Authorizer::new(&AuthorizationConfig::default(), store().await);
        let ns = NamespaceName::new("acme", "orders").unwrap();
        assert!(authz
            .check_topic_operation("nobody", &ns, TopicOperation::Produce)
            .await
            .is_ok());
        assert!(authz.check_superuser("nobody", "clusters").is_ok());
    }
}
