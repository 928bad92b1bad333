//! [`KeyPrefix`]: the one set of rules for running a store under a cluster
//! prefix (the `/prefix` of an `etcd://…/prefix` or `raft://…/prefix` URL),
//! so that several clusters can share one metadata service.
//!
//! Keys are prefixed on the way in and stripped on the way out: in values
//! read, listings, watch events and error values. Both backends use it: the
//! etcd store inline (it builds etcd requests from full keys), and
//! [`crate::raft::prefixed::PrefixedStore`] as a wrapper around a Raft client.

use crate::error::MetadataError;
use crate::store::Result;

/// A cluster prefix: empty, or starting with `/` and not ending with one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPrefix {
    prefix: String,
}

impl KeyPrefix {
    /// The prefix `prefix` (`None` or `""` means none); trailing slashes are dropped.
    pub fn new(prefix: Option<&str>) -> Self {
        KeyPrefix {
            prefix: prefix.unwrap_or("").trim_end_matches('/').to_string(),
        }
    }

    /// The prefix as stored, "" when none.
    pub fn as_str(&self) -> &str {
        &self.prefix
    }

    /// The stored key of the store key `key`.
    pub fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The stored prefix that a list or watch of the store prefix `prefix`
    /// scans. An empty store prefix means every key, and every store key
    /// starts with '/': scanning `<prefix>/` keeps a cluster prefix such as
    /// "/a" from also matching the keys of a cluster "/ab".
    pub fn scan(&self, prefix: &str) -> String {
        if prefix.is_empty() {
            self.full("/")
        } else {
            self.full(prefix)
        }
    }

    /// Turns a stored key back into a store key. A key outside the prefix,
    /// or one that is not UTF-8, is [`MetadataError::Corrupt`].
    pub fn strip(&self, full_key: &[u8]) -> Result<String> {
        let corrupt = |reason: &str| MetadataError::Corrupt {
            key: String::from_utf8_lossy(full_key).into_owned(),
            reason: reason.to_string(),
        };
        let rest = full_key
            .strip_prefix(self.prefix.as_bytes())
            .ok_or_else(|| corrupt("key outside the cluster prefix"))?;
        String::from_utf8(rest.to_vec()).map_err(|_| corrupt("key is not UTF-8"))
    }

    /// Strips the prefix from a key that the inner store returned as text;
    /// a key outside the prefix is returned unchanged.
    pub fn strip_str(&self, full_key: String) -> String {
        match full_key.strip_prefix(self.prefix.as_str()) {
            Some(rest) => rest.to_string(),
            None => full_key,
        }
    }

    /// The same error, with any key it names given as a store key.
    pub fn strip_error(&self, error: MetadataError) -> MetadataError {
        match error {
            MetadataError::BadVersion { key } => MetadataError::BadVersion {
                key: self.strip_str(key),
            },
            MetadataError::NotFound(key) => MetadataError::NotFound(self.strip_str(key)),
            MetadataError::InvalidKey { key, reason } => MetadataError::InvalidKey {
                key: self.strip_str(key),
                reason,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_strips_keys() {
        let prefix = KeyPrefix::new(Some("/c1/"));
        assert_eq!(prefix.full("/a/b"), "/c1/a/b");
        assert_eq!(prefix.strip(b"/c1/a/b").unwrap(), "/a/b");
        assert_eq!(KeyPrefix::new(None).strip(b"/a").unwrap(), "/a");
        assert!(matches!(
            prefix.strip(b"/c2/a"),
            Err(MetadataError::Corrupt { .. })
        ));
    }

    #[test]
    fn an_empty_scan_stays_inside_the_cluster() {
        let prefix = KeyPrefix::new(Some("/a"));
        assert_eq!(prefix.scan(""), "/a/");
        assert_eq!(prefix.scan("/topics/"), "/a/topics/");
        assert_eq!(KeyPrefix::new(None).scan(""), "/");
    }

    #[test]
    fn errors_name_store_keys() {
        let prefix = KeyPrefix::new(Some("/c1"));
        let error = prefix.strip_error(MetadataError::BadVersion {
            key: "/c1/k".to_string(),
        });
        assert_eq!(
            error,
            MetadataError::BadVersion {
                key: "/k".to_string()
            }
        );
    }
}
