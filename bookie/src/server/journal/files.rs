//! Journal files on disk: naming, listing, and [`FileJournalStorage`], the
//! real [`JournalStorage`] that appends to the newest file and rolls over.
//!
//! Files are `journal/<id as 16 hex digits>.journal`; ids only grow. Every
//! bookie start opens a fresh file, so a file's tail is only ever written by
//! one process lifetime and replay can truncate a torn tail without racing a
//! writer.
//!
//! With preallocation on, files after the first of a process lifetime are
//! zero-filled ahead of time (see [`super::preallocate`]): records overwrite
//! zeros, and the first all-zero record header marks where the records end.
//! The first file is appended to until a prepared file is ready, which the
//! journal then switches to at its next roll check.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use magnetar_metadata::durable_file;

use super::preallocate::{self, Preparer};
use super::{JournalPosition, JournalStorage};

/// An appended-to file asks for a prepared successor once it holds this
/// much (or a quarter of the file size, if less): a bookie that writes
/// almost nothing never preallocates.
const PREPARE_AFTER_BYTES: u64 = 1024 * 1024;

const SUFFIX: &str = ".journal";

/// Path of journal file `id` under `dir`.
pub fn journal_file_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016x}{SUFFIX}"))
}

/// Ids of the journal files under `dir`, ascending.
pub fn list_journal_files(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(hex) = name.strip_suffix(SUFFIX) {
            if let Ok(id) = u64::from_str_radix(hex, 16) {
                ids.push(id);
            }
        }
    }
    ids.sort_unstable();
    Ok(ids)
}

/// Writes journal files under one directory, rolling at a size limit.
pub struct FileJournalStorage {
    dir: PathBuf,
    max_file_size: u64,
    file: File,
    position: JournalPosition,
    /// The current file was zero-filled in advance: writes overwrite
    /// allocated blocks instead of growing the file.
    preallocated: bool,
    /// Prepares the next zero-filled file; `None` with preallocation off.
    preparer: Option<Preparer>,
}

impl FileJournalStorage {
    /// Opens a new journal file with id `first_id` (greater than every
    /// existing one) and makes its creation durable. With `preallocate`,
    /// later files are zero-filled in advance.
    pub fn create(
        dir: &Path,
        first_id: u64,
        max_file_size: u64,
        preallocate: bool,
    ) -> io::Result<Self> {
        let preparer = if preallocate {
            Some(Preparer::new(dir, max_file_size)?)
        } else {
            preallocate::remove_retired_files(dir)?;
            None
        };
        let mut storage = FileJournalStorage {
            dir: dir.to_path_buf(),
            max_file_size,
            file: Self::create_file(dir, first_id)?,
            position: JournalPosition {
                file_id: first_id,
                offset: 0,
            },
            preallocated: false,
            preparer,
        };
        // A file prepared by an earlier lifetime is used from the start.
        storage.switch_to_prepared_file()?;
        Ok(storage)
    }

    /// Whether the current file was zero-filled in advance.
    pub fn is_preallocated(&self) -> bool {
        self.preallocated
    }

    fn create_file(dir: &Path, id: u64) -> io::Result<File> {
        let path = journal_file_path(dir, id);
        let file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)?;
        // The file's directory entry must be durable before any record in
        // it is acknowledged.
        durable_file::sync_dir(dir)?;
        Ok(file)
    }

    /// Starts preparing the next file once the current one is far enough
    /// along that it will be needed.
    fn prepare_next_if_due(&mut self) {
        let Some(preparer) = self.preparer.as_mut() else {
            return;
        };
        let due_at = if self.preallocated {
            self.max_file_size / 2
        } else {
            PREPARE_AFTER_BYTES.min(self.max_file_size / 4)
        };
        if self.position.offset >= due_at {
            preparer.start();
        }
    }

    /// Moves to the next file id: the prepared file if one is ready, else
    /// a new file that is appended to.
    fn roll(&mut self) -> io::Result<()> {
        if !self.switch_to_prepared_file()? {
            let next_id = self.position.file_id + 1;
            self.file = Self::create_file(&self.dir, next_id)?;
            self.position = JournalPosition {
                file_id: next_id,
                offset: 0,
            };
            self.preallocated = false;
        }
        Ok(())
    }

    /// Takes the prepared file as the next journal file if one is ready.
    fn switch_to_prepared_file(&mut self) -> io::Result<bool> {
        let next_id = self.position.file_id + 1;
        let path = journal_file_path(&self.dir, next_id);
        let Some(preparer) = self.preparer.as_mut() else {
            return Ok(false);
        };
        match preparer.take_as(&path) {
            None => Ok(false),
            Some(Err(err)) => {
                tracing::warn!(error = %err, "cannot use the preallocated journal file; appending");
                Ok(false)
            }
            Some(Ok(file)) => {
                self.file = file;
                self.position = JournalPosition {
                    file_id: next_id,
                    offset: 0,
                };
                self.preallocated = true;
                Ok(true)
            }
        }
    }
}

