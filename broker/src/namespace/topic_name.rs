//! Topic and namespace names: parsing (full, `tenant/ns/topic` and short
//! forms), validation, partition suffixes, and the managed-ledger
//! ("persistence") name of a topic.

use std::fmt;

use thiserror::Error;

pub const DEFAULT_TENANT: &str = "public";
pub const DEFAULT_NAMESPACE: &str = "default";
const PARTITION_SUFFIX: &str = "-partition-";

/// The longest local topic name, in bytes: with the namespace and the
/// store's prefixes, a topic's metadata keys stay within what the
/// metadata store accepts (names are not a place for payloads).
pub const MAX_LOCAL_NAME_BYTES: usize = 255;

/// The longest tenant, namespace or cluster name.
pub const MAX_SEGMENT_CHARS: usize = 100;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TopicNameError {
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic { name: String, reason: &'static str },
    #[error("invalid namespace name {name:?}: {reason}")]
    InvalidNamespace { name: String, reason: &'static str },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "persistent" => Some(TopicDomain::Persistent),
            "non-persistent" => Some(TopicDomain::NonPersistent),
            _ => None,
        }
    }
}

/// `tenant/namespace`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NamespaceName {
    tenant: String,
    namespace: String,
}

impl NamespaceName {
    pub fn new(tenant: &str, namespace: &str) -> Result<Self, TopicNameError> {
        let full = format!("{tenant}/{namespace}");
        let invalid = |reason| TopicNameError::InvalidNamespace {
            name: full.clone(),
            reason,
        };
        if !is_valid_segment(tenant) {
            return Err(invalid("tenant must be 1 to 100 of [A-Za-z0-9-_=:.]"));
        }
        if !is_valid_segment(namespace) {
            return Err(invalid("namespace must be 1 to 100 of [A-Za-z0-9-_=:.]"));
        }
        Ok(NamespaceName {
            tenant: tenant.to_string(),
            namespace: namespace.to_string(),
        })
    }

    /// Parses `tenant/namespace`.
    pub fn parse(s: &str) -> Result<Self, TopicNameError> {
        match s.split_once('/') {
            Some((tenant, namespace)) => NamespaceName::new(tenant, namespace),
            None => Err(TopicNameError::InvalidNamespace {
                name: s.to_string(),
                reason: "expected tenant/namespace",
            }),
        }
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl fmt::Display for NamespaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.namespace)
    }
}

/// Pulsar's rule for tenant, namespace and cluster names.
pub fn is_valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SEGMENT_CHARS
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=:.".contains(c))
}

/// A fully qualified topic name: `{domain}://{tenant}/{namespace}/{local}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName {
    domain: TopicDomain,
    namespace: NamespaceName,
    local: String,
}

impl TopicName {
    /// Parses `persistent://t/ns/x`, `non-persistent://t/ns/x`, `t/ns/x`
    /// (persistent) or `x` (persistent, in `public/default`).
    pub fn parse(name: &str) -> Result<Self, TopicNameError> {
        let invalid = |reason| TopicNameError::InvalidTopic {
            name: name.to_string(),
            reason,
        };
        let (domain, rest) = match name.split_once("://") {
            Some((domain, rest)) => (
                TopicDomain::parse(domain).ok_or(invalid("unknown domain"))?,
                rest,
            ),
            None => (TopicDomain::Persistent, name),
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (tenant, namespace, local) = match parts.as_slice() {
            [local] if !name.contains("://") => (DEFAULT_TENANT, DEFAULT_NAMESPACE, *local),
            [tenant, namespace, local] => (*tenant, *namespace, *local),
            [_, _, _, _] => {
                return Err(invalid(
                    "legacy names with a cluster segment are not supported",
                ))
            }
            _ => {
                return Err(invalid(
                    "expected [domain://]tenant/namespace/topic or a short topic name",
                ))
            }
        };
        let namespace = NamespaceName::new(tenant, namespace)
            .map_err(|_| invalid("invalid tenant or namespace"))?;
        TopicName::new(domain, namespace, local).map_err(|_| invalid("invalid local name"))
    }

    pub fn new(
        domain: TopicDomain,
        namespace: NamespaceName,
        local: &str,
    ) -> Result<Self, TopicNameError> {
        if local.is_empty() || local.contains('/') || local.chars().any(char::is_control) {
            return Err(TopicNameError::InvalidTopic {
                name: local.to_string(),
                reason: "local name must be non-empty, without '/' or control characters",
            });
        }
        if local.len() > MAX_LOCAL_NAME_BYTES {
            return Err(TopicNameError::InvalidTopic {
                name: local.chars().take(64).collect::<String>() + "…",
                reason: "local name is longer than 255 bytes",
            });
        }
        Ok(TopicName {
            domain,
            namespace,
            local: local.to_string(),
        })
    }

    pub fn domain(&self) -> TopicDomain {
        self.domain
    }

    pub fn is_persistent(&self) -> bool {
        self.domain == TopicDomain::Persistent
    }

    pub fn namespace(&self) -> &NamespaceName {
        &self.namespace
    }

    pub fn local_name(&self) -> &str {
        &self.local
    }

    /// `Some(n)` for `<base>-partition-<n>`.
    pub fn partition_index(&self) -> Option<u32> {
        let index = self.local.rfind(PARTITION_SUFFIX)?;
        let digits = &self.local[index + PARTITION_SUFFIX.len()..];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// The partitioned topic this partition belongs to (itself if not a partition).
    pub fn partitioned_topic(&self) -> TopicName {
        match (self.partition_index(), self.local.rfind(PARTITION_SUFFIX)) {
            (Some(_), Some(index)) => TopicName {
                local: self.local[..index].to_string(),
                ..self.clone()
            },
            _ => self.clone(),
        }
    }

    /// Partition `index` of this topic.
    pub fn partition(&self, index: u32) -> TopicName {
        TopicName {
            local: format!("{}{PARTITION_SUFFIX}{index}", self.local),
            ..self.clone()
        }
    }

    /// The managed-ledger name: `<tenant>/<ns>/<domain>/<url-encoded local>`.
    pub fn persistence_name(&self) -> String {
        format!(
            "{}/{}/{}",
            self.namespace,
            self.domain.as_str(),
            url_encode(&self.local)
        )
    }

    /// Inverse of [`TopicName::persistence_name`].
    pub fn from_persistence_name(name: &str) -> Result<Self, TopicNameError> {
        let invalid = |reason| TopicNameError::InvalidTopic {
            name: name.to_string(),
            reason,
        };
        let parts: Vec<&str> = name.split('/').collect();
        let [tenant, namespace, domain, encoded] = parts.as_slice() else {
            return Err(invalid("expected tenant/namespace/domain/topic"));
        };
        let domain = TopicDomain::parse(domain).ok_or(invalid("unknown domain"))?;
        let local = url_decode(encoded).ok_or(invalid("bad url encoding"))?;
        TopicName::new(domain, NamespaceName::new(tenant, namespace)?, &local)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}/{}",
            self.domain.as_str(),
            self.namespace,
            self.local
        )
    }
}

