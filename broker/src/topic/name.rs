//! Topic names: parsing the forms clients send and deriving the names the
//! broker uses internally.
//!
//! Accepted forms:
//! - `my-topic` → `persistent://public/default/my-topic`
//! - `tenant/namespace/my-topic` → `persistent://tenant/namespace/my-topic`
//! - `persistent://tenant/namespace/my-topic` (and `non-persistent://…`)
//!
//! The legacy form with a cluster segment (`tenant/cluster/namespace/topic`)
//! is refused. The managed-ledger name ("persistence name") is
//! `tenant/namespace/<domain>/<url-encoded local name>`.

use std::fmt;

use thiserror::Error;

const DEFAULT_TENANT: &str = "public";
const DEFAULT_NAMESPACE: &str = "default";
const PARTITION_SUFFIX: &str = "-partition-";

/// Whether messages are stored (`persistent`) or only relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicDomain {
    Persistent,
    NonPersistent,
}

impl TopicDomain {
    pub fn as_str(self) -> &'static str {
        match self {
            TopicDomain::Persistent => "persistent",
            TopicDomain::NonPersistent => "non-persistent",
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TopicNameError {
    #[error("invalid topic name {name:?}: {reason}")]
    Invalid { name: String, reason: &'static str },
}

/// A fully qualified topic name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TopicName {
    domain: TopicDomain,
    tenant: String,
    namespace: String,
    local_name: String,
}

impl TopicName {
    pub fn parse(name: &str) -> Result<Self, TopicNameError> {
        let invalid = |reason| TopicNameError::Invalid {
            name: name.to_string(),
            reason,
        };
        let (domain, rest) = if let Some(rest) = name.strip_prefix("persistent://") {
            (TopicDomain::Persistent, rest)
        } else if let Some(rest) = name.strip_prefix("non-persistent://") {
            (TopicDomain::NonPersistent, rest)
        } else if name.contains("://") {
            return Err(invalid("unknown domain"));
        } else {
            (TopicDomain::Persistent, name)
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (tenant, namespace, local_name) = match parts.as_slice() {
            [local] if !name.contains("://") => (DEFAULT_TENANT, DEFAULT_NAMESPACE, *local),
            [tenant, namespace, local] => (*tenant, *namespace, *local),
            [_, _, _, _, ..] => {
                return Err(invalid(
                    "legacy names with a cluster segment are not supported",
                ))
            }
            _ => return Err(invalid("expected tenant/namespace/topic")),
        };
        for part in [tenant, namespace, local_name] {
            if part.is_empty() {
                return Err(invalid("empty segment"));
            }
            if part.chars().any(char::is_control) {
                return Err(invalid("control characters"));
            }
        }
        Ok(TopicName {
            domain,
            tenant: tenant.to_string(),
            namespace: namespace.to_string(),
            local_name: local_name.to_string(),
        })
    }

    pub fn domain(&self) -> TopicDomain {
        self.domain
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// `tenant/namespace`.
    pub fn namespace(&self) -> String {
        format!("{}/{}", self.tenant, self.namespace)
    }

    pub fn local_name(&self) -> &str {
        &self.local_name
    }

    /// The partition index when this is a partition (`…-partition-<n>`).
    pub fn partition_index(&self) -> Option<u32> {
        let at = self.local_name.rfind(PARTITION_SUFFIX)?;
        self.local_name[at + PARTITION_SUFFIX.len()..].parse().ok()
    }

    /// Name of the managed ledger holding this topic.
    pub fn persistence_name(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.tenant,
            self.namespace,
            self.domain.as_str(),
            url_encode(&self.local_name)
        )
    }

    /// Inverse of [`TopicName::persistence_name`].
    pub fn from_persistence_name(name: &str) -> Option<Self> {
        let mut parts = name.splitn(4, '/');
        let (tenant, namespace, domain, local) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let domain = match domain {
            "persistent" => TopicDomain::Persistent,
            "non-persistent" => TopicDomain::NonPersistent,
            _ => return None,
        };
        Some(TopicName {
            domain,
            tenant: tenant.to_string(),
            namespace: namespace.to_string(),
            local_name: url_decode(local)?,
        })
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}/{}/{}",
            self.domain.as_str(),
            self.tenant,
            self.namespace,
            self.local_name
        )
    }
}

/// Percent-encodes every byte outside `[A-Za-z0-9._*-]`.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-' | b'*' | b'_') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_expand_to_public_default() {
        let name = TopicName::parse("my-topic").unwrap();
        assert_eq!(name.to_string(), "persistent://public/default/my-topic");
        assert_eq!(name.namespace(), "public/default");
        assert_eq!(
            name.persistence_name(),
            "public/default/persistent/my-topic"
        );
    }

    #[test]
    fn full_and_three_part_names_parse() {
        let full = TopicName::parse("non-persistent://acme/ns/orders-partition-3").unwrap();
        assert_eq!(full.domain(), TopicDomain::NonPersistent);
        assert_eq!(full.partition_index(), Some(3));
        assert_eq!(
            TopicName::parse("acme/ns/t").unwrap().to_string(),
            "persistent://acme/ns/t"
        );
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in [
            "",
            "a//b",
            "persistent://a/b",
            "persistent://a/c/n/t",
            "http://a/b/c",
            "a/b",
            "x\u{1}",
        ] {
            assert!(TopicName::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn persistence_name_round_trips_special_characters() {
        let name = TopicName::parse("persistent://t/n/a b%c:d").unwrap();
        let stored = name.persistence_name();
        assert_eq!(stored, "t/n/persistent/a%20b%25c%3Ad");
        assert_eq!(TopicName::from_persistence_name(&stored), Some(name));
    }
}
