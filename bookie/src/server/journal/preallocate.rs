//! Zero-filled journal files, prepared ahead of the writer.
//!
//! An fdatasync after an append must also commit the file's new size, which
//! on ext4 means a jbd2 transaction shared with every other file's pending
//! metadata. An fdatasync after overwriting blocks that are already
//! allocated and written needs only the data and a cache flush, so it is
//! shorter and less exposed to what the rest of the disk is doing.
//!
//! [`Preparer`] writes such a file on its own thread: zeros up to the
//! journal's file size, handed to writeback in small steps (a journal fsync
//! that lands while a step is being written waits for that step), then an
//! fsync and a rename to [`READY_NAME`]. The journal takes it when it rolls
//! ([`Preparer::take_as`]) by renaming it to its journal file name and
//! syncing the directory. Journal replay recognises the unused rest of such
//! a file by its all-zero record header.
//!
//! Journal files whose records are all checkpointed are not deleted but
//! retired ([`retire_journal_file`]): the next fill overwrites one instead
//! of allocating a new file. Deleting a file frees its blocks, and on a
//! file system mounted with online discard the jbd2 commit that frees them
//! trims them synchronously: about 10 ms for 64 MiB on this project's test
//! machines, during which a journal fsync waits. Overwriting allocated
//! blocks frees and allocates nothing.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use magnetar_metadata::durable_file;

use crate::server::writeback;

/// A prepared, durable, zero-filled file waiting to become a journal file.
pub const READY_NAME: &str = "next.journal-ready";
/// The file being filled; never read.
const FILLING_NAME: &str = "next.journal-filling";
/// Suffix of retired journal files (`<id as 16 hex digits>.journal-retired`),
/// kept to be overwritten by a fill; never read.
const RETIRED_SUFFIX: &str = ".journal-retired";
/// Most retired files kept. At a steady rate one file retires for each one
/// taken, so two absorb the churn; a burst that shrinks the journal by more
/// deletes the rest.
const MAX_RETIRED_FILES: usize = 2;
/// Bytes written and handed to writeback at a time: at this machine
/// kind's few hundred MB/s, well under a millisecond of disk time.
const FILL_STEP: usize = 64 * 1024;

/// Prepares one zero-filled file at a time for the journal under `dir`.
/// Dropping it stops a fill in progress and waits for its thread.
pub struct Preparer {
    dir: PathBuf,
    file_size: u64,
    job: Option<JoinHandle<io::Result<()>>>,
    ready: bool,
    cancel: Arc<AtomicBool>,
}

impl Preparer {
    /// A preparer for files of `file_size` bytes. Removes what an earlier
    /// process left half done; a ready file from before is kept if its size
    /// is right.
    pub fn new(dir: &Path, file_size: u64) -> io::Result<Self> {
        remove_if_present(&dir.join(FILLING_NAME))?;
        let ready_path = dir.join(READY_NAME);
        let ready = match fs::metadata(&ready_path) {
            Ok(meta) if meta.len() == file_size => true,
            Ok(_) => {
                fs::remove_file(&ready_path)?;
                false
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => false,
            Err(err) => return Err(err),
        };
        Ok(Preparer {
            dir: dir.to_path_buf(),
            file_size,
            job: None,
            ready,
            cancel: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Starts filling the next file unless one is being filled or ready.
    pub fn start(&mut self) {
        if self.ready || self.job.is_some() {
            return;
        }
        let dir = self.dir.clone();
        let size = self.file_size;
        let cancel = self.cancel.clone();
        match std::thread::Builder::new()
            .name("journal-prealloc".into())
            .spawn(move || fill(&dir, size, &cancel))
        {
            Ok(handle) => self.job = Some(handle),
            Err(err) => tracing::warn!(error = %err, "cannot start journal preallocation"),
        }
    }

    /// Whether a prepared file can be taken now.
    pub fn is_ready(&mut self) -> bool {
        self.collect_finished_job();
        self.ready
    }

    /// Turns the prepared file into journal file `path` and opens it for
    /// writing from offset 0, or returns `None` when no file is ready. The
    /// rename is durable before this returns `Ok`.
    pub fn take_as(&mut self, path: &Path) -> Option<io::Result<File>> {
        if !self.is_ready() {
            return None;
        }
        self.ready = false;
        Some(self.rename_into_place(path))
    }

    fn rename_into_place(&self, path: &Path) -> io::Result<File> {
        fs::rename(self.dir.join(READY_NAME), path)?;
        if let Err(err) = durable_file::sync_dir(&self.dir) {
            // Records in a file whose name may not survive a crash must not
            // be acknowledged; give the file up.
            let _ = fs::remove_file(path);
            return Err(err);
        }
        OpenOptions::new().write(true).open(path)
    }

    fn collect_finished_job(&mut self) {
        if !self.job.as_ref().is_some_and(|job| job.is_finished()) {
            return;
        }
        let Some(job) = self.job.take() else { return };
        match job.join() {
            Ok(Ok(())) => self.ready = true,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "journal preallocation failed; appending instead")
            }
            Err(_) => tracing::error!("journal preallocation thread panicked"),
        }
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(job) = self.job.take() {
            // The fill checks the flag between steps, so this is short.
            let _ = job.join();
        }
    }
}

/// Writes `size` zero bytes to the filling file (a retired journal file if
/// there is one), makes them durable and renames the file to
/// [`READY_NAME`]. Stops early once `cancel` is set.
fn fill(dir: &Path, size: u64, cancel: &AtomicBool) -> io::Result<()> {
    let filling = dir.join(FILLING_NAME);
    let mut file = match retired_files(dir)?.into_iter().next() {
        Some(retired) => {
            // Overwritten in place: its blocks stay allocated.
            fs::rename(&retired, &filling)?;
            let file = OpenOptions::new().write(true).open(&filling)?;
            file.set_len(size)?;
            file
        }
        None => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&filling)?,
    };
    let zeros = vec![0u8; FILL_STEP];
    let mut writeback = writeback::WritebackPacer::default();
    let mut written = 0u64;
    while written < size {
        if cancel.load(Ordering::Relaxed) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "journal closed"));
        }
        let len = (size - written).min(FILL_STEP as u64);
        // `len` is at most FILL_STEP, so it fits a usize.
        file.write_all(&zeros[..len as usize])?;
        written += len;
        writeback.step(&file, written);
    }
    file.sync_all()?;
    drop(file);
    fs::rename(&filling, dir.join(READY_NAME))
}

