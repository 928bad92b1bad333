//! A durable cursor (subscription): mark-delete position, individually
//! acked ranges and read position, over the managed ledger's offsets.
//!
//! Acks change memory only and mark the cursor dirty; the maintenance task
//! persists dirty cursors every `cursor_flush_interval` (and `flush()` /
//! close persist at once). Acks newer than the last flush are therefore lost
//! in a crash and their messages redelivered: the *unpersisted-ack window*.
//! Only the first `max_persisted_ack_ranges` ranges are persisted; the rest
//! are redelivered after a crash, never lost.
//!
//! A *non-durable* cursor (a reader) has the same state but is never
//! stored and never holds back trimming; if trimming passes it, it moves
//! on to the first retained entry.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use magnetar_metadata::{Expected, MetadataError, PutOptions, Version};
use parking_lot::Mutex;

use super::ack_state::AckState;
use super::batch_acks::{BatchAcks, MAX_PERSISTED_BATCH_ACKS};
use super::config::InitialPosition;
use super::cursor_context::CursorContext;
use super::error::ManagedLedgerError;
use super::layout::LedgerLayout;
use super::position::{Entry, Position};
use super::stored::{decode, encode, now_millis, StoredCursor};

/// Redelivery counts stored with a cursor at most; the rest start again
/// from zero after a restart.
pub const MAX_PERSISTED_REDELIVERIES: usize = 10_000;

pub struct ManagedCursor {
    name: String,
    key: String,
    durable: bool,
    ctx: Arc<CursorContext>,
    state: Mutex<CursorState>,
    /// Version of the stored cursor; held across a persist so persists never interleave.
    persisted_version: tokio::sync::Mutex<Option<Version>>,
    /// Set once the cursor is deleted: a flush after that writes nothing
    /// (its stored key is gone, and a put would see another version).
    retired: AtomicBool,
}

struct CursorState {
    acks: AckState,
    /// Batch entries acknowledged in part (persisted, capped).
    batch_acks: BatchAcks,
    /// Redelivery counts of unacknowledged entries (persisted, capped).
    redeliveries: BTreeMap<Position, u32>,
    /// Next offset to read (>= mark-delete + 1).
    read_offset: i64,
    dirty: bool,
    /// Mark-delete offset of the last successful persist: what trimming may
    /// rely on. A reset lowers it at once (the cursor needs the entries
    /// again before any persist says so).
    persisted_mark_delete: i64,
    /// Resets so far: a persist that began before a reset does not raise
    /// `persisted_mark_delete` past it.
    resets: u64,
    properties: BTreeMap<String, String>,
    /// When a consumer last attached or left (Unix ms).
    last_active: u64,
}

