//! Checks on what the storage layer holds, read straight from the metadata
//! store and from each bookie: full replication of a closed ledger, the
//! ledgers of a topic, leftover holes and under-replication markers, and
//! the ledger-id counter.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use magnetar_bookie::client::{LedgerClient, LedgerMetadata, LedgerState};
use magnetar_bookie::keys::{marker_key, LEDGER_ID_COUNTER_KEY};
use magnetar_bookie::{digest, EntryId, LedgerId, LedgerStore, OpenMode};
use magnetar_metadata::MetadataStore;
use magnetar_proto::bookie::{ReadRequest, StatusCode};

/// Entries read per call through the ordinary read path.
const READ_BATCH: i64 = 500;

pub async fn ledger_metadata(client: &LedgerClient, ledger_id: LedgerId) -> Result<LedgerMetadata> {
    Ok(client
        .ledger_metadata(ledger_id)
        .await
        .with_context(|| format!("read metadata of ledger {ledger_id}"))?
        .metadata)
}

/// Checks that closed ledger `ledger_id` is fully replicated and returns
/// its entries' payloads: no segment has holes, no segment names `absent`,
/// every entry's write set has `write_quorum` distinct bookies, and each of
/// them serves the entry on its own (direct read, digest verified, same
/// bytes everywhere). Finally the ordinary read path returns the same.
pub async fn assert_fully_replicated(
    client: &LedgerClient,
    ledger_id: LedgerId,
    write_quorum: usize,
    absent: Option<&str>,
) -> Result<Vec<Bytes>> {
    let metadata = ledger_metadata(client, ledger_id).await?;
    ensure!(
        metadata.state == LedgerState::Closed,
        "ledger {ledger_id} is {:?}, not closed",
        metadata.state
    );
    ensure!(
        !metadata.has_holes(),
        "ledger {ledger_id} still has holes: {:?}",
        metadata.segments
    );
    if let Some(absent) = absent {
        ensure!(
            !metadata.references(absent),
            "ledger {ledger_id} still names {absent}: {:?}",
            metadata.segments
        );
    }
    let connector = &client.read_context().connector;
    let quorum = metadata.quorum();
    let last_entry = metadata.last_entry_id;
    let mut payloads = Vec::with_capacity(usize::try_from(last_entry + 1).unwrap_or(0));
    for entry_id in 0..=last_entry {
        let ensemble = metadata.ensemble_for(entry_id);
        let replicas: Vec<&str> = quorum
            .write_set(entry_id)
            .into_iter()
            .map(|index| ensemble[index].as_str())
            .collect();
        let distinct: BTreeSet<&str> = replicas.iter().copied().collect();
        ensure!(
            distinct.len() == write_quorum,
            "ledger {ledger_id} entry {entry_id}: write set {replicas:?}, expected {write_quorum} bookies"
        );
        let reads = replicas.iter().map(|bookie| async move {
            let request = ReadRequest {
                ledger_id: ledger_id as i64,
                entry_id,
                fence: false,
                master_key: Bytes::new(),
            };
            let response = connector
                .bookie(bookie)
                .read_entry(request)
                .await
                .with_context(|| {
                    format!("read entry {entry_id} of ledger {ledger_id} from {bookie}")
                })?;
            ensure!(
                response.status() == StatusCode::StatusOk,
                "bookie {bookie} lacks entry {entry_id} of ledger {ledger_id} ({:?})",
                response.status()
            );
            let decoded = digest::decode_entry(&response.body)
                .with_context(|| format!("entry {entry_id} on {bookie} fails its digest"))?;
            Ok::<_, anyhow::Error>(decoded.payload)
        });
        let bodies = futures::future::try_join_all(reads).await?;
        ensure!(
            bodies.windows(2).all(|pair| pair[0] == pair[1]),
            "ledger {ledger_id} entry {entry_id}: replicas {replicas:?} differ"
        );
        payloads.push(bodies.into_iter().next().unwrap_or_default());
    }
    if last_entry >= 0 {
        let password = metadata
            .password_bytes()
            .context("ledger password is not hex")?;
        let reader = client
            .open(ledger_id, password, OpenMode::NoRecovery)
            .await
            .with_context(|| format!("open ledger {ledger_id} for reading"))?;
        let mut first = 0;
        while first <= last_entry {
            let last = (first + READ_BATCH - 1).min(last_entry);
            let batch = reader
                .read(first, last)
                .await
                .with_context(|| format!("read {first}..={last} of ledger {ledger_id}"))?;
            for (offset, body) in batch.iter().enumerate() {
                let entry_id = first + offset as EntryId;
                ensure!(
                    payloads.get(entry_id as usize) == Some(body),
                    "ledger {ledger_id} entry {entry_id}: read path disagrees with the replicas"
                );
            }
            ensure!(
                batch.len() as i64 == last - first + 1,
                "short read of ledger {ledger_id} at {first}"
            );
            first = last + 1;
        }
    }
    Ok(payloads)
}

/// Metadata key of the ledger list of `public/default/<topic>`.
pub fn topic_ledger_list_key(topic: &str) -> String {
    format!("/managed-ledgers/public/default/persistent/{topic}")
}

/// The ledger ids of persistent topic `public/default/<topic>`, oldest first.
pub async fn topic_ledgers(store: &Arc<dyn MetadataStore>, topic: &str) -> Result<Vec<LedgerId>> {
    let key = topic_ledger_list_key(topic);
    let Some(stored) = store
        .get(&key)
        .await
        .with_context(|| format!("read {key}"))?
    else {
        bail!("{key} does not exist");
    };
    let list: serde_json::Value =
        serde_json::from_slice(&stored.value).with_context(|| format!("parse {key}"))?;
    list["ledgers"]
        .as_array()
        .with_context(|| format!("{key} has no ledger array"))?
        .iter()
        .map(|ledger| {
            ledger["ledger_id"]
                .as_u64()
                .with_context(|| format!("{key}: ledger without an id"))
        })
        .collect()
}

/// What still keeps `ledgers` below full replication: one line per segment
/// with holes and per under-replication marker. Empty when none.
pub async fn replication_gaps(
    client: &LedgerClient,
    store: &Arc<dyn MetadataStore>,
    ledgers: &[LedgerId],
) -> Result<Vec<String>> {
    let mut gaps = Vec::new();
    for &ledger_id in ledgers {
        let metadata = ledger_metadata(client, ledger_id).await?;
        for segment in metadata.segments.iter().filter(|s| !s.holes.is_empty()) {
            gaps.push(format!(
                "ledger {ledger_id} segment at {} has holes {:?} ({:?})",
                segment.first_entry_id, segment.holes, segment.ensemble
            ));
        }
        if store.get(&marker_key(ledger_id)).await?.is_some() {
            gaps.push(format!("ledger {ledger_id} is marked under-replicated"));
        }
    }
    Ok(gaps)
}

/// Whether any segment of `ledgers` has holes.
pub async fn any_holes(client: &LedgerClient, ledgers: &[LedgerId]) -> Result<bool> {
    for &ledger_id in ledgers {
        if ledger_metadata(client, ledger_id).await?.has_holes() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The last ledger id handed out (0 before the first).
pub async fn ledger_id_counter(store: &Arc<dyn MetadataStore>) -> Result<u64> {
    match store.get(LEDGER_ID_COUNTER_KEY).await? {
        None => Ok(0),
        Some(value) => std::str::from_utf8(&value.value)
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .with_context(|| format!("{LEDGER_ID_COUNTER_KEY} is not a number")),
    }
}
