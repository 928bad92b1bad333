//! The read-side protocol operations, shared by readers, recovery and
//! re-replication:
//!
//! - [`read_entry`]: one entry from any replica of its write set, trying them
//!   in order, with a speculative read of the next replica when one is slow;
//!   a replica whose copy fails the checksum is skipped ([`read_entry_from`]
//!   does the same over an explicit replica list).
//! - [`read_for_recovery`]: one entry asked of its whole write set at once;
//!   "absent" only when `live - Qa + 1` replicas say so (then it can never
//!   have been confirmed).
//! - [`read_last_entries`]: `ReadEntry(-1)` to every live bookie of the last
//!   ensemble, optionally fencing, until every write set has `live - Qa + 1`
//!   definitive answers; returns the highest LAC found in the entry headers.
//!
//! Holes (ensemble indices that skipped a segment's entries) are never
//! asked, and `live` counts a write set's members that are not holes: an
//! entry confirmed there has `Qa` acks among them.

use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{FuturesUnordered, StreamExt};
use magnetar_proto::bookie::{ReadRequest, ReadResponse, StatusCode};

use crate::client::config::ClientConfig;
use crate::client::metadata::LedgerMetadata;
use crate::client::transport::{BookieConnector, TransportError};
use crate::client::write_set::Coverage;
use crate::digest::{self, DecodedEntry};
use crate::ledger::{EntryId, LedgerError, LedgerId, ReadTarget, ReplicaFailure};

/// What readers need: how to reach bookies and how long to wait.
#[derive(Clone)]
pub struct ReadContext {
    pub connector: Arc<dyn BookieConnector>,
    pub config: ClientConfig,
}

/// An entry as read from a bookie: the raw body (to re-add it verbatim) and
/// its verified decoding.
#[derive(Debug, Clone)]
pub struct FetchedEntry {
    pub body: Bytes,
    pub decoded: DecodedEntry,
}

/// One replica's answer to a read.
enum ReplicaAnswer {
    Found(FetchedEntry),
    Missing,
    Failed(ReplicaFailure),
}

impl ReadContext {
    async fn ask(&self, bookie: &str, request: ReadRequest) -> ReplicaAnswer {
        let (ledger_id, entry_id) = (request.ledger_id, request.entry_id);
        let transport = self.connector.bookie(bookie);
        let call = transport.read_entry(request);
        let response = match tokio::time::timeout(self.config.read_timeout, call).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => return ReplicaAnswer::Failed(error.into()),
            Err(_) => {
                let timeout = TransportError::Timeout {
                    bookie: bookie.to_string(),
                };
                return ReplicaAnswer::Failed(timeout.into());
            }
        };
        classify(bookie, ledger_id, entry_id, response)
    }
}

fn classify(
    bookie: &str,
    ledger_id: i64,
    entry_id: EntryId,
    response: ReadResponse,
) -> ReplicaAnswer {
    match response.status() {
        StatusCode::StatusOk => match digest::decode_entry(&response.body) {
            Ok(decoded)
                if decoded.ledger_id == ledger_id
                    && (entry_id < 0 || decoded.entry_id == entry_id) =>
            {
                ReplicaAnswer::Found(FetchedEntry {
                    body: response.body,
                    decoded,
                })
            }
            Ok(_) | Err(_) => {
                tracing::warn!(
                    bookie,
                    ledger_id,
                    entry_id,
                    "entry failed digest verification"
                );
                ReplicaAnswer::Failed(ReplicaFailure::DigestMismatch {
                    bookie: bookie.to_string(),
                })
            }
        },
        StatusCode::StatusNoEntry | StatusCode::StatusNoLedger => ReplicaAnswer::Missing,
        StatusCode::StatusUnauthorized => ReplicaAnswer::Failed(ReplicaFailure::Unauthorized {
            bookie: bookie.to_string(),
        }),
        status => ReplicaAnswer::Failed(ReplicaFailure::Status {
            bookie: bookie.to_string(),
            status,
            message: response.message,
        }),
    }
}

fn plain_read(ledger_id: LedgerId, entry_id: EntryId) -> ReadRequest {
    ReadRequest {
        ledger_id: ledger_id as i64,
        entry_id,
        fence: false,
        master_key: Bytes::new(),
    }
}

/// Reads `entry_id` from the replicas of its write set (see the module doc).
pub async fn read_entry(
    context: &ReadContext,
    ledger_id: LedgerId,
    metadata: &LedgerMetadata,
    entry_id: EntryId,
) -> Result<FetchedEntry, LedgerError> {
    let ensemble = metadata.ensemble_for(entry_id);
    let replicas: Vec<&str> = metadata
        .live_write_set(entry_id)
        .into_iter()
        .filter_map(|i| ensemble.get(i).map(String::as_str))
        .collect();
    read_entry_from(context, ledger_id, &replicas, entry_id).await
}