impl ManagedCursor {
    /// Creates the cursor `name` at `initial` and persists it at once. If
    /// another handle stored it concurrently, adopts the stored state.
    pub(crate) async fn create(
        ctx: &Arc<CursorContext>,
        name: &str,
        initial: InitialPosition,
    ) -> Result<Self, ManagedLedgerError> {
        let key = ctx.cursor_key(name);
        let (acks, stored) = {
            let layout = ctx.log().layout();
            let mark_delete = match initial {
                InitialPosition::Earliest => layout.first_offset() - 1,
                InitialPosition::Latest => layout.last_confirmed_offset(),
            };
            let stored = StoredCursor {
                mark_delete: layout.position_of(mark_delete),
                individually_acked: Vec::new(),
                properties: Default::default(),
                redeliveries: Vec::new(),
                batch_acks: Vec::new(),
                last_active: Some(now_millis()),
            };
            (AckState::new(mark_delete), stored)
        };
        let put = ctx
            .metadata()
            .put(&key, encode(&stored), PutOptions::expect(Expected::Absent))
            .await;
        match put {
            Ok(version) => Ok(Self::new(ctx, name, acks, stored.properties, Some(version))),
            Err(MetadataError::BadVersion { .. }) => {
                // Created concurrently by another handle: adopt the stored state.
                let existing = ctx
                    .metadata()
                    .get(&key)
                    .await?
                    .ok_or_else(|| ctx.status().fenced())?;
                let parsed: StoredCursor = decode(&key, &existing.value)?;
                Ok(Self::restore(ctx, name, parsed, existing.version))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A non-durable cursor whose next read is the first entry at or after
    /// `start`.
    pub(crate) fn non_durable(ctx: &Arc<CursorContext>, name: &str, start: Position) -> Self {
        let mark_delete = ctx.log().layout().first_offset_at_or_after(start) - 1;
        let mut cursor = Self::new(ctx, name, AckState::new(mark_delete), BTreeMap::new(), None);
        cursor.durable = false;
        let state = cursor.state.get_mut();
        state.dirty = false;
        state.persisted_mark_delete = i64::MAX;
        cursor
    }

    /// The cursor `name` as stored at `version`.
    pub(crate) fn restore(
        ctx: &Arc<CursorContext>,
        name: &str,
        stored: StoredCursor,
        version: Version,
    ) -> Self {
        let layout = ctx.log().layout();
        let acks = Self::acks_from_stored(&layout, &stored);
        let mark_delete = acks.mark_delete();
        let cursor = Self::new(ctx, name, acks, stored.properties, Some(version));
        {
            let mut state = cursor.state.lock();
            state.redeliveries = stored.redeliveries.into_iter().collect();
            for (position, remaining) in stored.batch_acks {
                if let Some(offset) = layout.offset_of(position).filter(|o| *o > mark_delete) {
                    state.batch_acks.restore(offset, remaining);
                }
            }
            if let Some(last_active) = stored.last_active {
                state.last_active = last_active;
            }
        }
        cursor
    }

    /// A cursor with the given state; `version` is that of the stored
    /// cursor it was loaded from (`None` for a new one, which starts dirty).
    fn new(
        ctx: &Arc<CursorContext>,
        name: &str,
        acks: AckState,
        properties: BTreeMap<String, String>,
        version: Option<Version>,
    ) -> Self {
        let mark_delete = acks.mark_delete();
        ManagedCursor {
            name: name.to_string(),
            key: ctx.cursor_key(name),
            durable: true,
            ctx: ctx.clone(),
            state: Mutex::new(CursorState {
                read_offset: mark_delete + 1,
                acks,
                batch_acks: BatchAcks::default(),
                redeliveries: BTreeMap::new(),
                last_active: now_millis(),
                dirty: version.is_none(),
                persisted_mark_delete: if version.is_some() {
                    mark_delete
                } else {
                    i64::MIN
                },
                resets: 0,
                properties,
            }),
            persisted_version: tokio::sync::Mutex::new(version),
            retired: AtomicBool::new(false),
        }
    }

    /// Rebuilds the in-memory state from a stored cursor.
    pub(crate) fn acks_from_stored(layout: &LedgerLayout, stored: &StoredCursor) -> AckState {
        let mut acks = AckState::new(layout.clamped_offset_of(stored.mark_delete));
        for (start, end) in &stored.individually_acked {
            acks.ack_range(
                layout.clamped_offset_of(*start),
                layout.clamped_offset_of(*end),
            );
        }
        acks
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the cursor is stored (a subscription) or not (a reader).
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// Reads up to `max_entries` (and about `max_bytes`, at least one entry)
    /// from the read position, skipping acked entries, and advances the read
    /// position past what it returns. Empty when caught up; never waits.
    pub async fn read_entries(
        &self,
        max_entries: usize,
        max_bytes: usize,
    ) -> Result<Vec<Entry>, ManagedLedgerError> {
        let planned = self.plan_read(max_entries);
        let mut entries: Vec<Entry> = Vec::with_capacity(planned.len());
        let mut last_offset = None;
        let mut bytes = 0usize;
        let mut index = 0;
        while index < planned.len() && bytes < max_bytes.max(1) {
            let (start_offset, start) = planned[index];
            let mut end = index;
            while end + 1 < planned.len()
                && planned[end + 1].1.ledger_id == start.ledger_id
                && planned[end + 1].0 == planned[end].0 + 1
            {
                end += 1;
            }
            let run = match self
                .ctx
                .reads()
                .read_run(start.ledger_id, start.entry_id, planned[end].1.entry_id)
                .await
            {
                Ok(run) => run,
                Err(error) if entries.is_empty() => return Err(error),
                Err(error) => {
                    tracing::debug!(cursor = %self.name, error = %error, "read stopped early");
                    break;
                }
            };
            let returned = run.len();
            for (i, entry) in run.into_iter().enumerate() {
                if bytes >= max_bytes.max(1) && !entries.is_empty() {
                    break;
                }
                bytes += entry.data.len();
                last_offset = Some(start_offset + i as i64);
                entries.push(entry);
            }
            if returned < end - index + 1 {
                break;
            }
            index = end + 1;
        }
        if let Some(last) = last_offset {
            let mut state = self.state.lock();
            state.read_offset = state.read_offset.max(last + 1);
        }
        Ok(entries)
    }

    /// The unacked offsets (with positions) a read would return, in order.
    fn plan_read(&self, max_entries: usize) -> Vec<(i64, Position)> {
        let layout = self.ctx.log().layout();
        let lac = layout.last_confirmed_offset();
        let state = self.state.lock();
        let mut planned = Vec::new();
        let mut offset = state
            .acks
            .next_unacked(state.read_offset.max(layout.first_offset()));
        while planned.len() < max_entries && offset <= lac {
            planned.push((offset, layout.position_of(offset)));
            offset = state.acks.next_unacked(offset + 1);
        }
        planned
    }

    /// Reads the given positions (redeliveries), skipping acked ones and
    /// ones that no longer exist.
    pub async fn read_positions(
        &self,
        positions: &[Position],
    ) -> Result<Vec<Entry>, ManagedLedgerError> {
        let mut entries = Vec::with_capacity(positions.len());
        for &position in positions {
            if self.is_acked(position) {
                continue;
            }
            match self.ctx.reads().read_entry(position).await {
                Ok(entry) => entries.push(entry),
                Err(ManagedLedgerError::NoSuchEntry(_)) => continue,
                Err(error) => return Err(error),
            }
        }
        Ok(entries)
    }

    pub fn has_more_entries(&self) -> bool {
        let lac = self.ctx.log().layout().last_confirmed_offset();
        let state = self.state.lock();
        state.acks.next_unacked(state.read_offset) <= lac
    }

    /// Moves the read position back to `position`, so the next read starts
    /// there: the dispatcher returns entries it read but could not send for
    /// lack of permits. Never moves at or before the mark-delete position,
    /// and ignores positions the ledger no longer has.
    pub fn unread_from(&self, position: Position) {
        let layout = self.ctx.log().layout();
        let Some(offset) = layout.offset_of(position) else {
            return;
        };
        let mut state = self.state.lock();
        state.read_offset = offset.max(state.acks.mark_delete() + 1);
    }

    /// Moves the read position forward to the first entry after
    /// `position`, never back: a reader of the compacted view has had
    /// everything up to there.
    pub fn skip_reading_past(&self, position: Position) {
        let next = Position::new(position.ledger_id, position.entry_id + 1);
        let offset = self.ctx.log().layout().first_offset_at_or_after(next);
        let mut state = self.state.lock();
        state.read_offset = state.read_offset.max(offset);
    }

    /// Resets the cursor so that the next read is the first entry at or
    /// after `position` (SEEK): the mark-delete position moves to the entry
    /// before it and individually acked ranges are dropped.
    pub fn reset_to(&self, position: Position) {
        let offset = self.ctx.log().layout().first_offset_at_or_after(position);
        let mut state = self.state.lock();
        state.acks = AckState::new(offset - 1);
        state.batch_acks.clear();
        state.redeliveries.clear();
        state.read_offset = offset;
        state.dirty = self.durable;
        if self.durable {
            // Trimming must keep what the cursor now needs to read again.
            state.persisted_mark_delete = state.persisted_mark_delete.min(offset - 1);
            state.resets += 1;
        }
        drop(state);
        self.ctx.request_trim();
    }

    /// Redelivery counts of unacknowledged entries, as last recorded.
    pub fn redelivery_counts(&self) -> HashMap<Position, u32> {
        self.state
            .lock()
            .redeliveries
            .iter()
            .map(|(p, n)| (*p, *n))
            .collect()
    }

    /// Records new redelivery counts (persisted with the cursor, at most
    /// [`MAX_PERSISTED_REDELIVERIES`] of them).
    pub fn record_redeliveries(&self, counts: &[(Position, u32)]) {
        if counts.is_empty() {
            return;
        }
        let mut state = self.state.lock();
        state.redeliveries.extend(counts.iter().copied());
        state.dirty |= self.durable;
    }

    /// Sets the properties if the cursor has none yet (a subscription's
    /// properties are those it was created with); returns whether it did.
    pub fn init_properties(&self, properties: BTreeMap<String, String>) -> bool {
        let mut state = self.state.lock();
        if !state.properties.is_empty() || properties.is_empty() {
            return false;
        }
        state.properties = properties;
        state.dirty = self.durable;
        true
    }

    /// Sets one property, a flag the broker keeps on a subscription (it
    /// is stored with the next persist).
    pub fn set_property(&self, key: &str, value: &str) {
        let mut state = self.state.lock();
        if state.properties.get(key).map(String::as_str) != Some(value) {
            state.properties.insert(key.to_string(), value.to_string());
            state.dirty |= self.durable;
        }
    }

    /// Read position := successor of mark-delete (redeliver everything unacked).
    pub fn rewind(&self) {
        let mut state = self.state.lock();
        state.read_offset = state.acks.mark_delete() + 1;
    }

    /// Acks individual positions. Unknown or not-yet-written positions are ignored.
    pub fn ack_individual(&self, positions: &[Position]) {
        let layout = self.ctx.log().layout();
        let lac = layout.last_confirmed_offset();
        let mut state = self.state.lock();
        let mut moved = false;
        for &position in positions {
            match layout.offset_of(position) {
                Some(offset) if offset <= lac && position.entry_id >= 0 => {
                    moved |= state.acks.ack(offset);
                    state.batch_acks.forget(offset);
                    state.redeliveries.remove(&position);
                    state.dirty = true;
                }
                _ => {
                    tracing::debug!(cursor = %self.name, %position, "ignoring ack of unknown position")
                }
            }
        }
        Self::after_ack(&mut state, moved, &self.ctx, &layout);
    }

    /// Acks the first `count` entries not yet acknowledged (an admin's
    /// skip); returns how many there were.
    pub fn skip(&self, count: u64) -> u64 {
        let layout = self.ctx.log().layout();
        let lac = layout.last_confirmed_offset();
        let mut state = self.state.lock();
        let (mut skipped, mut moved) = (0, false);
        let mut offset = state.acks.next_unacked(state.acks.mark_delete() + 1);
        while skipped < count && offset <= lac {
            moved |= state.acks.ack(offset);
            state.batch_acks.forget(offset);
            state.redeliveries.remove(&layout.position_of(offset));
            skipped += 1;
            offset = state.acks.next_unacked(offset + 1);
        }
        state.dirty |= skipped > 0;
        Self::after_ack(&mut state, moved, &self.ctx, &layout);
        skipped
    }

    /// Acks every entry before `position` (messages expired by age, or the
    /// whole backlog when `position` is past the last entry). Never moves
    /// the mark-delete position back; acks above it are kept.
    pub fn ack_before(&self, position: Position) {
        let layout = self.ctx.log().layout();
        let last =
            (layout.first_offset_at_or_after(position) - 1).min(layout.last_confirmed_offset());
        let mut state = self.state.lock();
        if last <= state.acks.mark_delete() {
            return;
        }
        let moved = state.acks.ack_cumulative(last);
        state.batch_acks.forget_up_to(last);
        state.dirty |= moved;
        Self::after_ack(&mut state, moved, &self.ctx, &layout);
    }

    /// Estimated bytes after the mark-delete position (each ledger's
    /// bytes pro rata; acks above the mark-delete are not subtracted).
    pub fn backlog_bytes(&self) -> u64 {
        let layout = self.ctx.log().layout();
        let mark_delete = self.state.lock().acks.mark_delete();
        layout
            .slots()
            .iter()
            .map(|slot| {
                let last = slot.base + slot.entries - 1;
                if slot.entries <= 0 || last <= mark_delete {
                    0
                } else if slot.base > mark_delete {
                    slot.size
                } else {
                    let after = (last - mark_delete) as u64;
                    slot.size.saturating_mul(after) / slot.entries as u64
                }
            })
            .sum()
    }

    /// The `n`-th entry not yet acknowledged (1 is the first), if stored.
    pub fn nth_unacked(&self, n: u64) -> Option<Position> {
        if n == 0 {
            return None;
        }
        let layout = self.ctx.log().layout();
        let lac = layout.last_confirmed_offset();
        let state = self.state.lock();
        let mut offset = state.acks.next_unacked(state.acks.mark_delete() + 1);
        for _ in 1..n {
            if offset > lac {
                return None;
            }
            offset = state.acks.next_unacked(offset + 1);
        }
        (offset <= lac).then(|| layout.position_of(offset))
    }

    /// The first entry not yet acknowledged, if any is stored.
    pub fn first_unacked(&self) -> Option<Position> {
        let layout = self.ctx.log().layout();
        let offset = {
            let state = self.state.lock();
            state.acks.next_unacked(state.acks.mark_delete() + 1)
        };
        (offset <= layout.last_confirmed_offset()).then(|| layout.position_of(offset))
    }

    /// Acks the oldest entries until the backlog holds at most about
    /// `limit` bytes (each ledger's entries taken as equally large): a
    /// backlog quota's eviction.
    pub fn evict_to_size(&self, limit: u64) {
        let keep_from = {
            let layout = self.ctx.log().layout();
            let mut kept = 0u64;
            let mut from = layout.first_offset();
            for slot in layout.slots().iter().rev() {
                if slot.entries <= 0 {
                    continue;
                }
                if kept + slot.size <= limit {
                    kept += slot.size;
                    continue;
                }
                let per_entry = slot.size.div_ceil(slot.entries as u64).max(1);
                let fit = ((limit - kept) / per_entry) as i64;
                from = slot.base + slot.entries - fit;
                break;
            }
            layout.position_of(from)
        };
        self.ack_before(keep_from);
    }

    /// Acks everything up to and including `position`.
    pub fn ack_cumulative(&self, position: Position) {
        self.mark_delete(position, None);
    }

    /// Acks everything up to and including `position` and replaces the
    /// cursor's properties, in one step: the next persist stores both, so
    /// stored properties always describe the stored mark-delete position
    /// (a snapshot, as deduplication keeps).
    pub fn mark_delete_with_properties(
        &self,
        position: Position,
        properties: BTreeMap<String, String>,
    ) {
        self.mark_delete(position, Some(properties));
    }

    fn mark_delete(&self, position: Position, properties: Option<BTreeMap<String, String>>) {
        let layout = self.ctx.log().layout();
        let offset = layout
            .clamped_offset_of(position)
            .min(layout.last_confirmed_offset());
        let mut state = self.state.lock();
        let moved = state.acks.ack_cumulative(offset);
        state.batch_acks.forget_up_to(offset);
        state.dirty |= moved;
        if let Some(properties) = properties {
            state.properties = properties;
            state.dirty |= self.durable;
        }
        Self::after_ack(&mut state, moved, &self.ctx, &layout);
    }

    /// The cursor's properties.
    pub fn properties(&self) -> BTreeMap<String, String> {
        self.state.lock().properties.clone()
    }

    /// Acks some messages of the batch entry at `position` (`ack_set`:
    /// a set bit is a message still unacknowledged). Returns whether the
    /// entry is now fully acknowledged; the caller then acks it whole.
    /// Unknown positions are ignored.
    pub fn ack_batch_indexes(&self, position: Position, ack_set: &[i64]) -> bool {
        let layout = self.ctx.log().layout();
        let Some(offset) = layout
            .offset_of(position)
            .filter(|o| *o <= layout.last_confirmed_offset() && position.entry_id >= 0)
        else {
            return false;
        };
        let mut state = self.state.lock();
        if state.acks.is_acked(offset) {
            return false;
        }
        state.dirty |= self.durable;
        state.batch_acks.apply(offset, ack_set)
    }

    /// A consumer attached or left: the subscription is in use now.
    pub fn touch(&self) {
        let mut state = self.state.lock();
        state.last_active = now_millis();
        state.dirty |= self.durable;
    }

    /// When a consumer last attached or left (Unix ms; the cursor's load
    /// or creation when it was stored without).
    pub fn last_active(&self) -> u64 {
        self.state.lock().last_active
    }

    /// The messages still to deliver of those `entries` that are partly
    /// acknowledged batches, as the `ack_set` of their MESSAGE frames; empty
    /// (after one check) when no batch is partly acknowledged.
    pub fn batch_ack_sets(&self, entries: &[Entry]) -> HashMap<Position, Vec<i64>> {
        if self.state.lock().batch_acks.is_empty() {
            return HashMap::new();
        }
        let layout = self.ctx.log().layout();
        let state = self.state.lock();
        entries
            .iter()
            .filter_map(|entry| {
                let offset = layout.offset_of(entry.position)?;
                let remaining = state.batch_acks.remaining(offset)?;
                Some((entry.position, remaining.to_vec()))
            })
            .collect()
    }

    /// `layout` is the caller's (the cursor's lock is taken after it).
    fn after_ack(state: &mut CursorState, moved: bool, ctx: &CursorContext, layout: &LedgerLayout) {
        if moved {
            let mark_delete = layout.position_of(state.acks.mark_delete());
            state.redeliveries = state.redeliveries.split_off(&Position::new(
                mark_delete.ledger_id,
                mark_delete.entry_id + 1,
            ));
            state.read_offset = state.read_offset.max(state.acks.mark_delete() + 1);
            ctx.request_trim();
        }
    }

    pub fn is_acked(&self, position: Position) -> bool {
        let layout = self.ctx.log().layout();
        let state = self.state.lock();
        match layout.offset_of(position) {
            Some(offset) => state.acks.is_acked(offset),
            // Trimmed ledgers were consumed by every durable cursor.
            None => layout
                .slots()
                .first()
                .is_some_and(|s| position.ledger_id < s.ledger_id),
        }
    }

    pub fn mark_delete_position(&self) -> Position {
        let layout = self.ctx.log().layout();
        layout.position_of(self.state.lock().acks.mark_delete())
    }

    pub fn read_position(&self) -> Position {
        let layout = self.ctx.log().layout();
        let state = self.state.lock();
        layout.position_of(state.acks.next_unacked(state.read_offset))
    }

    /// Entries not yet acked (precise).
    pub fn backlog(&self) -> u64 {
        let lac = self.ctx.log().layout().last_confirmed_offset();
        self.state.lock().acks.unacked_up_to(lac)
    }

    /// Individually acked ranges above the mark-delete position, first
    /// and last entry of each.
    pub fn acked_ranges(&self) -> Vec<(Position, Position)> {
        let layout = self.ctx.log().layout();
        let state = self.state.lock();
        state
            .acks
            .ranges()
            .map(|(start, end)| (layout.position_of(start), layout.position_of(end)))
            .collect()
    }

    /// Individually acked ranges above the mark-delete position.
    pub fn acked_range_count(&self) -> usize {
        self.state.lock().acks.range_count()
    }

    pub(crate) fn read_offset(&self) -> i64 {
        self.state.lock().read_offset
    }

    pub(crate) fn persisted_mark_delete_offset(&self) -> i64 {
        self.state.lock().persisted_mark_delete
    }

    pub(crate) fn is_dirty(&self) -> bool {
        self.state.lock().dirty
    }

    /// Stops persisting, before the cursor's stored state is deleted: a
    /// flush running now finishes first, later ones write nothing.
    pub(crate) async fn retire(&self) {
        let _version = self.persisted_version.lock().await;
        self.retired.store(true, Ordering::Release);
    }

    /// Persists the cursor now if it changed since the last persist.
    pub async fn flush(&self) -> Result<(), ManagedLedgerError> {
        if !self.durable {
            return Ok(());
        }
        let mut version = self.persisted_version.lock().await;
        if self.retired.load(Ordering::Acquire) {
            return Ok(());
        }
        let (stored, mark_delete, resets) = {
            let layout = self.ctx.log().layout();
            let mut state = self.state.lock();
            if !state.dirty && version.is_some() {
                return Ok(());
            }
            state.dirty = false;
            let stored = StoredCursor {
                mark_delete: layout.position_of(state.acks.mark_delete()),
                individually_acked: state
                    .acks
                    .ranges()
                    .take(self.ctx.max_persisted_ack_ranges())
                    .map(|(s, e)| (layout.position_of(s), layout.position_of(e)))
                    .collect(),
                properties: state.properties.clone(),
                redeliveries: state
                    .redeliveries
                    .iter()
                    .take(MAX_PERSISTED_REDELIVERIES)
                    .map(|(p, n)| (*p, *n))
                    .collect(),
                batch_acks: state
                    .batch_acks
                    .lowest(MAX_PERSISTED_BATCH_ACKS)
                    .into_iter()
                    .map(|(offset, remaining)| (layout.position_of(offset), remaining))
                    .collect(),
                last_active: Some(state.last_active),
            };
            (stored, state.acks.mark_delete(), state.resets)
        };
        let expected = version.map_or(Expected::Absent, Expected::Version);
        match self
            .ctx
            .metadata()
            .put(&self.key, encode(&stored), PutOptions::expect(expected))
            .await
        {
            Ok(new_version) => {
                *version = Some(new_version);
                let mut state = self.state.lock();
                if state.resets == resets {
                    state.persisted_mark_delete = state.persisted_mark_delete.max(mark_delete);
                }
                Ok(())
            }
            Err(error) => {
                self.state.lock().dirty = true;
                if let MetadataError::BadVersion { .. } = error {
                    self.ctx.status().set_fenced();
                    return Err(self.ctx.status().fenced());
                }
                Err(error.into())
            }
        }
    }
}