impl JournalStorage for FileJournalStorage {
    fn append(&mut self, buf: &[u8]) -> io::Result<JournalPosition> {
        self.file.write_all(buf)?;
        self.position.offset += buf.len() as u64;
        Ok(self.position)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn truncate_to(&mut self, position: JournalPosition) -> io::Result<()> {
        if position.file_id != self.position.file_id {
            return Err(io::Error::other(
                "truncate outside the current journal file",
            ));
        }
        // Cutting a preallocated file makes it an appended one from here.
        self.file.set_len(position.offset)?;
        self.file.sync_data()?;
        self.file.seek(SeekFrom::Start(position.offset))?;
        self.preallocated = false;
        self.position = position;
        Ok(())
    }

    fn position(&self) -> JournalPosition {
        self.position
    }

    fn roll_if_full(&mut self) -> io::Result<()> {
        self.prepare_next_if_due();
        if self.position.offset >= self.max_file_size {
            return self.roll();
        }
        if !self.preallocated {
            // Leave an appended-to file as soon as a prepared one is ready.
            self.switch_to_prepared_file()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use bytes::{Bytes, BytesMut};

    use super::*;
    use crate::server::journal::replay::replay_journal;
    use crate::server::record::Record;

    const FILE_SIZE: u64 = 64 * 1024;

    fn write_record(storage: &mut FileJournalStorage, entry_id: i64) {
        let mut buf = BytesMut::new();
        Record::entry(7, entry_id, Bytes::from(vec![entry_id as u8; 900])).encode_into(&mut buf);
        storage.append(&buf).unwrap();
        storage.sync().unwrap();
        storage.roll_if_full().unwrap();
    }

    #[test]
    fn records_written_through_preallocated_files_replay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = FileJournalStorage::create(dir.path(), 1, FILE_SIZE, true).unwrap();
        assert!(!storage.is_preallocated(), "the first file is appended to");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut entry_id = 0;
        // Write until a prepared file has been taken, then fill a few more.
        while !storage.is_preallocated() {
            assert!(Instant::now() < deadline, "no prepared file was taken");
            write_record(&mut storage, entry_id);
            entry_id += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        let switched_at = storage.position().file_id;
        while storage.position().file_id < switched_at + 3 {
            assert!(Instant::now() < deadline, "did not roll three more times");
            write_record(&mut storage, entry_id);
            entry_id += 1;
        }
        drop(storage);

        let ids = list_journal_files(dir.path()).unwrap();
        let preallocated = ids
            .iter()
            .filter(|id| {
                let len = fs::metadata(journal_file_path(dir.path(), **id))
                    .unwrap()
                    .len();
                len >= FILE_SIZE
            })
            .count();
        assert!(
            preallocated >= 3,
            "files: {ids:?}, {preallocated} preallocated"
        );

        let mut replayed = Vec::new();
        let summary = replay_journal(dir.path(), JournalPosition::default(), 4096, |record| {
            replayed.push(record.entry_id)
        })
        .unwrap();
        assert_eq!(replayed, (0..entry_id).collect::<Vec<_>>());
        assert_eq!(summary.dropped_bytes, 0);
    }

    #[test]
    fn retired_files_are_overwritten_by_later_journal_files() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let mut storage = FileJournalStorage::create(dir.path(), 1, FILE_SIZE, true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut entry_id = 0;
        while storage.position().file_id < 4 {
            assert!(Instant::now() < deadline, "did not reach the fourth file");
            write_record(&mut storage, entry_id);
            entry_id += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        // A checkpoint at the start of file 3 retires files 1 and 2, full of
        // records that must never be replayed again.
        let mark = JournalPosition {
            file_id: 3,
            offset: 0,
        };
        let mut retired_inodes = Vec::new();
        for id in [1, 2] {
            let path = journal_file_path(dir.path(), id);
            retired_inodes.push(fs::metadata(&path).unwrap().ino());
            preallocate::retire_journal_file(dir.path(), &path, id, true).unwrap();
        }
        let first_in_file_3 = {
            let mut replayed = Vec::new();
            replay_journal(dir.path(), mark, 4096, |record| {
                replayed.push(record.entry_id)
            })
            .unwrap();
            replayed[0]
        };
        while storage.position().file_id < 8 {
            assert!(Instant::now() < deadline, "did not roll four more times");
            write_record(&mut storage, entry_id);
            entry_id += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(storage);

        let reused = list_journal_files(dir.path())
            .unwrap()
            .into_iter()
            .filter(|id| {
                retired_inodes.contains(
                    &fs::metadata(journal_file_path(dir.path(), *id))
                        .unwrap()
                        .ino(),
                )
            })
            .count();
        assert!(
            reused >= 1,
            "no later journal file reused a retired file's blocks"
        );
        let mut replayed = Vec::new();
        let summary = replay_journal(dir.path(), mark, 4096, |record| {
            replayed.push(record.entry_id)
        })
        .unwrap();
        assert_eq!(replayed, (first_in_file_3..entry_id).collect::<Vec<_>>());
        assert_eq!(summary.dropped_bytes, 0);
    }

    #[test]
    fn with_preallocation_off_retired_files_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let old = journal_file_path(dir.path(), 1);
        fs::write(&old, b"checkpointed records").unwrap();
        preallocate::retire_journal_file(dir.path(), &old, 1, true).unwrap();
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "kept as a retired file"
        );
        let _storage = FileJournalStorage::create(dir.path(), 2, FILE_SIZE, false).unwrap();
        assert_eq!(list_journal_files(dir.path()).unwrap(), vec![2]);
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only the new journal file is left"
        );
    }

    #[test]
    fn without_preallocation_files_only_hold_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = FileJournalStorage::create(dir.path(), 1, FILE_SIZE, false).unwrap();
        for entry_id in 0..150 {
            write_record(&mut storage, entry_id);
        }
        assert!(!storage.is_preallocated());
        for id in list_journal_files(dir.path()).unwrap() {
            let len = fs::metadata(journal_file_path(dir.path(), id))
                .unwrap()
                .len();
            assert_eq!(len % 925, 0, "file {id} holds whole records only");
        }
    }
}
