//! Writeback pacing of files written front to back (entry logs, the journal
//! fill): [`WritebackPacer`] hands the kernel the bytes written so far in
//! steps with `sync_file_range(2)`, so they do not reach the disk in one
//! burst that a journal fsync would queue behind.
//!
//! Durable replacement of small files and directory syncs are not here:
//! they are `magnetar_metadata::durable_file`, shared with the other crates.
//!
//! `sync_file_range(2)` is the one `unsafe` call of the crate: neither
//! `rustix` nor `nix` wraps it (both checked), so it goes through `libc`,
//! isolated in [`sync_file_range`].

use std::fs::File;
use std::io;

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
        sync_file_range(
            file,
            self.from,
            written_to - self.from,
            libc::SYNC_FILE_RANGE_WRITE,
        );
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