impl std::str::FromStr for TopicName {
    type Err = TopicNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TopicName::parse(s)
    }
}

/// `application/x-www-form-urlencoded` encoding (what Java's URLEncoder
/// produces): `[A-Za-z0-9.-*_]` kept, space as `+`, other bytes `%XX`.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Inverse of [`url_encode`]; `None` on malformed escapes or invalid UTF-8.
pub fn url_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_short_forms() {
        let full = TopicName::parse("persistent://acme/orders/t1").unwrap();
        assert_eq!(full.to_string(), "persistent://acme/orders/t1");
        assert_eq!(full.namespace().to_string(), "acme/orders");
        assert_eq!(
            TopicName::parse("foo").unwrap().to_string(),
            "persistent://public/default/foo"
        );
        assert_eq!(
            TopicName::parse("a/b/c").unwrap().to_string(),
            "persistent://a/b/c"
        );
        let np = TopicName::parse("non-persistent://a/b/c").unwrap();
        assert!(!np.is_persistent());
    }

    #[test]
    fn rejects_invalid_names() {
        for bad in [
            "",
            "a/b",
            "persistent://a/b",
            "persistent://a/b/c/d",
            "bogus://a/b/c",
            "a b/c/d",
            "persistent:///b/c",
            "a/b/",
        ] {
            assert!(
                matches!(
                    TopicName::parse(bad),
                    Err(TopicNameError::InvalidTopic { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(NamespaceName::parse("nope").is_err());
        assert!(NamespaceName::parse("a/b c").is_err());
        let long = "x".repeat(MAX_LOCAL_NAME_BYTES + 1);
        assert!(TopicName::parse(&format!("a/b/{long}")).is_err());
        assert!(TopicName::parse(&format!("a/b/{}", &long[1..])).is_ok());
        let long_segment = "t".repeat(MAX_SEGMENT_CHARS + 1);
        assert!(NamespaceName::parse(&format!("{long_segment}/b")).is_err());
    }

    #[test]
    fn partitions_and_persistence_names() {
        let base = TopicName::parse("persistent://t/ns/my topic").unwrap();
        let p3 = base.partition(3);
        assert_eq!(p3.local_name(), "my topic-partition-3");
        assert_eq!(p3.partition_index(), Some(3));
        assert_eq!(p3.partitioned_topic(), base);
        assert_eq!(
            TopicName::parse("t/ns/x-partition-")
                .unwrap()
                .partition_index(),
            None
        );
        assert_eq!(base.persistence_name(), "t/ns/persistent/my+topic");
        let odd = TopicName::parse("t/ns/a%b:é").unwrap();
        assert_eq!(odd.persistence_name(), "t/ns/persistent/a%25b%3A%C3%A9");
        assert_eq!(
            TopicName::from_persistence_name(&odd.persistence_name()).unwrap(),
            odd
        );
    }

    #[test]
    fn short_names_expand_to_public_default() {
        let name = TopicName::parse("my-topic").unwrap();
        assert_eq!(name.to_string(), "persistent://public/default/my-topic");
        assert_eq!(name.namespace().to_string(), "public/default");
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
        assert_eq!(stored, "t/n/persistent/a+b%25c%3Ad");
        assert_eq!(TopicName::from_persistence_name(&stored).ok(), Some(name));
    }
}
