//! Unit tests of the state machine's semantics.

use bytes::Bytes;

use super::*;
use crate::error::MetadataError;

fn put(key: &str, value: &str, expected: Expected, session: Option<SessionId>) -> Command {
    Command::Put {
        key: key.to_string(),
        value: Bytes::from(value.to_string()),
        expected,
        session,
    }
}

fn version_of(outcome: CommandOutcome) -> Version {
    match outcome {
        Ok(CommandResult::Put { version }) => version,
        other => panic!("expected a put result, got {other:?}"),
    }
}

fn session_of(outcome: CommandOutcome) -> SessionId {
    match outcome {
        Ok(CommandResult::SessionCreated { session }) => session,
        other => panic!("expected a session, got {other:?}"),
    }
}

#[test]
fn puts_bump_the_revision_and_cas_checks_versions() {
    let mut sm = KvStateMachine::default();
    let v1 = version_of(sm.apply(put("/a", "1", Expected::Absent, None)));
    assert_eq!(v1, 1);
    assert_eq!(
        sm.apply(put("/a", "2", Expected::Absent, None)),
        Err(CommandError::BadVersion {
            key: "/a".to_string()
        })
    );
    assert_eq!(
        sm.apply(put("/a", "2", Expected::Version(v1 + 7), None)),
        Err(CommandError::BadVersion {
            key: "/a".to_string()
        })
    );
    let v2 = version_of(sm.apply(put("/a", "2", Expected::Version(v1), None)));
    assert!(v2 > v1);
    assert_eq!(sm.revision(), v2);
    assert_eq!(sm.get("/a").map(|v| v.value), Some(Bytes::from("2")));
}

#[test]
fn deleting_an_absent_key_changes_nothing() {
    let mut sm = KvStateMachine::default();
    let delete = |expected| Command::Delete {
        key: "/gone".to_string(),
        expected,
    };
    assert_eq!(
        sm.apply(delete(Expected::Any)),
        Ok(CommandResult::Deleted { revision: None })
    );
    assert_eq!(
        sm.apply(delete(Expected::Absent)),
        Ok(CommandResult::Deleted { revision: None })
    );
    assert!(matches!(
        sm.apply(delete(Expected::Version(1))),
        Err(CommandError::BadVersion { .. })
    ));
    assert_eq!(sm.revision(), 0);
}

#[test]
fn recreated_key_never_repeats_a_version() {
    let mut sm = KvStateMachine::default();
    let v1 = version_of(sm.apply(put("/k", "a", Expected::Any, None)));
    sm.apply(Command::Delete {
        key: "/k".to_string(),
        expected: Expected::Version(v1),
    })
    .unwrap();
    let v2 = version_of(sm.apply(put("/k", "b", Expected::Absent, None)));
    assert!(v2 > v1 + 1, "the delete took a revision of its own");
}

#[test]
fn invalid_keys_and_large_values_are_rejected() {
    let mut sm = KvStateMachine::new(StateMachineLimits {
        max_value_bytes: 4,
        history_events: 10,
    });
    let err: MetadataError = sm
        .apply(put("no-slash", "x", Expected::Any, None))
        .unwrap_err()
        .into();
    assert!(matches!(err, MetadataError::InvalidKey { .. }));
    let err: MetadataError = sm
        .apply(put("/k", "12345", Expected::Any, None))
        .unwrap_err()
        .into();
    assert_eq!(err, MetadataError::ValueTooLarge { size: 5, limit: 4 });
    assert_eq!(sm.revision(), 0);
}

