//! The checkpoint mark: the journal position up to which ledger storage has
//! durably absorbed every record (entry logs fsynced, index committed).
//!
//! Stored as JSON in `<data-dir>/checkpoint`, written with
//! tmp → fsync → rename → fsync(dir). The mark only moves forward; journal
//! files wholly before it may be deleted, and restart replays from it.

use std::io;
use std::path::Path;

use magnetar_metadata::durable_file;

use super::JournalPosition;

/// Reads the persisted mark; the start of the journal when none exists yet.
pub fn read_mark(path: &Path) -> io::Result<JournalPosition> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err)),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(JournalPosition::default()),
        Err(err) => Err(err),
    }
}

/// Persists `mark` durably. Callers only pass marks at or after the current one.
pub fn write_mark(path: &Path, mark: JournalPosition) -> io::Result<()> {
    let bytes = serde_json::to_vec(&mark).map_err(io::Error::other)?;
    durable_file::write_file_durably(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_mark_is_the_journal_start_and_written_marks_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint");
        assert_eq!(read_mark(&path).unwrap(), JournalPosition::default());
        let mark = JournalPosition {
            file_id: 3,
            offset: 4096,
        };
        write_mark(&path, mark).unwrap();
        assert_eq!(read_mark(&path).unwrap(), mark);
    }
}
