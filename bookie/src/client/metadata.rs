//! Ledger metadata: its JSON format under `/ledgers/<id>`, id allocation from
//! `/counters/ledger-id`, and the compare-and-swap loop every state change
//! goes through.
//!
//! Every update is a CAS on the version last read. The metadata is the single
//! point where writer, recoverers and replication workers serialize: a writer
//! may change its ensemble only while the state is `OPEN`; a recoverer first
//! moves `OPEN → IN_RECOVERY`, so a fenced writer's next CAS observes it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use magnetar_metadata::{Expected, MetadataError, MetadataStore, PutOptions, Version};
use serde::{Deserialize, Serialize};

use crate::keys::{ledger_key, LEDGER_ID_COUNTER_KEY};
use crate::ledger::{EntryId, LedgerError, LedgerId, LedgerOptions};

/// A bookie's id: its `host:port` address.
pub type BookieId = String;

/// Lifecycle state of a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LedgerState {
    Open,
    InRecovery,
    Closed,
}

/// The ensemble in force from `first_entry_id` up to the next segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub first_entry_id: EntryId,
    pub ensemble: Vec<BookieId>,
    /// Sorted ensemble indices whose bookie does *not* hold this segment's
    /// entries: the writer went on without it while every write set kept
    /// `Qa` live members. The failed bookie's id stays at its index, so the
    /// striping arithmetic is unchanged and auto-recovery knows where the
    /// copies belong. Absent from the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holes: Vec<u32>,
}

impl Segment {
    pub fn new(first_entry_id: EntryId, ensemble: Vec<BookieId>) -> Self {
        Segment {
            first_entry_id,
            ensemble,
            holes: Vec::new(),
        }
    }

    /// Whether the bookie at `index` skipped this segment's entries.
    pub fn is_hole(&self, index: usize) -> bool {
        self.holes.iter().any(|&hole| hole as usize == index)
    }

    /// The hole indices as `usize`.
    pub fn hole_indices(&self) -> Vec<usize> {
        self.holes.iter().map(|&hole| hole as usize).collect()
    }
}

/// The stored form of a ledger's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerMetadata {
    pub ensemble_size: u32,
    pub write_quorum: u32,
    pub ack_quorum: u32,
    pub state: LedgerState,
    /// Meaningful once `CLOSED`; `-1` for an empty ledger.
    pub last_entry_id: EntryId,
    /// Total payload bytes; meaningful once `CLOSED`.
    pub length: u64,
    /// Ordered by `first_entry_id`, the first one starting at 0.
    pub segments: Vec<Segment>,
    /// Always `"crc32c"`.
    pub digest: String,
    /// The ledger password, hex-encoded.
    pub password: String,
    /// Creation time, milliseconds since the Unix epoch.
    pub ctime: u64,
    #[serde(default)]
    pub custom: BTreeMap<String, String>,
}

impl LedgerMetadata {
    /// Metadata of a new, open ledger on `ensemble`.
    pub fn new_open(options: &LedgerOptions, ensemble: Vec<BookieId>) -> Self {
        let ctime = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        LedgerMetadata {
            ensemble_size: options.ensemble_size,
            write_quorum: options.write_quorum,
            ack_quorum: options.ack_quorum,
            state: LedgerState::Open,
            last_entry_id: -1,
            length: 0,
            segments: vec![Segment::new(0, ensemble)],
            digest: "crc32c".to_string(),
            password: encode_hex(&options.password),
            ctime,
            custom: options.custom.clone(),
        }
    }

    /// Whether `password` is this ledger's password.
    pub fn password_matches(&self, password: &[u8]) -> bool {
        self.password.eq_ignore_ascii_case(&encode_hex(password))
    }

    /// The ensemble that stores `entry_id`.
    pub fn ensemble_for(&self, entry_id: EntryId) -> &[BookieId] {
        self.segment_for(entry_id)
            .map(|segment| segment.ensemble.as_slice())
            .unwrap_or(&[])
    }

