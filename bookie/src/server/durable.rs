//! Crash-safe small-file writes and directory syncs.
//!
//! Durability order of [`write_file_durably`]: write `<name>.tmp` → fsync it →
//! rename over `<name>` → fsync the directory. A crash at any point leaves
//! either the old or the new content under `<name>`, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Replaces `path` with `contents` atomically and durably.
pub fn write_file_durably(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    fs::rename(tmp, path)?;
    sync_parent_dir(path)
}

/// fsyncs the directory containing `path`, making a create, rename or
/// delete of `path` durable.
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
}

/// fsyncs a directory.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Creates `dir` (and parents) and makes its entry in the parent durable.
pub fn create_dir_durably(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    sync_parent_dir(dir)
}

/// Paces the writeback of a file written front to back, so it reaches the
/// disk in steps instead of one burst that a journal fsync would queue
/// behind. Each [`WritebackPacer::step`] waits until the step handed over by
/// the previous call is written back, then starts writeback of the bytes
/// written since. Durability still comes from an fsync.
#[derive(Debug, Default)]
pub struct WritebackPacer {
    /// Start of the bytes not yet handed to writeback.
    from: u64,
    /// Start of the step handed over last (it ends at `from`), if one may
    /// still be in flight.
    previous_from: Option<u64>,
}

impl WritebackPacer {
    /// Bytes written since the last step.
    pub fn pending(&self, written_to: u64) -> u64 {
        written_to - self.from
    }

    /// Waits for the previous step, then starts writeback of `[from, written_to)`.
    pub fn step(&mut self, file: &File, written_to: u64) {
        if let Some(previous) = self.previous_from {
            let wait = libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | libc::SYNC_FILE_RANGE_WRITE
                | libc::SYNC_FILE_RANGE_WAIT_AFTER;
            sync_file_range(file, previous, self.from - previous, wait);
        }
        sync_file_range(file, self.from, written_to - self.from, libc::SYNC_FILE_RANGE_WRITE);
        self.previous_from = Some(self.from);
        self.from = written_to;
    }

    /// Everything up to `synced_to` is durable: nothing is in flight.
    pub fn synced(&mut self, synced_to: u64) {
        self.from = synced_to;
        self.previous_from = None;
    }
}

/// Starts or waits for writeback of a byte range (`sync_file_range(2)`).
/// Only paces the disk; durability still needs an fsync, so a failure is
/// logged at debug and otherwise ignored.
fn sync_file_range(file: &File, from: u64, len: u64, flags: libc::c_uint) {
    use std::os::fd::AsRawFd;
    let (Ok(from), Ok(len)) = (i64::try_from(from), i64::try_from(len)) else {
        return;
    };
    // SAFETY: plain syscall on a descriptor `file` keeps open; no memory is
    // passed.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), from, len, flags) };
    if rc != 0 {
        tracing::debug!(error = %io::Error::last_os_error(), "writeback step failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_tmp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mark");
        write_file_durably(&path, b"one").unwrap();
        write_file_durably(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("mark")]);
    }
}
