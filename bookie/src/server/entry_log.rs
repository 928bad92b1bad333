//! Entry logs: append-only files holding flushed entries as self-describing
//! records ([`crate::server::record`]), read back by location.
//!
//! Files are `entrylogs/<id as 16 hex digits>.log`. Each bookie start opens a
//! new file and rolls at `max_file_size`. Appends are buffered; the index
//! only learns a location after [`EntryLogs::sync`] has fsynced the bytes,
//! so no reader ever follows a location into unwritten data. Reads verify the
//! record CRC and ids and refuse anything that does not match.
//!
//! A failed write or fsync (a full disk, an I/O error) leaves the file's
//! bytes past its last sync unknown: part of a record may be in it. Offsets
//! are counted here, not asked of the file, so appending on after such a
//! failure would hand out locations that no longer match the bytes. The
//! next append after a failure therefore starts a new file; nothing the
//! index knows lies past the old file's last sync.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use magnetar_metadata::durable_file;
use parking_lot::{Mutex, RwLock};

use super::error::StorageError;
use super::index::Location;
use super::record::{decode_record, Record};
use super::writeback;

const SUFFIX: &str = ".log";

/// A checkpoint hands the entry log's new bytes to the disk in steps of this
/// size while it writes, instead of leaving tens of MB for its final fsync.
/// One big writeback fills the disk's queue, and a journal fsync issued
/// meanwhile waits behind it; in small steps the journal's writes interleave.
const WRITEBACK_STEP: u64 = 256 * 1024;

struct CurrentLog {
    id: u64,
    offset: u64,
    writer: BufWriter<File>,
    writeback: writeback::WritebackPacer,
    /// Logs rolled away from since the last sync: they need an fsync too.
    unsynced: Vec<File>,
    /// A write or fsync of this log failed; the next append rolls.
    failed: bool,
    /// Test hook: the next append writes half its record, then fails.
    #[cfg(test)]
    fail_next_append: bool,
}

/// The set of entry log files under one directory.
pub struct EntryLogs {
    dir: PathBuf,
    max_file_size: u64,
    current: Mutex<CurrentLog>,
    readers: RwLock<HashMap<u64, Arc<File>>>,
}

/// Path of entry log `id` under `dir`.
pub fn entry_log_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}{SUFFIX}"))
}

impl EntryLogs {
    /// Opens the directory and starts a new current log after the newest one.
    pub fn open(dir: &Path, max_file_size: u64) -> Result<Self, StorageError> {
        durable_file::create_dir_durably(dir).map_err(|e| StorageError::io(dir, e))?;
        let next_id = Self::list_ids(dir)?.last().map_or(1, |id| id + 1);
        let current = Self::create_log(dir, next_id)?;
        Ok(EntryLogs {
            dir: dir.to_path_buf(),
            max_file_size,
            current: Mutex::new(current),
            readers: RwLock::new(HashMap::new()),
        })
    }

    fn create_log(dir: &Path, id: u64) -> Result<CurrentLog, StorageError> {
        let path = entry_log_path(dir, id);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        durable_file::sync_dir(dir).map_err(|e| StorageError::io(dir, e))?;
        Ok(CurrentLog {
            id,
            offset: 0,
            writer: BufWriter::with_capacity(1 << 20, file),
            writeback: writeback::WritebackPacer::default(),
            unsynced: Vec::new(),
            failed: false,
            #[cfg(test)]
            fail_next_append: false,
        })
    }

    /// Makes the next log current. A failed log's buffered bytes are
    /// dropped unwritten (nothing indexed points at them); a sound one's
    /// are written, and it is fsynced at the next sync.
    fn roll(&self, current: &mut CurrentLog) -> Result<(), StorageError> {
        // A file a failed roll created but could not make durable is
        // skipped, never reused: it may hold nothing the index knows.
        let mut next_id = current.id + 1;
        while entry_log_path(&self.dir, next_id).exists() {
            next_id += 1;
        }
        let next = Self::create_log(&self.dir, next_id)?;
        let old = std::mem::replace(current, next);
        current.unsynced = old.unsynced;
        if old.failed {
            tracing::warn!(
                log_id = old.id,
                next_log_id = next_id,
                "entry log write failed; continuing in a new log"
            );
            drop(old.writer.into_parts());
            return Ok(());
        }
        let path = entry_log_path(&self.dir, old.id);
        let file = old
            .writer
            .into_inner()
            .map_err(|e| StorageError::io(&path, e.into_error()))?;
        current.unsynced.push(file);
        Ok(())
    }