    /// The segment that `entry_id` belongs to.
    pub fn segment_for(&self, entry_id: EntryId) -> Option<&Segment> {
        let position = self
            .segments
            .partition_point(|segment| segment.first_entry_id <= entry_id);
        self.segments.get(position.saturating_sub(1))
    }

    /// Ensemble indices that hold `entry_id`: its write set minus the holes
    /// of its segment, in write order.
    pub fn live_write_set(&self, entry_id: EntryId) -> Vec<usize> {
        let segment = self.segment_for(entry_id);
        self.quorum()
            .write_set(entry_id)
            .into_iter()
            .filter(|&index| !segment.is_some_and(|segment| segment.is_hole(index)))
            .collect()
    }

    /// Whether any segment has a hole: some entries have fewer than `Qw` copies.
    pub fn has_holes(&self) -> bool {
        self.segments
            .iter()
            .any(|segment| !segment.holes.is_empty())
    }

    /// The last segment's holes.
    pub fn last_holes(&self) -> Vec<usize> {
        self.segments
            .last()
            .map(Segment::hole_indices)
            .unwrap_or_default()
    }

    /// The last segment's ensemble: where new entries go.
    pub fn last_ensemble(&self) -> &[BookieId] {
        self.segments
            .last()
            .map(|segment| segment.ensemble.as_slice())
            .unwrap_or(&[])
    }

    /// First entry id of the last segment.
    pub fn last_segment_first_entry(&self) -> EntryId {
        self.segments
            .last()
            .map(|segment| segment.first_entry_id)
            .unwrap_or(0)
    }

    /// Installs `ensemble` with `holes` for entries from `first_entry_id` on:
    /// replaces the last segment in place when it starts there, else appends
    /// a segment.
    pub fn set_ensemble_from(
        &mut self,
        first_entry_id: EntryId,
        ensemble: Vec<BookieId>,
        holes: Vec<u32>,
    ) {
        match self.segments.last_mut() {
            Some(last) if last.first_entry_id == first_entry_id => {
                last.ensemble = ensemble;
                last.holes = holes;
            }
            _ => self.segments.push(Segment {
                first_entry_id,
                ensemble,
                holes,
            }),
        }
    }

    /// Whether any segment references `bookie`.
    pub fn references(&self, bookie: &str) -> bool {
        self.segments
            .iter()
            .any(|segment| segment.ensemble.iter().any(|b| b == bookie))
    }

    /// Every bookie any segment references, each once.
    pub fn referenced_bookies(&self) -> std::collections::BTreeSet<&str> {
        self.segments
            .iter()
            .flat_map(|segment| segment.ensemble.iter().map(String::as_str))
            .collect()
    }

    /// The ledger password (stored hex-encoded); `None` if the stored text is
    /// not valid hex.
    pub fn password_bytes(&self) -> Option<Bytes> {
        decode_hex(&self.password).map(Bytes::from)
    }

    pub fn quorum(&self) -> crate::client::write_set::Quorum {
        crate::client::write_set::Quorum::new(
            self.ensemble_size,
            self.write_quorum,
            self.ack_quorum,
        )
    }

    /// Why the segments' holes are impossible, if they are: a hole outside
    /// the ensemble, or a write set left with fewer than `Qa` live members.
    pub fn hole_violation(&self) -> Option<String> {
        let quorum = self.quorum();
        self.segments.iter().find_map(|segment| {
            (!quorum.tolerates(&segment.hole_indices())).then(|| {
                format!(
                    "segment at entry {} has holes {:?}, which leave a write set below the ack quorum",
                    segment.first_entry_id, segment.holes
                )
            })
        })
    }

    /// Parses the JSON stored under `key`.
    pub fn parse(key: &str, value: &[u8]) -> Result<Self, LedgerError> {
        let corrupt = |reason: String| {
            LedgerError::Metadata(MetadataError::Corrupt {
                key: key.to_string(),
                reason,
            })
        };
        let metadata: LedgerMetadata =
            serde_json::from_slice(value).map_err(|error| corrupt(error.to_string()))?;
        match metadata.hole_violation() {
            Some(reason) => Err(corrupt(reason)),
            None => Ok(metadata),
        }
    }

