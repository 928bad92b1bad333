//! The current state-machine snapshot on disk.
//!
//! One file, `snapshot.bin`: a little header (`u64` big-endian length of the
//! JSON-encoded snapshot meta), the meta, then the snapshot data bytes.
//!
//! A save goes through [`crate::durable_file::replace_durably`] (a crash at
//! any step leaves either the old or the new snapshot, never a torn one):
//! 1. write `snapshot.bin.tmp` and fsync it;
//! 2. rename it over `snapshot.bin`;
//! 3. fsync the directory so the rename itself is durable.
//!
//! Only after step 3 returns does the caller report the snapshot built, and
//! only then may openraft purge the log entries the snapshot covers.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::durable_file::replace_durably;

const FILE_NAME: &str = "snapshot.bin";

/// The snapshot file of one node.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    dir: PathBuf,
}

impl SnapshotFile {
    /// Snapshots live in `dir` (created if missing).
    pub fn new(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(SnapshotFile {
            dir: dir.to_path_buf(),
        })
    }

    /// Durably replaces the current snapshot (tmp → fsync → rename → fsync dir).
    pub fn save<M: Serialize>(&self, meta: &M, data: &[u8]) -> io::Result<()> {
        let meta_json = serde_json::to_vec(meta).map_err(io::Error::other)?;
        replace_durably(&self.dir.join(FILE_NAME), |file| {
            file.write_all(&(meta_json.len() as u64).to_be_bytes())?;
            file.write_all(&meta_json)?;
            file.write_all(data)
        })
    }

    /// Loads the current snapshot, `None` when there is none yet.
    pub fn load<M: DeserializeOwned>(&self) -> io::Result<Option<(M, Vec<u8>)>> {
        let mut file = match File::open(self.dir.join(FILE_NAME)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut contents = Vec::new();
        file.read_to_end(&mut contents)?;
        let corrupt = |what: &str| {
            io::Error::new(io::ErrorKind::InvalidData, format!("snapshot file: {what}"))
        };
        let header: [u8; 8] = contents
            .get(..8)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| corrupt("missing header"))?;
        let meta_len =
            usize::try_from(u64::from_be_bytes(header)).map_err(|_| corrupt("bad meta length"))?;
        let meta_end = 8usize
            .checked_add(meta_len)
            .ok_or_else(|| corrupt("bad meta length"))?;
        let meta_bytes = contents
            .get(8..meta_end)
            .ok_or_else(|| corrupt("truncated meta"))?;
        let meta: M = serde_json::from_slice(meta_bytes).map_err(|e| corrupt(&e.to_string()))?;
        let data = contents.get(meta_end..).unwrap_or_default().to_vec();
        Ok(Some((meta, data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_then_load_returns_the_latest_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let file = SnapshotFile::new(dir.path()).unwrap();
        assert!(file.load::<String>().unwrap().is_none());
        file.save(&"first".to_string(), b"one").unwrap();
        file.save(&"second".to_string(), b"two").unwrap();
        let (meta, data) = file.load::<String>().unwrap().unwrap();
        assert_eq!(meta, "second");
        assert_eq!(data, b"two");
        assert!(!crate::durable_file::tmp_path(&dir.path().join(FILE_NAME)).exists());
    }

    #[test]
    fn truncated_file_is_reported_not_panicked() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILE_NAME), [0, 0, 0, 0, 0, 0, 0, 99, b'{']).unwrap();
        let file = SnapshotFile::new(dir.path()).unwrap();
        let err = file.load::<String>().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}
