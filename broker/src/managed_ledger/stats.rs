//! Storage statistics of a managed ledger, live or from stored metadata
//! (for admin requests about topics not loaded on this broker).

use super::cursor::ManagedCursor;
use super::error::ManagedLedgerError;
use super::factory::ManagedLedgerFactory;
use super::layout::LedgerLayout;
use super::position::Position;
use super::stored::{cursor_prefix, decode, ledger_list_key, StoredCursor, StoredLedgerList};
use super::writability::Writability;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorStats {
    pub name: String,
    /// Unacked entries.
    pub backlog: u64,
    pub mark_delete: Position,
    pub individually_acked_ranges: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageStats {
    pub entries: u64,
    pub size_bytes: u64,
    pub ledgers: usize,
    /// Whether the numbers come from an instance open on this broker.
    pub loaded: bool,
    pub cursors: Vec<CursorStats>,
    /// The write path of the instance open here; `None` when not loaded.
    pub writability: Option<Writability>,
}

impl ManagedLedgerFactory {
    /// Stats of `name`: from the open instance if loaded here, else from
    /// the stored ledger list and cursors (the last ledger's count may lag
    /// while another broker writes to it).
    pub async fn storage_stats(&self, name: &str) -> Result<StorageStats, ManagedLedgerError> {
        if let Some(ml) = self.loaded().into_iter().find(|ml| ml.name() == name) {
            let stats = ml.stats();
            let cursors = ml
                .cursor_names()
                .into_iter()
                .filter_map(|c| ml.cursor(&c))
                .map(|c| CursorStats {
                    name: c.name().to_string(),
                    backlog: c.backlog(),
                    mark_delete: c.mark_delete_position(),
                    individually_acked_ranges: c.acked_range_count(),
                })
                .collect();
            return Ok(StorageStats {
                entries: stats.entries,
                size_bytes: stats.size_bytes,
                ledgers: stats.ledgers,
                loaded: true,
                cursors,
                writability: Some(ml.writability()),
            });
        }
        let key = ledger_list_key(name);
        let stored = self
            .metadata()
            .get(&key)
            .await?
            .ok_or_else(|| ManagedLedgerError::NoSuchManagedLedger(name.into()))?;
        let list: StoredLedgerList = decode(&key, &stored.value)?;
        let layout = LedgerLayout::from_ledgers(
            list.ledgers
                .iter()
                .map(|l| (l.ledger_id, l.entries as i64, l.size)),
        );
        let (entries, size_bytes) = layout.totals();
        let prefix = cursor_prefix(name);
        let mut cursors = Vec::new();
        for (cursor_key, value) in self.metadata().list_all(&prefix).await? {
            let cursor_name = &cursor_key[prefix.len()..];
            if cursor_name.contains('/') {
                continue;
            }
            let parsed: StoredCursor = decode(&cursor_key, &value.value)?;
            let acks = ManagedCursor::acks_from_stored(&layout, &parsed);
            cursors.push(CursorStats {
                name: cursor_name.to_string(),
                backlog: acks.unacked_up_to(layout.last_confirmed_offset()),
                mark_delete: layout.position_of(acks.mark_delete()),
                individually_acked_ranges: acks.range_count(),
            });
        }
        Ok(StorageStats {
            entries,
            size_bytes,
            ledgers: layout.slots().len(),
            loaded: false,
            cursors,
            writability: None,
        })
    }
}