/// Reads `entry_id` from `replicas`, trying them in order with speculative
/// reads (re-replication passes only the replicas that are still alive).
pub async fn read_entry_from(
    context: &ReadContext,
    ledger_id: LedgerId,
    replicas: &[&str],
    entry_id: EntryId,
) -> Result<FetchedEntry, LedgerError> {
    let mut attempts = FuturesUnordered::new();
    let mut next = 0;
    let (mut missing, mut mismatched, mut failures) = (0, 0, Vec::new());
    loop {
        if attempts.is_empty() {
            let Some(bookie) = replicas.get(next) else {
                break;
            };
            attempts.push(context.ask(bookie, plain_read(ledger_id, entry_id)));
            next += 1;
        }
        let answer = tokio::select! {
            Some(answer) = attempts.next() => answer,
            _ = tokio::time::sleep(context.config.speculative_read_timeout), if next < replicas.len() => {
                attempts.push(context.ask(replicas[next], plain_read(ledger_id, entry_id)));
                next += 1;
                continue;
            }
        };
        match answer {
            ReplicaAnswer::Found(entry) => return Ok(entry),
            ReplicaAnswer::Missing => missing += 1,
            ReplicaAnswer::Failed(ReplicaFailure::DigestMismatch { .. }) => mismatched += 1,
            ReplicaAnswer::Failed(failure) => failures.push(failure),
        }
    }
    if !failures.is_empty() || replicas.is_empty() {
        Err(LedgerError::ReadUnavailable {
            ledger_id,
            read: ReadTarget::Entry(entry_id),
            failures,
        })
    } else if mismatched > 0 {
        Err(LedgerError::DigestMismatch {
            ledger_id,
            entry_id,
        })
    } else {
        debug_assert_eq!(missing, replicas.len());
        Err(LedgerError::NoSuchEntry {
            ledger_id,
            entry_id,
        })
    }
}

/// Asks the whole write set of `entry_id` at once (recovery). `Ok(None)`:
/// enough replicas lack it that it was never confirmed.
pub async fn read_for_recovery(
    context: &ReadContext,
    ledger_id: LedgerId,
    metadata: &LedgerMetadata,
    entry_id: EntryId,
) -> Result<Option<FetchedEntry>, LedgerError> {
    let quorum = metadata.quorum();
    let ensemble = metadata.ensemble_for(entry_id);
    let live = metadata.live_write_set(entry_id);
    let absent_threshold = quorum.absent_threshold(live.len());
    let mut attempts: FuturesUnordered<_> = live
        .into_iter()
        .filter_map(|index| ensemble.get(index))
        .map(|bookie| context.ask(bookie, plain_read(ledger_id, entry_id)))
        .collect();
    let (mut missing, mut failures) = (0, Vec::new());
    while let Some(answer) = attempts.next().await {
        match answer {
            ReplicaAnswer::Found(entry) => return Ok(Some(entry)),
            ReplicaAnswer::Missing => {
                missing += 1;
                if missing >= absent_threshold {
                    return Ok(None);
                }
            }
            ReplicaAnswer::Failed(ReplicaFailure::Unauthorized { .. }) => {
                return Err(LedgerError::Unauthorized(ledger_id))
            }
            ReplicaAnswer::Failed(failure) => failures.push(failure),
        }
    }
    Err(LedgerError::ReadUnavailable {
        ledger_id,
        read: ReadTarget::RecoveryEntry(entry_id),
        failures,
    })
}

/// Sends `ReadEntry(-1)` (fencing with `master_key` when given) to every
/// bookie of the last ensemble and returns the highest LAC carried by the
/// last entries, once every write set has enough definitive answers.
pub async fn read_last_entries(
    context: &ReadContext,
    ledger_id: LedgerId,
    metadata: &LedgerMetadata,
    fence_with: Option<Bytes>,
) -> Result<EntryId, LedgerError> {
    let holes = metadata.last_holes();
    let mut coverage = Coverage::with_holes(metadata.quorum(), holes.clone());
    let mut attempts: FuturesUnordered<_> = metadata
        .last_ensemble()
        .iter()
        .enumerate()
        .filter(|(index, _)| !holes.contains(index))
        .map(|(index, bookie)| {
            let request = ReadRequest {
                ledger_id: ledger_id as i64,
                entry_id: -1,
                fence: fence_with.is_some(),
                master_key: fence_with.clone().unwrap_or_default(),
            };
            async move { (index, context.ask(bookie, request).await) }
        })
        .collect();
    let mut max_lac: EntryId = -1;
    let mut failures = Vec::new();
    while let Some((index, answer)) = attempts.next().await {
        match answer {
            ReplicaAnswer::Found(entry) => {
                max_lac = max_lac.max(entry.decoded.lac);
                coverage.record(index);
            }
            ReplicaAnswer::Missing => coverage.record(index),
            ReplicaAnswer::Failed(ReplicaFailure::Unauthorized { .. }) => {
                return Err(LedgerError::Unauthorized(ledger_id))
            }
            ReplicaAnswer::Failed(failure) => failures.push(failure),
        }
        if coverage.is_covered() {
            return Ok(max_lac);
        }
    }
    Err(LedgerError::ReadUnavailable {
        ledger_id,
        read: ReadTarget::LastEntries,
        failures,
    })
}
