//! Topic compaction, as Pulsar has it: per message key only the latest
//! message is kept in a compacted ledger; readers that ask for it
//! (`read_compacted`) read that ledger up to the horizon it covers, then
//! the topic's own entries after it.
//!
//! - `codec`: decompression of compressed batches.
//! - `select`: the pure step (latest per key, tombstones, batches).
//! - `stored`: the compacted entries' header (the original position) and
//!   the managed-ledger property naming the current compacted ledger.
//! - `view`: the compacted ledger as readers see it.
//! - `compactor`: a topic's compaction runs and their status; the
//!   `__compaction` cursor, the new ledger, the switch.
//!
//! Modules import in that order. See docs/topics.md, "Compaction".

mod codec;
mod compactor;
mod error;
mod select;
mod stored;
mod view;

pub use compactor::{CompactionStatus, TopicCompaction, COMPACTION_CURSOR};
pub use error::CompactionError;
pub use select::{retain, Latest};
pub use stored::{
    compacted_ledgers, decode_entry, encode_entry, CompactedLedgerInfo, COMPACTED_LEDGER_PROPERTY,
};
pub use view::{CompactedLedger, CompactedView};
