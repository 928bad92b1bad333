//! Conversions between [`MetadataError`] and gRPC statuses, and between the
//! store's types and their `metadata.proto` messages.
//!
//! An error crosses the wire as a status whose code suits generic gRPC
//! tooling and whose details carry an encoded `Failure` with the exact kind,
//! so the client rebuilds the same variant the server produced.

use magnetar_proto::metadata::{
    expectation::Condition, Expectation, Failure, FailureKind, WatchEventMessage,
};
use prost::Message;

use crate::error::MetadataError;
use crate::store::{Expected, WatchEvent};
use crate::validate::KeyRule;

/// Encodes an error as a gRPC status.
pub fn error_to_status(error: &MetadataError) -> tonic::Status {
    let mut failure = Failure {
        message: error.to_string(),
        ..Failure::default()
    };
    let (kind, code) = match error {
        MetadataError::NotFound(key) => {
            failure.key = key.clone();
            (FailureKind::NotFound, tonic::Code::NotFound)
        }
        MetadataError::BadVersion { key } => {
            failure.key = key.clone();
            (FailureKind::BadVersion, tonic::Code::FailedPrecondition)
        }
        MetadataError::SessionExpired(session) => {
            failure.session = *session;
            (FailureKind::SessionExpired, tonic::Code::FailedPrecondition)
        }
        MetadataError::Unavailable(_) => (FailureKind::Unavailable, tonic::Code::Unavailable),
        MetadataError::InvalidKey { key, .. } => {
            failure.key = key.clone();
            (FailureKind::InvalidKey, tonic::Code::InvalidArgument)
        }
        MetadataError::ValueTooLarge { size, limit } => {
            failure.size = *size as u64;
            failure.limit = *limit as u64;
            (FailureKind::ValueTooLarge, tonic::Code::InvalidArgument)
        }
        MetadataError::QuotaExceeded(_) => {
            (FailureKind::QuotaExceeded, tonic::Code::ResourceExhausted)
        }
        MetadataError::Compacted(revision) => {
            failure.revision = *revision;
            (FailureKind::Compacted, tonic::Code::OutOfRange)
        }
        MetadataError::InvalidUrl { .. } => {
            (FailureKind::Unspecified, tonic::Code::InvalidArgument)
        }
        MetadataError::Corrupt { key, .. } => {
            failure.key = key.clone();
            (FailureKind::Corrupt, tonic::Code::DataLoss)
        }
        MetadataError::ShuttingDown => (FailureKind::ShuttingDown, tonic::Code::Unavailable),
    };
    failure.kind = kind as i32;
    tonic::Status::with_details(
        code,
        failure.message.clone(),
        failure.encode_to_vec().into(),
    )
}

/// Rebuilds the error a server sent. A status without `Failure` details
/// (a transport failure, a proxy) is `Unavailable`.
pub fn status_to_error(status: tonic::Status) -> MetadataError {
    let decoded = Failure::decode(status.details())
        .ok()
        .filter(|_| !status.details().is_empty());
    let Some(failure) = decoded else {
        return MetadataError::Unavailable(format!("{}: {}", status.code(), status.message()));
    };
    let kind = FailureKind::try_from(failure.kind).unwrap_or(FailureKind::Unspecified);
    match kind {
        FailureKind::NotFound => MetadataError::NotFound(failure.key),
        FailureKind::BadVersion => MetadataError::BadVersion { key: failure.key },
        FailureKind::SessionExpired => MetadataError::SessionExpired(failure.session),
        FailureKind::InvalidKey => MetadataError::InvalidKey {
            key: failure.key,
            reason: key_rule_reason(&failure.message),
        },
        FailureKind::ValueTooLarge => MetadataError::ValueTooLarge {
            size: failure.size as usize,
            limit: failure.limit as usize,
        },
        FailureKind::QuotaExceeded => MetadataError::QuotaExceeded(failure.message),
        FailureKind::Compacted => MetadataError::Compacted(failure.revision),
        FailureKind::Corrupt => MetadataError::Corrupt {
            key: failure.key,
            reason: failure.message,
        },
        FailureKind::ShuttingDown => MetadataError::ShuttingDown,
        FailureKind::Unavailable | FailureKind::Unspecified => {
            if status.code() == tonic::Code::Unavailable || kind == FailureKind::Unavailable {
                MetadataError::Unavailable(failure.message)
            } else {
                MetadataError::Corrupt {
                    key: failure.key,
                    reason: failure.message,
                }
            }
        }
    }
}

/// The static reason text of the key rule a server's message names.
fn key_rule_reason(message: &str) -> &'static str {
    [
        KeyRule::Empty,
        KeyRule::NoLeadingSlash,
        KeyRule::ContainsNul,
        KeyRule::TooLong,
    ]
    .into_iter()
    .map(KeyRule::reason)
    .find(|reason| message.contains(reason))
    .unwrap_or("rejected by the metadata server")
}

pub fn expected_to_proto(expected: Expected) -> Expectation {
    let condition = match expected {
        Expected::Any => Condition::Any(true),
        Expected::Absent => Condition::Absent(true),
        Expected::Version(version) => Condition::Version(version),
    };
    Expectation {
        condition: Some(condition),
    }
}

pub fn expected_from_proto(expected: Option<Expectation>) -> Expected {
    match expected.and_then(|e| e.condition) {
        None | Some(Condition::Any(_)) => Expected::Any,
        Some(Condition::Absent(_)) => Expected::Absent,
        Some(Condition::Version(version)) => Expected::Version(version),
    }
}

pub fn event_to_proto(event: WatchEvent) -> WatchEventMessage {
    match event {
        WatchEvent::Put {
            key,
            value,
            version,
        } => WatchEventMessage {
            key,
            value,
            revision: version,
            deleted: false,
        },
        WatchEvent::Delete { key, revision } => WatchEventMessage {
            key,
            value: Default::default(),
            revision,
            deleted: true,
        },
    }
}

pub fn event_from_proto(message: WatchEventMessage) -> WatchEvent {
    if message.deleted {
        WatchEvent::Delete {
            key: message.key,
            revision: message.revision,
        }
    } else {
        WatchEvent::Put {
            key: message.key,
            value: message.value,
            version: message.revision,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_survives_the_wire() {
        let errors = [
            MetadataError::NotFound("/a".into()),
            MetadataError::BadVersion { key: "/b".into() },
            MetadataError::SessionExpired(42),
            MetadataError::Unavailable("down".into()),
            MetadataError::InvalidKey {
                key: "x".into(),
                reason: KeyRule::NoLeadingSlash.reason(),
            },
            MetadataError::ValueTooLarge { size: 10, limit: 5 },
            MetadataError::Compacted(17),
            MetadataError::ShuttingDown,
        ];
        for error in errors {
            let back = status_to_error(error_to_status(&error));
            match (&error, &back) {
                (MetadataError::Unavailable(_), MetadataError::Unavailable(_)) => {}
                _ => assert_eq!(back, error),
            }
        }
    }

    #[test]
    fn status_without_details_is_unavailable() {
        let error = status_to_error(tonic::Status::unavailable("connection refused"));
        assert!(matches!(error, MetadataError::Unavailable(_)));
    }
}
