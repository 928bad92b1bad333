//! Crash-safe replacement of small files, and directory syncs.
//!
//! Durability order of [`replace_durably`]: write `<name>.tmp` → fsync it →
//! rename it over `<name>` → fsync the directory. A crash at any point leaves
//! either the old or the new content under `<name>`, never a mix, and once it
//! returns the new content survives a power loss.
//!
//! This is the one copy of the sequence in the workspace. It lives here, in
//! the lowest crate that needs it (the Raft snapshot file), so that the
//! bookie (checkpoint mark, cookie) and the CLI (standalone's port and
//! session files) use it too: crates depend one way, proto → metadata →
//! bookie → broker → cli.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `contents` atomically and durably.
pub fn write_file_durably(path: &Path, contents: &[u8]) -> io::Result<()> {
    replace_durably(path, |file| file.write_all(contents))
}

/// Replaces `path` atomically and durably with what `write` writes into the
/// (empty) temporary file.
pub fn replace_durably(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = tmp_path(path);
    {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        write(&mut file)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_parent_dir(path)
}

/// The temporary file [`replace_durably`] writes before the rename:
/// `<path>.tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
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

    #[test]
    fn failed_write_keeps_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mark");
        write_file_durably(&path, b"old").unwrap();
        let err = replace_durably(&path, |file| {
            file.write_all(b"partial")?;
            Err(io::Error::other("injected"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "injected");
        assert_eq!(fs::read(&path).unwrap(), b"old");
    }
}
