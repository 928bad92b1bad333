//! [`MetadataUrl`]: which metadata backend to use and where it is.
//!
//! Formats:
//! - `etcd://host:port[,host:port…][/prefix]` — an etcd cluster; every key is
//!   stored under `/prefix` so that several clusters can share one etcd.
//! - `raft://host:port[,host:port…][/prefix]` — Magnetar's embedded Raft
//!   metadata service.
//! - `memory://` — a fresh in-process store (tests only).
//!
//! Reading the URL from the environment (`MAGNETAR_METADATA`) is the CLI's job.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use magnetar_proto::grpc_tls::GrpcClientTls;

use crate::error::MetadataError;
use crate::etcd::{EtcdOptions, EtcdStore};
use crate::memory::MemoryStore;
use crate::raft::prefixed::PrefixedStore;
use crate::raft::RaftClientStore;
use crate::store::{MetadataStore, Result};

/// Opens the store `url` names, with default options.
pub async fn connect(url: &MetadataUrl) -> Result<Arc<dyn MetadataStore>> {
    connect_with_tls(url, None).await
}

/// Opens the store `url` names; with `tls`, over TLS. Only etcd speaks TLS
/// here: asking for it with another backend is an error rather than a
/// silent plain-text connection.
pub async fn connect_with_tls(
    url: &MetadataUrl,
    tls: Option<GrpcClientTls>,
) -> Result<Arc<dyn MetadataStore>> {
    if tls.is_some() && !matches!(url, MetadataUrl::Etcd { .. }) {
        return Err(MetadataError::InvalidUrl {
            url: url.to_string(),
            reason: "TLS to the metadata store is supported for etcd:// only".to_string(),
        });
    }
    match url {
        MetadataUrl::Etcd { endpoints, prefix } => {
            let options = EtcdOptions {
                tls,
                ..EtcdOptions::default()
            };
            Ok(Arc::new(
                EtcdStore::connect(endpoints, prefix.as_deref(), options).await?,
            ))
        }
        MetadataUrl::Memory => Ok(Arc::new(MemoryStore::new())),
        MetadataUrl::Raft { endpoints, prefix } => {
            let client: Arc<dyn MetadataStore> =
                Arc::new(RaftClientStore::connect(endpoints).map_err(|e| match e {
                    MetadataError::InvalidUrl { reason, .. } => MetadataError::InvalidUrl {
                        url: url.to_string(),
                        reason,
                    },
                    other => other,
                })?);
            Ok(match prefix {
                Some(prefix) => Arc::new(PrefixedStore::new(client, prefix)),
                None => client,
            })
        }
    }
}

/// A parsed metadata store URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataUrl {
    Etcd {
        endpoints: Vec<String>,
        prefix: Option<String>,
    },
    Raft {
        endpoints: Vec<String>,
        prefix: Option<String>,
    },
    Memory,
}

impl MetadataUrl {
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: &str| MetadataError::InvalidUrl {
            url: text.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| invalid("missing scheme (etcd://, raft://, memory://)"))?;
        match scheme {
            "memory" if rest.is_empty() || rest == "/" => Ok(MetadataUrl::Memory),
            "memory" => Err(invalid("memory:// takes no host or path")),
            "etcd" | "raft" => {
                let (hosts, path) = match rest.find('/') {
                    Some(slash) => (&rest[..slash], &rest[slash..]),
                    None => (rest, ""),
                };
                let endpoints = parse_endpoints(hosts).map_err(|reason| invalid(&reason))?;
                let prefix = parse_prefix(path).map_err(|reason| invalid(&reason))?;
                Ok(if scheme == "etcd" {
                    MetadataUrl::Etcd { endpoints, prefix }
                } else {
                    MetadataUrl::Raft { endpoints, prefix }
                })
            }
            other => Err(invalid(&format!(
                "unknown scheme {other:?}; expected etcd, raft or memory"
            ))),
        }
    }

    /// The `host:port` endpoints (empty for `memory://`).
    pub fn endpoints(&self) -> &[String] {
        match self {
            MetadataUrl::Etcd { endpoints, .. } | MetadataUrl::Raft { endpoints, .. } => endpoints,
            MetadataUrl::Memory => &[],
        }
    }

    /// The key prefix, always starting with `/` and never ending with one.
    pub fn prefix(&self) -> Option<&str> {
        match self {
            MetadataUrl::Etcd { prefix, .. } | MetadataUrl::Raft { prefix, .. } => {
                prefix.as_deref()
            }
            MetadataUrl::Memory => None,
        }
    }
}

fn parse_endpoints(hosts: &str) -> std::result::Result<Vec<String>, String> {
    if hosts.is_empty() {
        return Err("no host:port given".to_string());
    }
    hosts
        .split(',')
        .map(|endpoint| {
            let (host, port) = endpoint
                .rsplit_once(':')
                .ok_or_else(|| format!("endpoint {endpoint:?} has no port"))?;
            if host.is_empty() {
                return Err(format!("endpoint {endpoint:?} has no host"));
            }
            port.parse::<u16>()
                .map_err(|_| format!("endpoint {endpoint:?} has an invalid port"))?;
            Ok(endpoint.to_string())
        })
        .collect()
}

fn parse_prefix(path: &str) -> std::result::Result<Option<String>, String> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.contains('\0') || trimmed.contains("//") || trimmed.contains(['?', '#']) {
        return Err(format!("prefix {path:?} must be a plain /path"));
    }
    Ok(Some(trimmed.to_string()))
}

impl FromStr for MetadataUrl {
    type Err = MetadataError;

    fn from_str(text: &str) -> Result<Self> {
        MetadataUrl::parse(text)
    }
}

impl fmt::Display for MetadataUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (scheme, endpoints, prefix) = match self {
            MetadataUrl::Memory => return write!(f, "memory://"),
            MetadataUrl::Etcd { endpoints, prefix } => ("etcd", endpoints, prefix),
            MetadataUrl::Raft { endpoints, prefix } => ("raft", endpoints, prefix),
        };
        write!(
            f,
            "{scheme}://{}{}",
            endpoints.join(","),
            prefix.as_deref().unwrap_or("")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme() {
        assert_eq!(
            MetadataUrl::parse("memory://").unwrap(),
            MetadataUrl::Memory
        );
        assert_eq!(
            MetadataUrl::parse("etcd://a:2379,b:2379/cluster-1/").unwrap(),
            MetadataUrl::Etcd {
                endpoints: vec!["a:2379".to_string(), "b:2379".to_string()],
                prefix: Some("/cluster-1".to_string()),
            }
        );
        assert_eq!(
            MetadataUrl::parse("raft://127.0.0.1:7000").unwrap(),
            MetadataUrl::Raft {
                endpoints: vec!["127.0.0.1:7000".to_string()],
                prefix: None
            }
        );
    }

    #[test]
    fn display_round_trips() {
        for text in ["memory://", "etcd://a:1,b:2/p/q", "raft://h:7000"] {
            assert_eq!(MetadataUrl::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn rejects_malformed_urls() {
        for text in [
            "",
            "etcd:/a:1",
            "zk://a:1",
            "etcd://",
            "etcd://a",
            "etcd://a:x",
            "etcd://:1",
            "memory://h:1",
        ] {
            assert!(
                matches!(
                    MetadataUrl::parse(text),
                    Err(MetadataError::InvalidUrl { .. })
                ),
                "{text:?} should be rejected"
            );
        }
    }
}
