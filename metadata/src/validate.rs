//! Key and value validation shared by every backend, so that a key accepted by
//! one backend is accepted by all of them.
//!
//! Rules: a key is non-empty, starts with `/`, contains no NUL byte and is at
//! most [`MAX_KEY_BYTES`] bytes long. A value is at most
//! [`DEFAULT_MAX_VALUE_BYTES`] bytes unless a backend is configured otherwise.

use serde::{Deserialize, Serialize};

use crate::error::MetadataError;
use crate::store::Result;

/// Longest accepted key, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Default largest accepted value, in bytes (1 MiB).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 1024 * 1024;

/// The rule a rejected key broke. Serializable so that a replicated state
/// machine can report it through its log responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyRule {
    Empty,
    NoLeadingSlash,
    ContainsNul,
    TooLong,
}

impl KeyRule {
    /// The human-readable reason carried by [`MetadataError::InvalidKey`].
    pub fn reason(self) -> &'static str {
        match self {
            KeyRule::Empty => "key is empty",
            KeyRule::NoLeadingSlash => "key must start with '/'",
            KeyRule::ContainsNul => "key contains a NUL byte",
            KeyRule::TooLong => "key is longer than 1024 bytes",
        }
    }
}

/// Returns the rule `key` breaks, if any.
pub fn check_key(key: &str) -> Option<KeyRule> {
    if key.is_empty() {
        Some(KeyRule::Empty)
    } else if !key.starts_with('/') {
        Some(KeyRule::NoLeadingSlash)
    } else if key.as_bytes().contains(&0) {
        Some(KeyRule::ContainsNul)
    } else if key.len() > MAX_KEY_BYTES {
        Some(KeyRule::TooLong)
    } else {
        None
    }
}

/// Validates a key, returning [`MetadataError::InvalidKey`] when it breaks a rule.
pub fn validate_key(key: &str) -> Result<()> {
    match check_key(key) {
        None => Ok(()),
        Some(rule) => Err(invalid_key(key, rule)),
    }
}

/// Validates a value size against `limit`.
pub fn validate_value(size: usize, limit: usize) -> Result<()> {
    if size > limit {
        Err(MetadataError::ValueTooLarge { size, limit })
    } else {
        Ok(())
    }
}

/// Builds the error for a key that broke `rule`; long keys are shortened in
/// the error so that logs stay readable.
pub fn invalid_key(key: &str, rule: KeyRule) -> MetadataError {
    let mut shown: String = key.chars().take(128).collect();
    if shown.len() < key.len() {
        shown.push('…');
    }
    MetadataError::InvalidKey {
        key: shown,
        reason: rule.reason(),
    }
}

/// The smallest string greater than every string starting with `prefix`, or
/// `None` when no such string exists (empty prefix or all bytes 0xff).
/// Used as an exclusive range end for prefix scans.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_rule_by_rule() {
        assert_eq!(check_key(""), Some(KeyRule::Empty));
        assert_eq!(check_key("a/b"), Some(KeyRule::NoLeadingSlash));
        assert_eq!(check_key("/a\0b"), Some(KeyRule::ContainsNul));
        assert_eq!(
            check_key(&format!("/{}", "x".repeat(MAX_KEY_BYTES))),
            Some(KeyRule::TooLong)
        );
        assert_eq!(
            check_key(&format!("/{}", "x".repeat(MAX_KEY_BYTES - 1))),
            None
        );
        assert_eq!(check_key("/ledgers/00000001"), None);
    }

    #[test]
    fn values_over_the_limit_are_rejected() {
        assert!(validate_value(10, 10).is_ok());
        assert_eq!(
            validate_value(11, 10),
            Err(MetadataError::ValueTooLarge {
                size: 11,
                limit: 10
            })
        );
    }

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end(b"/a"), Some(b"/b".to_vec()));
        assert_eq!(prefix_end(b"/a\xff"), Some(b"/b".to_vec()));
        assert_eq!(prefix_end(b""), None);
    }
}
