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

/// Starts or waits for writeback of a byte range (`sync_file_range(2)`).
/// Only paces the disk; durability still needs an fsync, so a failure is
/// logged at debug and otherwise ignored.
pub fn sync_file_range(file: &File, from: u64, len: u64, flags: libc::c_uint) {
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
