//! Entry logs: append-only files holding flushed entries as self-describing
//! records ([`crate::server::record`]), read back by location.
//!
//! Files are `entrylogs/<id as 16 hex digits>.log`. Each bookie start opens a
//! new file and rolls at `max_file_size`. Appends are buffered; the index
//! only learns a location after [`EntryLogs::sync`] has fsynced the bytes,
//! so no reader ever follows a location into unwritten data. Reads verify the
//! record CRC and ids and refuse anything that does not match.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
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
        })
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
        if current.offset >= self.max_file_size {
            let next = Self::create_log(&self.dir, current.id + 1)?;
            let old = std::mem::replace(&mut *current, next);
            let path = entry_log_path(&self.dir, old.id);
            let file = old
                .writer
                .into_inner()
                .map_err(|e| StorageError::io(&path, e.into_error()))?;
            current.unsynced = old.unsynced;
            current.unsynced.push(file);
        }
        let record = Record::entry(ledger_id, entry_id, body.clone());
        let mut buf = BytesMut::with_capacity(record.framed_len());
        record.encode_into(&mut buf);
        let location = Location {
            log_id: current.id,
            offset: current.offset,
            len: buf.len() as u32,
        };
        let path = entry_log_path(&self.dir, current.id);
        current
            .writer
            .write_all(&buf)
            .map_err(|e| StorageError::io(&path, e))?;
        current.offset += buf.len() as u64;
        if current.writeback.pending(current.offset) >= WRITEBACK_STEP {
            current
                .writer
                .flush()
                .map_err(|e| StorageError::io(&path, e))?;
            let CurrentLog {
                writer,
                writeback,
                offset,
                ..
            } = &mut *current;
            writeback.step(writer.get_ref(), *offset);
        }
        Ok(location)
    }

    /// Flushes buffered appends and fsyncs every log written since the last sync.
    pub fn sync(&self) -> Result<(), StorageError> {
        let mut current = self.current.lock();
        let path = entry_log_path(&self.dir, current.id);
        current
            .writer
            .flush()
            .map_err(|e| StorageError::io(&path, e))?;
        for file in current.unsynced.drain(..) {
            file.sync_data()
                .map_err(|e| StorageError::io(&self.dir, e))?;
        }
        current
            .writer
            .get_ref()
            .sync_data()
            .map_err(|e| StorageError::io(&path, e))?;
        let offset = current.offset;
        current.writeback.synced(offset);
        Ok(())
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
        let record = decode_record(&buf).map_err(|source| StorageError::BadRecord {
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
