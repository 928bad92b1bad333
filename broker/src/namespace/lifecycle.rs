//! Changing and removing clusters, tenants and namespaces, with Pulsar's
//! checks: a tenant goes only once it has no namespace, a cluster only
//! while no tenant allows it, and a tenant may only allow registered
//! clusters. A namespace's topics are the caller's to remove first.

use magnetar_metadata::{Expected, PutOptions};

use super::policies::{policies_key, ClusterData, PolicyStore, TenantInfo};
use super::{NamespaceError, NamespaceName, CLUSTERS_ROOT, TENANTS_ROOT};

impl PolicyStore {
    /// Replaces a registered cluster's URLs.
    pub async fn update_cluster(
        &self,
        name: &str,
        data: &ClusterData,
    ) -> Result<(), NamespaceError> {
        self.cluster(name).await?;
        self.overwrite(&format!("{CLUSTERS_ROOT}{name}"), data)
            .await
    }

    /// Removes a cluster no tenant allows.
    pub async fn delete_cluster(&self, name: &str) -> Result<(), NamespaceError> {
        self.cluster(name).await?;
        for tenant in self.tenants().await? {
            if self
                .tenant(&tenant)
                .await?
                .allowed_clusters
                .iter()
                .any(|c| c == name)
            {
                return Err(NamespaceError::PolicyConflict(format!(
                    "cluster {name} is allowed by tenant {tenant}"
                )));
            }
        }
        self.metadata()
            .delete(&format!("{CLUSTERS_ROOT}{name}"), Expected::Any)
            .await?;
        Ok(())
    }

    /// Checks that every cluster a tenant allows is registered.
    pub async fn check_clusters(&self, info: &TenantInfo) -> Result<(), NamespaceError> {
        for cluster in &info.allowed_clusters {
            self.cluster(cluster).await?;
        }
        Ok(())
    }

    /// Replaces a tenant's admin roles and allowed clusters.
    pub async fn update_tenant(&self, name: &str, info: &TenantInfo) -> Result<(), NamespaceError> {
        self.tenant(name).await?;
        self.check_clusters(info).await?;
        self.overwrite(&format!("{TENANTS_ROOT}{name}"), info).await
    }

    /// Removes a tenant that has no namespace.
    pub async fn delete_tenant(&self, name: &str) -> Result<(), NamespaceError> {
        let namespaces = self.namespaces(name).await?;
        if !namespaces.is_empty() {
            return Err(NamespaceError::NotEmpty(format!(
                "tenant {name} still has namespaces: {}",
                namespaces.join(", ")
            )));
        }
        self.metadata()
            .delete(&format!("{TENANTS_ROOT}{name}"), Expected::Any)
            .await?;
        Ok(())
    }

    /// Removes a namespace's policies (its topics must be gone).
    pub async fn delete_namespace(&self, namespace: &NamespaceName) -> Result<(), NamespaceError> {
        self.namespace_policies(namespace).await?;
        self.metadata()
            .delete(&policies_key(namespace), Expected::Any)
            .await?;
        Ok(())
    }

    async fn overwrite<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), NamespaceError> {
        let bytes = serde_json::to_vec(value).map_err(|e| NamespaceError::Corrupt {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
        self.metadata()
            .put(key, bytes.into(), PutOptions::expect(Expected::Any))
            .await?;
        Ok(())
    }
}