    fn to_bytes(&self) -> Bytes {
        // Serializing plain structs of strings and integers cannot fail.
        Bytes::from(serde_json::to_vec(self).expect("ledger metadata is always serializable"))
    }
}

/// Metadata read together with its version: the input of a CAS.
#[derive(Debug, Clone)]
pub struct VersionedMetadata {
    pub metadata: LedgerMetadata,
    pub version: Version,
}

/// What a CAS-loop step decides after looking at the current metadata.
pub enum CasStep {
    /// Write this metadata.
    Write(LedgerMetadata),
    /// The current metadata is already what the caller wants.
    Done,
}

/// Ledger metadata access over a [`MetadataStore`].
#[derive(Clone)]
pub struct LedgerMetadataStore {
    store: Arc<dyn MetadataStore>,
    cas_attempts: u32,
}

impl LedgerMetadataStore {
    pub fn new(store: Arc<dyn MetadataStore>, cas_attempts: u32) -> Self {
        LedgerMetadataStore {
            store,
            cas_attempts: cas_attempts.max(1),
        }
    }

    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    /// Allocates a ledger id from the shared counter
    /// ([`magnetar_metadata::counter`]). Ids only grow, so a deleted
    /// ledger's id is never handed out again. The first id is 1.
    pub async fn allocate_ledger_id(&self) -> Result<LedgerId, LedgerError> {
        Ok(magnetar_metadata::counter::next_id(self.store.as_ref(), LEDGER_ID_COUNTER_KEY).await?)
    }

    /// Writes the metadata of a new ledger; the key must not exist.
    pub async fn create(
        &self,
        ledger_id: LedgerId,
        metadata: &LedgerMetadata,
    ) -> Result<Version, LedgerError> {
        Ok(self
            .store
            .put(
                &ledger_key(ledger_id),
                metadata.to_bytes(),
                PutOptions::expect(Expected::Absent),
            )
            .await?)
    }

    /// Reads a ledger's metadata.
    pub async fn read(&self, ledger_id: LedgerId) -> Result<VersionedMetadata, LedgerError> {
        let key = ledger_key(ledger_id);
        let versioned = self
            .store
            .get(&key)
            .await?
            .ok_or(LedgerError::NoSuchLedger(ledger_id))?;
        Ok(VersionedMetadata {
            metadata: LedgerMetadata::parse(&key, &versioned.value)?,
            version: versioned.version,
        })
    }

    /// Runs a CAS loop starting from `current`: `step` looks at the metadata
    /// and decides what to write (or refuses with an error); on a version
    /// conflict the metadata is re-read and `step` is asked again.
    pub async fn update(
        &self,
        ledger_id: LedgerId,
        mut current: VersionedMetadata,
        mut step: impl FnMut(&LedgerMetadata) -> Result<CasStep, LedgerError>,
    ) -> Result<VersionedMetadata, LedgerError> {
        let key = ledger_key(ledger_id);
        for _ in 0..self.cas_attempts {
            let next = match step(&current.metadata)? {
                CasStep::Done => return Ok(current),
                CasStep::Write(next) => next,
            };
            let options = PutOptions::expect(Expected::Version(current.version));
            match self.store.put(&key, next.to_bytes(), options).await {
                Ok(version) => {
                    return Ok(VersionedMetadata {
                        metadata: next,
                        version,
                    })
                }
                Err(MetadataError::BadVersion { .. }) => current = self.read(ledger_id).await?,
                Err(other) => return Err(other.into()),
            }
        }
        Err(contention(&key))
    }

    /// Deletes a ledger's metadata.
    pub async fn delete(&self, ledger_id: LedgerId) -> Result<(), LedgerError> {
        let key = ledger_key(ledger_id);
        if self.store.get(&key).await?.is_none() {
            return Err(LedgerError::NoSuchLedger(ledger_id));
        }
        Ok(self.store.delete(&key, Expected::Any).await?)
    }
}

