//! Policies that remove what nobody uses, with Pulsar's JSON names: the
//! inactive-topic policy (a topic without clients, and without
//! subscriptions or without backlog, is deleted after a while) and the
//! expiration of subscriptions without consumers. The broker's settings
//! apply where a namespace sets neither ([`ExpiryDefaults`]); the topic
//! layer enforces them (`topic/expiry.rs`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::NamespaceError;

/// Which topics without clients count as inactive (Pulsar's
/// `InactiveTopicDeleteMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InactiveTopicDeleteMode {
    /// Only a topic with no subscription at all.
    #[default]
    DeleteWhenNoSubscriptions,
    /// Also a topic whose every subscription has consumed everything.
    DeleteWhenSubscriptionsCaughtUp,
}

impl InactiveTopicDeleteMode {
    pub fn parse(name: &str) -> Result<Self, NamespaceError> {
        match name {
            "delete_when_no_subscriptions" => Ok(Self::DeleteWhenNoSubscriptions),
            "delete_when_subscriptions_caught_up" => Ok(Self::DeleteWhenSubscriptionsCaughtUp),
            other => Err(NamespaceError::InvalidPolicy(format!(
                "unknown inactive topic delete mode {other:?}: delete_when_no_subscriptions or delete_when_subscriptions_caught_up"
            ))),
        }
    }
}

impl std::str::FromStr for InactiveTopicDeleteMode {
    type Err = NamespaceError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

/// Whether and when topics without clients are deleted (Pulsar's
/// `InactiveTopicPolicies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InactiveTopicPolicies {
    #[serde(default)]
    pub inactive_topic_delete_mode: InactiveTopicDeleteMode,
    pub max_inactive_duration_seconds: i32,
    pub delete_while_inactive: bool,
}

impl InactiveTopicPolicies {
    pub fn validate(&self) -> Result<(), NamespaceError> {
        if self.delete_while_inactive && self.max_inactive_duration_seconds <= 0 {
            return Err(NamespaceError::InvalidPolicy(
                "maxInactiveDurationSeconds must be at least 1 when deleteWhileInactive is set"
                    .to_string(),
            ));
        }
        Ok(())
    }

    /// How long a topic must be inactive before it goes; `None` when
    /// inactive topics are kept.
    pub fn max_inactive(&self) -> Option<Duration> {
        let seconds = u64::try_from(self.max_inactive_duration_seconds).ok()?;
        (self.delete_while_inactive && seconds > 0).then(|| Duration::from_secs(seconds))
    }
}

impl Default for InactiveTopicPolicies {
    /// Kept: Pulsar deletes after 60 s by default, but here a topic's
    /// messages outlive its clients unless the operator asks otherwise.
    fn default() -> Self {
        InactiveTopicPolicies {
            inactive_topic_delete_mode: InactiveTopicDeleteMode::DeleteWhenNoSubscriptions,
            max_inactive_duration_seconds: 60,
            delete_while_inactive: false,
        }
    }
}

/// The broker's settings for namespaces that set no expiry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpiryDefaults {
    /// Pulsar's `subscriptionExpirationTimeMinutes` (0: never).
    pub subscription_expiration: Option<Duration>,
    /// Pulsar's `brokerDeleteInactiveTopics*` settings (off by default).
    pub inactive_topics: InactiveTopicPolicies,
}

/// A namespace's expiry policies, with the broker's where it sets none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpiryLimits {
    /// A subscription without consumers for this long is deleted.
    pub subscription_expiration: Option<Duration>,
    pub inactive_topics: InactiveTopicPolicies,
}

impl ExpiryLimits {
    /// `minutes`: the namespace's `subscription_expiration_time_minutes`
    /// (0: never); `inactive`: its `inactive_topic_policies`.
    pub fn resolve(
        minutes: Option<u32>,
        inactive: Option<InactiveTopicPolicies>,
        defaults: &ExpiryDefaults,
    ) -> Self {
        ExpiryLimits {
            subscription_expiration: match minutes {
                Some(0) => None,
                Some(minutes) => Some(Duration::from_secs(u64::from(minutes) * 60)),
                None => defaults.subscription_expiration,
            },
            inactive_topics: inactive.unwrap_or(defaults.inactive_topics),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inactive_topic_policies_use_pulsar_names() {
        let parsed: InactiveTopicPolicies = serde_json::from_str(
            r#"{"inactiveTopicDeleteMode":"delete_when_subscriptions_caught_up","maxInactiveDurationSeconds":30,"deleteWhileInactive":true}"#,
        )
        .unwrap();
        assert_eq!(
            parsed.inactive_topic_delete_mode,
            InactiveTopicDeleteMode::DeleteWhenSubscriptionsCaughtUp
        );
        assert_eq!(parsed.max_inactive(), Some(Duration::from_secs(30)));
        let off = InactiveTopicPolicies {
            delete_while_inactive: false,
            ..parsed
        };
        assert_eq!(off.max_inactive(), None);
        let zero = InactiveTopicPolicies {
            max_inactive_duration_seconds: 0,
            ..parsed
        };
        assert!(zero.validate().is_err());
        assert!(serde_json::from_str::<InactiveTopicPolicies>(
            r#"{"inactiveTopicDeleteMode":"sometimes","maxInactiveDurationSeconds":30,"deleteWhileInactive":true}"#
        )
        .is_err());
    }

    #[test]
    fn namespace_settings_win_over_the_brokers() {
        let defaults = ExpiryDefaults {
            subscription_expiration: Some(Duration::from_secs(600)),
            ..ExpiryDefaults::default()
        };
        let own = ExpiryLimits::resolve(Some(2), None, &defaults);
        assert_eq!(own.subscription_expiration, Some(Duration::from_secs(120)));
        assert_eq!(own.inactive_topics, defaults.inactive_topics);
        let never = ExpiryLimits::resolve(Some(0), None, &defaults);
        assert_eq!(never.subscription_expiration, None);
        let brokers = ExpiryLimits::resolve(None, None, &defaults);
        assert_eq!(
            brokers.subscription_expiration,
            Some(Duration::from_secs(600))
        );
    }
}
