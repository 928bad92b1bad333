//! Topic lists as pattern subscriptions see them, shared by
//! GET_TOPICS_OF_NAMESPACE and the topic-list watchers: the regex filter
//! ([`TopicPattern`]), the list hash clients compare ([`topics_hash`]) and
//! the matching set a watcher keeps up to date ([`TopicSet`]).
//!
//! A pattern is matched, whole, against a topic's name without its domain
//! and without a `-partition-N` suffix (`tenant/ns/topic`), as Pulsar does.
//! The hash is CRC32C of the sorted full names joined with `,`, written as
//! the 8 hex digits of its bytes in little-endian order (Guava's
//! `HashCode.toString`, what Pulsar's clients compute).

use std::collections::BTreeSet;

use regex::Regex;
use thiserror::Error;

use crate::topic::TopicName;

/// Longest pattern evaluated, in bytes (Pulsar's default limit).
pub(super) const MAX_PATTERN_LENGTH: usize = 50_000;

#[derive(Debug, Error)]
pub(super) enum PatternError {
    #[error(
        "invalid topics pattern: {length} bytes, longer than the limit of {MAX_PATTERN_LENGTH}"
    )]
    TooLong { length: usize },
    #[error("invalid topics pattern: {0}")]
    Invalid(#[source] Box<regex::Error>),
}

/// A compiled topics pattern.
#[derive(Debug, Clone)]
pub(super) struct TopicPattern {
    /// `None`: the pattern `.*`, which takes every topic.
    regex: Option<Regex>,
}

impl TopicPattern {
    /// Compiles `pattern`, anchored at both ends, after removing a leading
    /// `persistent://` or `non-persistent://`.
    pub fn compile(pattern: &str) -> Result<Self, PatternError> {
        if pattern.len() > MAX_PATTERN_LENGTH {
            return Err(PatternError::TooLong {
                length: pattern.len(),
            });
        }
        let bare = pattern
            .strip_prefix("persistent://")
            .or_else(|| pattern.strip_prefix("non-persistent://"))
            .unwrap_or(pattern);
        if bare == ".*" {
            return Ok(TopicPattern { regex: None });
        }
        Regex::new(&format!("^(?:{bare})$"))
            .map(|regex| TopicPattern { regex: Some(regex) })
            .map_err(|source| PatternError::Invalid(Box::new(source)))
    }

    /// Whether the full topic name `topic` is taken.
    pub fn matches(&self, topic: &str) -> bool {
        match &self.regex {
            None => true,
            Some(regex) => regex.is_match(&base_name(topic)),
        }
    }

    /// The topics of `topics` this pattern takes, in their order.
    pub fn filter(&self, topics: Vec<String>) -> Vec<String> {
        topics.into_iter().filter(|t| self.matches(t)).collect()
    }
}

/// `tenant/ns/topic`: the name a pattern is matched against.
fn base_name(topic: &str) -> String {
    match TopicName::parse(topic) {
        Ok(name) => {
            let base = name.partitioned_topic();
            format!("{}/{}", base.namespace(), base.local_name())
        }
        Err(_) => topic
            .split_once("://")
            .map_or(topic, |(_, rest)| rest)
            .to_string(),
    }
}

/// Full topic names of managed-ledger names (those that name a topic).
pub(super) fn topics_of_ledgers(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter_map(|name| TopicName::from_persistence_name(name).ok())
        .map(|topic| topic.to_string())
        .collect()
}

/// The hash of a topic list, whatever its order.
pub(super) fn topics_hash<S: AsRef<str>>(topics: &[S]) -> String {
    let mut sorted: Vec<&str> = topics.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    hash_hex(crc32c::crc32c(sorted.join(",").as_bytes()))
}

