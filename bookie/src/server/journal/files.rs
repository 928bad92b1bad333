//! Journal files on disk: naming, listing, and [`FileJournalStorage`], the
//! real [`JournalStorage`] that appends to the newest file and rolls over.
//!
//! Files are `journal/<id as 16 hex digits>.journal`; ids only grow. Every
//! bookie start opens a fresh file, so a file's tail is only ever written by
//! one process lifetime and replay can truncate a torn tail without racing a
//! writer.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{JournalPosition, JournalStorage};
use crate::server::durable;

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

/// Appends to journal files under one directory, rolling at a size limit.
pub struct FileJournalStorage {
    dir: PathBuf,
    max_file_size: u64,
    file: File,
    position: JournalPosition,
}

impl FileJournalStorage {
    /// Opens a new journal file with id `first_id` (greater than every
    /// existing one) and makes its creation durable.
    pub fn create(dir: &Path, first_id: u64, max_file_size: u64) -> io::Result<Self> {
        let file = Self::create_file(dir, first_id)?;
        Ok(FileJournalStorage {
            dir: dir.to_path_buf(),
            max_file_size,
            file,
            position: JournalPosition {
                file_id: first_id,
                offset: 0,
            },
        })
    }

    fn create_file(dir: &Path, id: u64) -> io::Result<File> {
        let path = journal_file_path(dir, id);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)?;
        // The file's directory entry must be durable before any record in
        // it is acknowledged.
        durable::sync_dir(dir)?;
        Ok(file)
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
        self.file.set_len(position.offset)?;
        self.file.sync_data()?;
        self.position = position;
        Ok(())
    }

    fn position(&self) -> JournalPosition {
        self.position
    }

    fn roll_if_full(&mut self) -> io::Result<()> {
        if self.position.offset < self.max_file_size {
            return Ok(());
        }
        let next_id = self.position.file_id + 1;
        self.file = Self::create_file(&self.dir, next_id)?;
        self.position = JournalPosition {
            file_id: next_id,
            offset: 0,
        };
        Ok(())
    }
}