fn contention(key: &str) -> LedgerError {
    LedgerError::Metadata(MetadataError::Unavailable(format!(
        "too much contention on {key}"
    )))
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata_with_segments(segments: &[(EntryId, &[&str])]) -> LedgerMetadata {
        let options = LedgerOptions {
            ensemble_size: 2,
            write_quorum: 2,
            ack_quorum: 1,
            password: Bytes::from_static(b"secret"),
            custom: BTreeMap::new(),
        };
        let mut metadata = LedgerMetadata::new_open(&options, vec![]);
        metadata.segments = segments
            .iter()
            .map(|(first, bookies)| {
                Segment::new(*first, bookies.iter().map(|b| b.to_string()).collect())
            })
            .collect();
        metadata
    }

    #[test]
    fn ensemble_for_picks_the_segment_containing_the_entry() {
        let metadata =
            metadata_with_segments(&[(0, &["a", "b"]), (5, &["a", "c"]), (9, &["d", "c"])]);
        assert_eq!(metadata.ensemble_for(0), ["a", "b"]);
        assert_eq!(metadata.ensemble_for(4), ["a", "b"]);
        assert_eq!(metadata.ensemble_for(5), ["a", "c"]);
        assert_eq!(metadata.ensemble_for(8), ["a", "c"]);
        assert_eq!(metadata.ensemble_for(100), ["d", "c"]);
        assert!(metadata.references("b") && !metadata.references("z"));
    }

    #[test]
    fn set_ensemble_replaces_in_place_or_appends() {
        let mut metadata = metadata_with_segments(&[(0, &["a", "b"])]);
        metadata.set_ensemble_from(0, vec!["a".into(), "c".into()], vec![]);
        assert_eq!(metadata.segments.len(), 1);
        metadata.set_ensemble_from(3, vec!["d".into(), "c".into()], vec![]);
        assert_eq!(metadata.segments.len(), 2);
        assert_eq!(metadata.ensemble_for(2), ["a", "c"]);
        assert_eq!(metadata.ensemble_for(3), ["d", "c"]);
    }

    #[test]
    fn json_round_trip_and_password_check() {
        let metadata = metadata_with_segments(&[(0, &["a", "b"])]);
        let parsed = LedgerMetadata::parse("k", &metadata.to_bytes()).unwrap();
        assert_eq!(parsed, metadata);
        assert!(parsed.password_matches(b"secret"));
        assert_eq!(
            parsed.password_bytes().unwrap(),
            Bytes::from_static(b"secret")
        );
        assert!(!parsed.password_matches(b"other"));
        let text = String::from_utf8(metadata.to_bytes().to_vec()).unwrap();
        assert!(text.contains("\"state\":\"OPEN\""), "{text}");
        assert!(matches!(
            LedgerMetadata::parse("k", b"{"),
            Err(LedgerError::Metadata(MetadataError::Corrupt { .. }))
        ));
    }

    #[test]
    fn holes_round_trip_and_impossible_holes_are_corrupt() {
        let mut metadata = metadata_with_segments(&[(0, &["a", "b"]), (4, &["a", "b"])]);
        let text = String::from_utf8(metadata.to_bytes().to_vec()).unwrap();
        assert!(!text.contains("holes"), "no holes, no field: {text}");
        metadata.segments[1].holes = vec![1];
        let parsed = LedgerMetadata::parse("k", &metadata.to_bytes()).unwrap();
        assert_eq!(parsed, metadata);
        assert!(parsed.has_holes());
        assert_eq!(parsed.live_write_set(3), vec![1, 0]);
        assert_eq!(parsed.live_write_set(5), vec![0]);
        assert_eq!(parsed.last_holes(), vec![1]);
        // 2/2/1 with both bookies holes: nothing could hold the entries.
        metadata.segments[1].holes = vec![0, 1];
        assert!(matches!(
            LedgerMetadata::parse("k", &metadata.to_bytes()),
            Err(LedgerError::Metadata(MetadataError::Corrupt { .. }))
        ));
    }
}