    /// Ids of every entry log, ascending.
    pub fn list_ids(dir: &Path) -> Result<Vec<u64>, StorageError> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
            let entry = entry.map_err(|e| StorageError::io(dir, e))?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
                continue;
            };
            if let Ok(id) = u64::from_str_radix(hex, 16) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        Ok(ids)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn current_id(&self) -> u64 {
        self.current.lock().id
    }

    /// Appends one entry (buffered). Not durable until [`Self::sync`].
    pub fn append(
        &self,
        ledger_id: u64,
        entry_id: i64,
        body: &Bytes,
    ) -> Result<Location, StorageError> {
        let mut current = self.current.lock();
        if current.failed || current.offset >= self.max_file_size {
            self.roll(&mut current)?;
        }
        let record = Record::entry(ledger_id, entry_id, body.clone());
        let len = record.framed_len();
        let location = Location {
            log_id: current.id,
            offset: current.offset,
            len: len as u32,
        };
        let path = entry_log_path(&self.dir, current.id);
        let written = Self::write_record(&mut current, &record).and_then(|()| {
            current.offset += len as u64;
            if current.writeback.pending(current.offset) < WRITEBACK_STEP {
                return Ok(());
            }
            current.writer.flush()?;
            let CurrentLog {
                writer,
                writeback,
                offset,
                ..
            } = &mut *current;
            writeback.step(writer.get_ref(), *offset);
            Ok(())
        });
        if let Err(error) = written {
            current.failed = true;
            return Err(StorageError::io(&path, error));
        }
        Ok(location)
    }

    /// Writes the record's framing and then its data into the buffered
    /// writer, so the data is copied once, into the writer's buffer.
    fn write_record(current: &mut CurrentLog, record: &Record) -> io::Result<()> {
        #[cfg(test)]
        if std::mem::take(&mut current.fail_next_append) {
            let (header, half) = (record.header(), record.framed_len() / 2);
            let in_header = half.min(header.len());
            current.writer.write_all(&header[..in_header])?;
            current.writer.write_all(&record.data[..half - in_header])?;
            current.writer.flush()?;
            return Err(io::Error::other("injected write failure"));
        }
        current.writer.write_all(&record.header())?;
        current.writer.write_all(&record.data)
    }

    /// Test hook: the next append writes half its record and fails, as a
    /// write that runs out of disk space part way does.
    #[cfg(test)]
    pub(crate) fn fail_next_append(&self) {
        self.current.lock().fail_next_append = true;
    }

    /// Flushes buffered appends and fsyncs every log written since the last sync.
    /// A failure leaves the current log failed: the next append rolls.
    pub fn sync(&self) -> Result<(), StorageError> {
        let mut current = self.current.lock();
        if let Err(error) = Self::sync_current(&mut current) {
            current.failed = true;
            return Err(StorageError::io(
                entry_log_path(&self.dir, current.id),
                error,
            ));
        }
        let offset = current.offset;
        current.writeback.synced(offset);
        Ok(())
    }

    fn sync_current(current: &mut CurrentLog) -> io::Result<()> {
        if current.failed {
            return Err(io::Error::other("an earlier write of this log failed"));
        }
        current.writer.flush()?;
        for file in current.unsynced.drain(..) {
            file.sync_data()?;
        }
        current.writer.get_ref().sync_data()
    }

    fn reader(&self, log_id: u64) -> Result<Arc<File>, StorageError> {
        if let Some(file) = self.readers.read().get(&log_id) {
            return Ok(file.clone());
        }
        let path = entry_log_path(&self.dir, log_id);
        let file = match File::open(&path) {
            Ok(file) => Arc::new(file),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Err(StorageError::MissingEntryLog(log_id))
            }
            Err(err) => return Err(StorageError::io(&path, err)),
        };
        self.readers.write().insert(log_id, file.clone());
        Ok(file)
    }

    /// Reads the entry at `location`, checking that the record is intact and
    /// belongs to `(ledger_id, entry_id)`.
    pub fn read(
        &self,
        location: Location,
        ledger_id: u64,
        entry_id: i64,
    ) -> Result<Bytes, StorageError> {
        let file = self.reader(location.log_id)?;
        let path = entry_log_path(&self.dir, location.log_id);
        let mut buf = vec![0u8; location.len as usize];
        file.read_exact_at(&mut buf, location.offset)
            .map_err(|e| StorageError::io(&path, e))?;
        let record =
            decode_record(&Bytes::from(buf)).map_err(|source| StorageError::BadRecord {
                path: path.clone(),
                offset: location.offset,
                source,
            })?;
        if record.ledger_id != ledger_id || record.entry_id != entry_id {
            return Err(StorageError::Corrupt {
                path,
                offset: location.offset,
                reason: format!(
                    "record holds ledger {} entry {}, index expected ledger {ledger_id} entry {entry_id}",
                    record.ledger_id, record.entry_id
                ),
            });
        }
        Ok(record.data)
    }

    /// Size in bytes of entry log `id` on disk.
    pub fn file_size(&self, log_id: u64) -> Result<u64, StorageError> {
        let path = entry_log_path(&self.dir, log_id);
        fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|e| StorageError::io(&path, e))
    }

    /// Deletes entry log `id` durably. Callers must have removed every index
    /// location pointing into it first.
    pub fn delete(&self, log_id: u64) -> Result<(), StorageError> {
        self.readers.write().remove(&log_id);
        let path = entry_log_path(&self.dir, log_id);
        fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
        durable_file::sync_dir(&self.dir).map_err(|e| StorageError::io(&self.dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: u8) -> Bytes {
        Bytes::from(vec![n; 300])
    }

    #[test]
    fn a_failed_append_moves_to_a_new_log_and_every_location_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let logs = EntryLogs::open(dir.path(), 1 << 30).unwrap();
        let first = logs.append(1, 0, &body(1)).unwrap();
        logs.sync().unwrap();

        // Half of entry 1's record reaches the file, then the write fails
        // (a disk that fills up part way); the checkpoint fails.
        logs.fail_next_append();
        assert!(logs.append(1, 1, &body(2)).is_err());
        assert!(logs.sync().is_err(), "a failed log never syncs");

        // The retried checkpoint appends again: in a new log, at offsets
        // that match the bytes.
        let retried = logs.append(1, 1, &body(2)).unwrap();
        let next = logs.append(1, 2, &body(3)).unwrap();
        logs.sync().unwrap();
        assert_ne!(retried.log_id, first.log_id);
        assert_eq!(retried.offset, 0);
        assert_eq!(logs.read(first, 1, 0).unwrap(), body(1));
        assert_eq!(logs.read(retried, 1, 1).unwrap(), body(2));
        assert_eq!(logs.read(next, 1, 2).unwrap(), body(3));
    }

    #[test]
    fn a_roll_skips_a_log_file_that_already_exists() {
        let dir = tempfile::tempdir().unwrap();
        let logs = EntryLogs::open(dir.path(), 1 << 30).unwrap();
        let current = logs.current_id();
        // Left by a roll that created the file but failed to sync its
        // directory.
        File::create(entry_log_path(dir.path(), current + 1)).unwrap();
        logs.fail_next_append();
        assert!(logs.append(1, 0, &body(1)).is_err());
        let location = logs.append(1, 0, &body(1)).unwrap();
        assert_eq!(location.log_id, current + 2);
        logs.sync().unwrap();
        assert_eq!(logs.read(location, 1, 0).unwrap(), body(1));
    }
}