#[test]
fn expiry_deletes_ephemeral_keys_one_revision_each() {
    let mut sm = KvStateMachine::default();
    let session = session_of(sm.apply(Command::CreateSession {
        ttl_ms: 1000,
        now_ms: 0,
    }));
    sm.apply(put("/eph/b", "x", Expected::Absent, Some(session)))
        .unwrap();
    sm.apply(put("/eph/a", "x", Expected::Absent, Some(session)))
        .unwrap();
    sm.apply(put("/persistent", "x", Expected::Absent, None))
        .unwrap();
    let before = sm.revision();

    sm.apply(Command::KeepAlive {
        session,
        now_ms: 900,
    })
    .unwrap();
    assert_eq!(
        sm.apply(Command::ExpireSessions { now_ms: 1500 }),
        Ok(CommandResult::Expired { sessions: vec![] })
    );
    assert_eq!(
        sm.apply(Command::ExpireSessions { now_ms: 1900 }),
        Ok(CommandResult::Expired {
            sessions: vec![session]
        })
    );

    assert!(sm.get("/eph/a").is_none() && sm.get("/eph/b").is_none());
    assert!(sm.get("/persistent").is_some());
    let events = sm
        .events_since(before + 1, &WatchTarget::Prefix("/".to_string()), 10)
        .unwrap();
    assert_eq!(
        events,
        vec![
            WatchEvent::Delete {
                key: "/eph/a".to_string(),
                revision: before + 1
            },
            WatchEvent::Delete {
                key: "/eph/b".to_string(),
                revision: before + 2
            },
        ]
    );
    assert_eq!(
        sm.apply(Command::KeepAlive {
            session,
            now_ms: 2000
        }),
        Err(CommandError::SessionExpired { session })
    );
    assert_eq!(
        sm.apply(put("/eph/c", "x", Expected::Any, Some(session))),
        Err(CommandError::SessionExpired { session })
    );
}

#[test]
fn overwriting_without_a_session_makes_a_key_persistent() {
    let mut sm = KvStateMachine::default();
    let session = session_of(sm.apply(Command::CreateSession {
        ttl_ms: 10,
        now_ms: 0,
    }));
    sm.apply(put("/k", "eph", Expected::Absent, Some(session)))
        .unwrap();
    sm.apply(put("/k", "kept", Expected::Any, None)).unwrap();
    sm.apply(Command::RevokeSession { session }).unwrap();
    assert_eq!(sm.get("/k").map(|v| v.value), Some(Bytes::from("kept")));
    assert_eq!(
        sm.apply(Command::RevokeSession { session }),
        Err(CommandError::SessionExpired { session })
    );
}

#[test]
fn list_pages_through_a_prefix_only() {
    let mut sm = KvStateMachine::default();
    for i in 0..25 {
        sm.apply(put(&format!("/p/{i:03}"), "v", Expected::Any, None))
            .unwrap();
    }
    sm.apply(put("/q/outside", "v", Expected::Any, None))
        .unwrap();
    sm.apply(put("/o", "v", Expected::Any, None)).unwrap();
    let mut seen = Vec::new();
    let mut start_after: Option<String> = None;
    loop {
        let page = sm.list("/p/", start_after.as_deref(), 10);
        assert!(page.entries.len() <= 10);
        seen.extend(page.entries.into_iter().map(|(key, _)| key));
        match page.next_start_after {
            Some(next) => start_after = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("/p/{i:03}")).collect();
    assert_eq!(seen, expected);
}

#[test]
fn snapshot_round_trip_preserves_state_and_history() {
    let mut sm = KvStateMachine::default();
    let session = session_of(sm.apply(Command::CreateSession {
        ttl_ms: 100,
        now_ms: 0,
    }));
    sm.apply(put("/a", "1", Expected::Any, Some(session)))
        .unwrap();
    sm.apply(put("/b", "2", Expected::Any, None)).unwrap();

    let bytes = serde_json::to_vec(&sm).unwrap();
    let mut restored: KvStateMachine = serde_json::from_slice(&bytes).unwrap();

    assert_eq!(restored.revision(), sm.revision());
    assert_eq!(restored.get("/a"), sm.get("/a"));
    let all = WatchTarget::Prefix("/".to_string());
    assert_eq!(
        restored.events_since(1, &all, 10).unwrap(),
        sm.events_since(1, &all, 10).unwrap()
    );
    // The restored machine keeps applying identically.
    assert_eq!(
        restored.apply(Command::ExpireSessions { now_ms: 100 }),
        sm.apply(Command::ExpireSessions { now_ms: 100 })
    );
    assert_eq!(restored.revision(), sm.revision());
    assert!(restored.get("/a").is_none());
}

#[test]
fn commands_round_trip_through_serde() {
    let command = put("/k", "v", Expected::Version(3), Some(9));
    let json = serde_json::to_string(&command).unwrap();
    assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), command);
    let outcome: CommandOutcome = Err(CommandError::BadVersion {
        key: "/k".to_string(),
    });
    let json = serde_json::to_string(&outcome).unwrap();
    assert_eq!(
        serde_json::from_str::<CommandOutcome>(&json).unwrap(),
        outcome
    );
}