/// Gives up journal file `path` (id `id`), whose records are all
/// checkpointed. With `recycle` and room in the pool it is kept for a later
/// fill to overwrite; otherwise it is deleted. The caller syncs `dir`.
pub fn retire_journal_file(dir: &Path, path: &Path, id: u64, recycle: bool) -> io::Result<()> {
    if recycle && retired_files(dir)?.len() < MAX_RETIRED_FILES {
        fs::rename(path, dir.join(format!("{id:016x}{RETIRED_SUFFIX}")))
    } else {
        fs::remove_file(path)
    }
}

/// Deletes every retired file (preallocation was switched off).
pub fn remove_retired_files(dir: &Path) -> io::Result<()> {
    for path in retired_files(dir)? {
        remove_if_present(&path)?;
    }
    Ok(())
}

/// Retired files under `dir`, oldest first.
fn retired_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut retired = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.ends_with(RETIRED_SUFFIX))
        {
            retired.push(entry.path());
        }
    }
    retired.sort();
    Ok(retired)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn wait_until_ready(preparer: &mut Preparer) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !preparer.is_ready() {
            assert!(Instant::now() < deadline, "preallocation did not finish");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn prepares_a_zero_filled_file_of_the_asked_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut preparer = Preparer::new(dir.path(), 700_000).unwrap();
        assert!(preparer.take_as(&dir.path().join("a")).is_none());
        preparer.start();
        wait_until_ready(&mut preparer);
        let path = dir.path().join("0000000000000001.journal");
        let mut file = preparer.take_as(&path).unwrap().unwrap();
        file.write_all(b"head").unwrap();
        drop(file);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 700_000);
        assert_eq!(&bytes[..4], b"head");
        assert!(bytes[4..].iter().all(|b| *b == 0));
        assert!(!dir.path().join(READY_NAME).exists());
        // Taken once: the next take needs a new preparation.
        assert!(preparer.take_as(&dir.path().join("b")).is_none());
    }

    #[test]
    fn a_fill_overwrites_a_retired_file_in_place() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("0000000000000001.journal");
        fs::write(&journal, vec![0xab; 3 * FILL_STEP]).unwrap();
        let inode = fs::metadata(&journal).unwrap().ino();
        retire_journal_file(dir.path(), &journal, 1, true).unwrap();
        assert!(!journal.exists());

        let size = 2 * FILL_STEP as u64 + 100;
        let mut preparer = Preparer::new(dir.path(), size).unwrap();
        preparer.start();
        wait_until_ready(&mut preparer);
        let ready = dir.path().join(READY_NAME);
        assert_eq!(
            fs::metadata(&ready).unwrap().ino(),
            inode,
            "the retired file was reused"
        );
        let bytes = fs::read(&ready).unwrap();
        assert_eq!(bytes.len() as u64, size);
        assert!(
            bytes.iter().all(|b| *b == 0),
            "every old byte was overwritten"
        );
        assert!(retired_files(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn the_retired_pool_is_bounded_and_the_rest_is_deleted() {
        let dir = tempfile::tempdir().unwrap();
        for id in 1..=4u64 {
            let path = dir.path().join(format!("{id:016x}.journal"));
            fs::write(&path, b"records").unwrap();
            retire_journal_file(dir.path(), &path, id, true).unwrap();
            assert!(!path.exists());
        }
        assert_eq!(retired_files(dir.path()).unwrap().len(), MAX_RETIRED_FILES);
        let path = dir.path().join("0000000000000005.journal");
        fs::write(&path, b"records").unwrap();
        retire_journal_file(dir.path(), &path, 5, false).unwrap();
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            MAX_RETIRED_FILES,
            "not recycling deletes"
        );
    }

    #[test]
    fn dropping_the_preparer_stops_a_fill_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        let mut preparer = Preparer::new(dir.path(), 1 << 30).unwrap();
        preparer.start();
        std::thread::sleep(Duration::from_millis(20));
        let started = Instant::now();
        drop(preparer);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!dir.path().join(READY_NAME).exists());
        // A new preparer clears what the stopped fill left behind.
        let _again = Preparer::new(dir.path(), 1 << 30).unwrap();
        assert!(!dir.path().join(FILLING_NAME).exists());
    }

    #[test]
    fn a_restart_keeps_a_ready_file_and_drops_a_half_filled_one() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(FILLING_NAME), b"partial").unwrap();
        fs::write(dir.path().join(READY_NAME), vec![0u8; 4096]).unwrap();
        let mut preparer = Preparer::new(dir.path(), 4096).unwrap();
        assert!(!dir.path().join(FILLING_NAME).exists());
        assert!(preparer.is_ready());
        // A ready file of another size (the setting changed) is dropped.
        let mut other = Preparer::new(dir.path(), 8192).unwrap();
        assert!(!other.is_ready());
        assert!(!dir.path().join(READY_NAME).exists());
    }
}
