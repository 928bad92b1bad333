//! A small disk that fills up on demand: a size-limited tmpfs mounted on a
//! temporary directory (mounting needs root). [`SmallDisk::fill`] writes a
//! filler file until the filesystem answers ENOSPC; [`SmallDisk::free`]
//! removes it. Unmounted on drop.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

/// Bytes written per call while filling.
const FILL_CHUNK: usize = 1 << 20;

pub struct SmallDisk {
    mount: TempDir,
    size_mb: u64,
}

impl SmallDisk {
    /// Whether this process may mount filesystems (it runs as root).
    pub fn can_mount() -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    /// Mounts a tmpfs of `size_mb` MiB on a new temporary directory.
    pub fn mount(size_mb: u64) -> Result<SmallDisk> {
        let mount = tempfile::Builder::new()
            .prefix("magnetar-small-disk-")
            .tempdir()
            .context("create the mount point")?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m"), "tmpfs"])
            .arg(mount.path())
            .status()
            .context("run mount")?;
        if !status.success() {
            bail!("mount -t tmpfs on {}: {status}", mount.path().display());
        }
        Ok(SmallDisk { mount, size_mb })
    }

    pub fn path(&self) -> &Path {
        self.mount.path()
    }

    fn filler(&self) -> PathBuf {
        self.mount.path().join("filler")
    }

    /// Writes the filler file until the disk is full; returns its size.
    pub fn fill(&self) -> Result<u64> {
        let mut file = File::create(self.filler()).context("create the filler")?;
        let chunk = vec![0u8; FILL_CHUNK];
        let mut written = 0u64;
        // Bounded: the disk cannot take more than its size.
        for _ in 0..=self.size_mb {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(error) if error.kind() == ErrorKind::StorageFull => break,
                Err(error) => return Err(error).context("write the filler"),
            }
        }
        // Fill the last partial pages too.
        for _ in 0..FILL_CHUNK / 4096 {
            match file.write(&chunk[..4096]) {
                Ok(n) if n > 0 => written += n as u64,
                _ => break,
            }
        }
        Ok(written)
    }

    /// Removes the filler.
    pub fn free(&self) -> Result<()> {
        match std::fs::remove_file(self.filler()) {
            Err(error) if error.kind() != ErrorKind::NotFound => {
                Err(error).context("remove the filler")
            }
            _ => Ok(()),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.mount.path())
            .status();
    }
}