/// A CRC as Guava prints a 32-bit hash: its bytes, little-endian, in hex.
fn hash_hex(crc: u32) -> String {
    crc.to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The topics of a namespace a watcher's pattern takes, kept in byte order.
#[derive(Debug)]
pub(super) struct TopicSet {
    pattern: TopicPattern,
    topics: BTreeSet<String>,
}

impl TopicSet {
    pub fn new(pattern: TopicPattern, topics: impl IntoIterator<Item = String>) -> Self {
        let topics = topics.into_iter().filter(|t| pattern.matches(t)).collect();
        TopicSet { pattern, topics }
    }

    /// Takes a topic that exists; true when it matches and is new.
    pub fn insert(&mut self, topic: &str) -> bool {
        self.pattern.matches(topic) && self.topics.insert(topic.to_string())
    }

    /// Drops a topic that is gone; true when it was in the set.
    pub fn remove(&mut self, topic: &str) -> bool {
        self.topics.remove(topic)
    }

    /// Replaces the set with the matching topics of a new listing and
    /// returns what was added and what removed, each sorted.
    pub fn replace(&mut self, listing: impl IntoIterator<Item = String>) -> SetDiff {
        let fresh: BTreeSet<String> = listing
            .into_iter()
            .filter(|t| self.pattern.matches(t))
            .collect();
        let diff = SetDiff {
            added: fresh.difference(&self.topics).cloned().collect(),
            removed: self.topics.difference(&fresh).cloned().collect(),
        };
        self.topics = fresh;
        diff
    }

    pub fn topics(&self) -> Vec<String> {
        self.topics.iter().cloned().collect()
    }

    pub fn hash(&self) -> String {
        topics_hash(&self.topics.iter().collect::<Vec<_>>())
    }
}

/// How a topic set changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct SetDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl SetDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hash_is_crc32c_little_endian_hex() {
        assert_eq!(topics_hash::<&str>(&[]), "00000000");
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(hash_hex(0xE306_9283), "839206e3");
        assert_eq!(hash_hex(0x1234_5678), "78563412");
    }

    #[test]
    fn hash_sorts_and_joins_with_commas() {
        let topics = ["persistent://t/ns/b", "persistent://t/ns/a-partition-0"];
        let joined = "persistent://t/ns/a-partition-0,persistent://t/ns/b";
        let expected = crc32c::crc32c(joined.as_bytes()).to_le_bytes();
        let expected: String = expected.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(topics_hash(&topics), expected);
        let reversed = [topics[1], topics[0]];
        assert_eq!(topics_hash(&reversed), expected);
        let set = TopicSet::new(TopicPattern::compile(".*").unwrap(), names(&topics));
        assert_eq!(set.hash(), expected);
    }

    #[test]
    fn patterns_match_the_whole_base_name() {
        let pattern = TopicPattern::compile("persistent://t/ns/pat-.*").unwrap();
        assert!(pattern.matches("persistent://t/ns/pat-a"));
        assert!(pattern.matches("persistent://t/ns/pat-a-partition-3"));
        assert!(!pattern.matches("persistent://t/ns/other"));
        assert!(!pattern.matches("persistent://t/ns2/pat-a"));
        // Anchored: a match inside the name is not enough.
        let prefix = TopicPattern::compile("t/ns/pat").unwrap();
        assert!(!prefix.matches("persistent://t/ns/pat-a"));
        // The partition suffix is not part of what is matched.
        let exact = TopicPattern::compile("t/ns/x-partition-0").unwrap();
        assert!(!exact.matches("persistent://t/ns/x-partition-0"));
        let all = TopicPattern::compile(".*").unwrap();
        assert!(all.matches("persistent://t/ns/anything"));
        assert_eq!(
            pattern.filter(names(&["persistent://t/ns/pat-1", "persistent://t/ns/no"])),
            names(&["persistent://t/ns/pat-1"])
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(matches!(
            TopicPattern::compile("t/ns/(unclosed"),
            Err(PatternError::Invalid(_))
        ));
        let long = "a".repeat(MAX_PATTERN_LENGTH + 1);
        assert!(matches!(
            TopicPattern::compile(&long),
            Err(PatternError::TooLong { .. })
        ));
    }

    #[test]
    fn set_reports_membership_changes_only() {
        let pattern = TopicPattern::compile("t/ns/p-.*").unwrap();
        let mut set = TopicSet::new(
            pattern,
            names(&["persistent://t/ns/p-1", "persistent://t/ns/q"]),
        );
        assert_eq!(set.topics(), names(&["persistent://t/ns/p-1"]));
        assert!(!set.insert("persistent://t/ns/p-1"), "a rewrite is not new");
        assert!(!set.insert("persistent://t/ns/q2"), "does not match");
        assert!(set.insert("persistent://t/ns/p-2"));
        assert!(!set.remove("persistent://t/ns/q"));
        assert!(set.remove("persistent://t/ns/p-1"));
        let diff = set.replace(names(&["persistent://t/ns/p-3", "persistent://t/ns/z"]));
        assert_eq!(
            diff,
            SetDiff {
                added: names(&["persistent://t/ns/p-3"]),
                removed: names(&["persistent://t/ns/p-2"]),
            }
        );
        assert!(set.replace(names(&["persistent://t/ns/p-3"])).is_empty());
        assert_eq!(set.hash(), topics_hash(&set.topics()));
    }
}
