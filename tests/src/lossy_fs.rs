//! A disk that can lose power: a FUSE filesystem (through `fuser`) that
//! passes everything through to a backing directory and remembers, for
//! each file, what every write, truncation and allocation since that
//! file's last fsync overwrote. [`LossyDisk::power_loss`] unmounts, puts
//! every file back as its last fsync left it, and mounts again: what a
//! machine keeps of its page cache when the power goes, and what kill -9
//! alone cannot show.
//!
//! The model is file data only: creating, renaming and removing files are
//! kept as done (a file created and never fsynced comes back empty). That
//! is enough to tell a bookie that fsyncs its journal before it
//! acknowledges from one that does not. Mounting needs root and
//! `/dev/fuse`.
//!
//! Attributes and entries are never cached by the kernel (zero TTLs), and
//! every request is served on one thread under one lock: simple, slow,
//! and fast enough for a test's bookie.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use fuser::{
    AccessFlags, BackgroundSession, BsdFileFlags, Config, Errno, FileAttr, FileHandle, FileType,
    Filesystem, FopenFlags, Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen,
    ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};
use parking_lot::Mutex;
use tempfile::TempDir;

/// Nothing is cached by the kernel.
const TTL: Duration = Duration::ZERO;

/// What a file held at its last fsync, as far as it was changed since.
#[derive(Debug)]
struct Undo {
    /// The length at the last fsync.
    original_len: u64,
    /// Old bytes (offset, bytes) within `original_len`, oldest first.
    overwritten: Vec<(u64, Vec<u8>)>,
}

/// Unsynced changes per file (path relative to the backing directory).
#[derive(Debug, Default)]
struct Changes {
    files: HashMap<PathBuf, Undo>,
}

impl Changes {
    /// Remembers what `[offset, offset + len)` of `file` (now `current_len`
    /// long) holds before it is changed.
    fn remember(&mut self, path: &Path, file: &File, offset: u64, len: u64) -> std::io::Result<()> {
        let current_len = file.metadata()?.len();
        let undo = self.files.entry(path.to_path_buf()).or_insert(Undo {
            original_len: current_len,
            overwritten: Vec::new(),
        });
        let end = (offset.saturating_add(len))
            .min(undo.original_len)
            .min(current_len);
        if offset < end {
            let mut old = vec![0u8; (end - offset) as usize];
            file.read_exact_at(&mut old, offset)?;
            undo.overwritten.push((offset, old));
        }
        Ok(())
    }

    /// Rolls every changed file back; returns the bytes put back or cut
    /// off.
    fn roll_back(&mut self, root: &Path) -> std::io::Result<u64> {
        let mut restored = 0;
        for (path, undo) in self.files.drain() {
            let file = match OpenOptions::new().write(true).open(root.join(&path)) {
                Ok(file) => file,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            restored += file.metadata()?.len().saturating_sub(undo.original_len);
            file.set_len(undo.original_len)?;
            for (offset, old) in undo.overwritten.iter().rev() {
                file.write_all_at(old, *offset)?;
                restored += old.len() as u64;
            }
            file.sync_all()?;
        }
        Ok(restored)
    }
}

/// Inode numbers and open files of one mount.
struct Nodes {
    paths: HashMap<u64, PathBuf>,
    inodes: HashMap<PathBuf, u64>,
    next_ino: u64,
    handles: HashMap<u64, (PathBuf, File)>,
    next_fh: u64,
}

impl Nodes {
    fn new() -> Nodes {
        let mut nodes = Nodes {
            paths: HashMap::new(),
            inodes: HashMap::new(),
            next_ino: INodeNo::ROOT.0 + 1,
            handles: HashMap::new(),
            next_fh: 1,
        };
        nodes.paths.insert(INodeNo::ROOT.0, PathBuf::new());
        nodes.inodes.insert(PathBuf::new(), INodeNo::ROOT.0);
        nodes
    }

    fn ino_of(&mut self, path: &Path) -> u64 {
        if let Some(ino) = self.inodes.get(path) {
            return *ino;
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.paths.insert(ino, path.to_path_buf());
        self.inodes.insert(path.to_path_buf(), ino);
        ino
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.paths.get(&ino.0).cloned().ok_or(Errno::ENOENT)
    }

    /// Renames `from` (and everything under it) to `to` in the maps.
    fn rename(&mut self, from: &Path, to: &Path) {
        let moved: Vec<(PathBuf, u64)> = self
            .inodes
            .iter()
            .filter(|(path, _)| path.starts_with(from))
            .map(|(path, ino)| (path.clone(), *ino))
            .collect();
        if let Some(old) = self.inodes.remove(to) {
            self.paths.remove(&old);
        }
        for (path, ino) in moved {
            self.inodes.remove(&path);
            let rest = path.strip_prefix(from).unwrap_or(Path::new(""));
            let new = if rest.as_os_str().is_empty() {
                to.to_path_buf()
            } else {
                to.join(rest)
            };
            self.paths.insert(ino, new.clone());
            self.inodes.insert(new, ino);
        }
    }

    fn forget_path(&mut self, path: &Path) {
        if let Some(ino) = self.inodes.remove(path) {
            self.paths.remove(&ino);
        }
    }
}

struct State {
    nodes: Nodes,
    changes: Arc<Mutex<Changes>>,
}

/// The filesystem served over FUSE.
struct LossyFs {
    root: PathBuf,
    state: Mutex<State>,
}

fn errno(error: std::io::Error) -> Errno {
    Errno::from(error)
}

fn file_type(metadata: &std::fs::Metadata) -> FileType {
    let kind = metadata.file_type();
    if kind.is_dir() {
        FileType::Directory
    } else if kind.is_symlink() {
        FileType::Symlink
    } else {
        FileType::RegularFile
    }
}

fn attr(ino: u64, metadata: &std::fs::Metadata) -> FileAttr {
    let time = |secs: i64, nanos: i64| {
        UNIX_EPOCH + Duration::new(secs.max(0) as u64, nanos.clamp(0, 999_999_999) as u32)
    };
    FileAttr {
        ino: INodeNo(ino),
        size: metadata.len(),
        blocks: metadata.blocks(),
        atime: time(metadata.atime(), metadata.atime_nsec()),
        mtime: time(metadata.mtime(), metadata.mtime_nsec()),
        ctime: time(metadata.ctime(), metadata.ctime_nsec()),
        crtime: time(metadata.ctime(), metadata.ctime_nsec()),
        kind: file_type(metadata),
        perm: (metadata.mode() & 0o7777) as u16,
        nlink: metadata.nlink() as u32,
        uid: metadata.uid(),
        gid: metadata.gid(),
        rdev: metadata.rdev() as u32,
        blksize: 4096,
        flags: 0,
    }
}

impl LossyFs {
    fn full(&self, path: &Path) -> PathBuf {
        self.root.join(path)
    }

    /// The attributes of `path`, interning its inode number.
    fn entry(&self, state: &mut State, path: &Path) -> Result<FileAttr, Errno> {
        let metadata = std::fs::symlink_metadata(self.full(path)).map_err(errno)?;
        let ino = state.nodes.ino_of(path);
        Ok(attr(ino, &metadata))
    }

    fn child(&self, state: &State, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        Ok(state.nodes.path(parent)?.join(name))
    }

    fn open_file(&self, path: &Path, flags: i32, create: Option<u32>) -> std::io::Result<File> {
        let access = flags & libc::O_ACCMODE;
        let mut options = OpenOptions::new();
        options
            .read(access == libc::O_RDONLY || access == libc::O_RDWR)
            .write(access == libc::O_WRONLY || access == libc::O_RDWR)
            .custom_flags(flags & libc::O_APPEND);
        if let Some(mode) = create {
            options.create(true).write(true).mode(mode);
        }
        options.open(self.full(path))
    }

    /// A handle that can read `path`, for remembering old bytes.
    fn reader(&self, path: &Path) -> std::io::Result<File> {
        File::open(self.full(path))
    }
}

impl Filesystem for LossyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut state = self.state.lock();
        let result = self
            .child(&state, parent, name)
            .and_then(|path| self.entry(&mut state, &path));
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(error) => reply.error(error),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let mut state = self.state.lock();
        match state
            .nodes
            .path(ino)
            .and_then(|path| self.entry(&mut state, &path))
        {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(error) => reply.error(error),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut state = self.state.lock();
        let result = (|| -> Result<FileAttr, Errno> {
            let path = state.nodes.path(ino)?;
            if let Some(size) = size {
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(self.full(&path))
                    .map_err(errno)?;
                state
                    .changes
                    .lock()
                    .remember(&path, &file, size, u64::MAX)
                    .map_err(errno)?;
                file.set_len(size).map_err(errno)?;
            }
            if let Some(mode) = mode {
                std::fs::set_permissions(self.full(&path), PermissionsExt::from_mode(mode))
                    .map_err(errno)?;
            }
            self.entry(&mut state, &path)
        })();
        match result {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(error) => reply.error(error),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut state = self.state.lock();
        let result = (|| -> Result<FileAttr, Errno> {
            let path = self.child(&state, parent, name)?;
            std::fs::create_dir(self.full(&path)).map_err(errno)?;
            std::fs::set_permissions(self.full(&path), PermissionsExt::from_mode(mode))
                .map_err(errno)?;
            self.entry(&mut state, &path)
        })();
        match result {
            Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
            Err(error) => reply.error(error),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut state = self.state.lock();
        let result = (|| -> Result<(), Errno> {
            let path = self.child(&state, parent, name)?;
            std::fs::remove_file(self.full(&path)).map_err(errno)?;
            state.changes.lock().files.remove(&path);
            state.nodes.forget_path(&path);
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(error) => reply.error(error),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut state = self.state.lock();
        let result = (|| -> Result<(), Errno> {
            let path = self.child(&state, parent, name)?;
            std::fs::remove_dir(self.full(&path)).map_err(errno)?;
            state.nodes.forget_path(&path);
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(error) => reply.error(error),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut state = self.state.lock();
        let result = (|| -> Result<(), Errno> {
            let from = self.child(&state, parent, name)?;
            let to = self.child(&state, newparent, newname)?;
            std::fs::rename(self.full(&from), self.full(&to)).map_err(errno)?;
            let mut changes = state.changes.lock();
            changes.files.remove(&to);
            if let Some(undo) = changes.files.remove(&from) {
                changes.files.insert(to.clone(), undo);
            }
            drop(changes);
            state.nodes.rename(&from, &to);
            Ok(())
        })();
        match result {
            Ok(()) => reply.ok(),
            Err(error) => reply.error(error),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut state = self.state.lock();
        let result = (|| -> Result<u64, Errno> {
            let path = state.nodes.path(ino)?;
            let flags = flags.0;
            if flags & libc::O_TRUNC != 0 {
                let file = self.reader(&path).map_err(errno)?;
                state
                    .changes
                    .lock()
                    .remember(&path, &file, 0, u64::MAX)
                    .map_err(errno)?;
            }
            let file = self.open_file(&path, flags, None).map_err(errno)?;
            if flags & libc::O_TRUNC != 0 {
                file.set_len(0).map_err(errno)?;
            }
            let fh = state.nodes.next_fh;
            state.nodes.next_fh += 1;
            state.nodes.handles.insert(fh, (path, file));
            Ok(fh)
        })();
        match result {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(error) => reply.error(error),
        }
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut state = self.state.lock();
        let result = (|| -> Result<(FileAttr, u64), Errno> {
            let path = self.child(&state, parent, name)?;
            let existed = self.full(&path).exists();
            let file = self.open_file(&path, flags, Some(mode)).map_err(errno)?;
            if !existed {
                // Never fsynced: its data comes back empty after a power loss.
                state.changes.lock().files.insert(
                    path.clone(),
                    Undo {
                        original_len: 0,
                        overwritten: Vec::new(),
                    },
                );
            }
            let attr = self.entry(&mut state, &path)?;
            let fh = state.nodes.next_fh;
            state.nodes.next_fh += 1;
            state.nodes.handles.insert(fh, (path, file));
            Ok((attr, fh))
        })();
        match result {
            Ok((attr, fh)) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(fh),
                FopenFlags::empty(),
            ),
            Err(error) => reply.error(error),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let state = self.state.lock();
        let Some((path, _)) = state.nodes.handles.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let result = self.reader(path).and_then(|file| {
            let mut buf = vec![0u8; size as usize];
            let mut filled = 0;
            while filled < buf.len() {
                match file.read_at(&mut buf[filled..], offset + filled as u64)? {
                    0 => break,
                    n => filled += n,
                }
            }
            buf.truncate(filled);
            Ok(buf)
        });
        match result {
            Ok(data) => reply.data(&data),
            Err(error) => reply.error(errno(error)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let state = self.state.lock();
        let Some((path, file)) = state.nodes.handles.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let result = self.reader(path).and_then(|reader| {
            state
                .changes
                .lock()
                .remember(path, &reader, offset, data.len() as u64)?;
            file.write_all_at(data, offset)
        });
        match result {
            Ok(()) => reply.written(data.len() as u32),
            Err(error) => reply.error(errno(error)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.state.lock().nodes.handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let state = self.state.lock();
        let result = state.nodes.path(ino).and_then(|path| {
            let file = self.reader(&path).map_err(errno)?;
            file.sync_data().map_err(errno)?;
            state.changes.lock().files.remove(&path);
            Ok(())
        });
        match result {
            Ok(()) => reply.ok(),
            Err(error) => reply.error(error),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut state = self.state.lock();
        let result = (|| -> Result<Vec<(u64, FileType, std::ffi::OsString)>, Errno> {
            let path = state.nodes.path(ino)?;
            let mut entries = vec![
                (ino.0, FileType::Directory, ".".into()),
                (ino.0, FileType::Directory, "..".into()),
            ];
            for entry in std::fs::read_dir(self.full(&path)).map_err(errno)? {
                let entry = entry.map_err(errno)?;
                let metadata = entry.metadata().map_err(errno)?;
                let child = path.join(entry.file_name());
                let child_ino = state.nodes.ino_of(&child);
                entries.push((child_ino, file_type(&metadata), entry.file_name()));
            }
            Ok(entries)
        })();
        match result {
            Ok(entries) => {
                for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(ino), (i + 1) as u64, kind, name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(error) => reply.error(error),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        // The backing filesystem's figures, so that a full disk under the
        // backing directory shows as full here too.
        match rustix::fs::statvfs(&self.root) {
            Ok(stat) => reply.statfs(
                stat.f_blocks,
                stat.f_bfree,
                stat.f_bavail,
                stat.f_files,
                stat.f_ffree,
                u32::try_from(stat.f_bsize).unwrap_or(4096),
                u32::try_from(stat.f_namemax).unwrap_or(255),
                u32::try_from(stat.f_frsize).unwrap_or(4096),
            ),
            Err(error) => reply.error(errno(error.into())),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let state = self.state.lock();
        let Some((path, file)) = state.nodes.handles.get(&fh.0) else {
            return reply.error(Errno::EBADF);
        };
        let result = self.reader(path).and_then(|reader| {
            // Allocation changes no data in the file's old range; only its
            // length, which the undo record keeps.
            state.changes.lock().remember(path, &reader, offset, 0)?;
            // SAFETY: a valid open file descriptor and plain integers.
            let rc = unsafe {
                libc::fallocate(
                    file.as_raw_fd(),
                    mode,
                    offset as libc::off_t,
                    length as libc::off_t,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
        match result {
            Ok(()) => reply.ok(),
            Err(error) => reply.error(errno(error)),
        }
    }
}

/// A mounted lossy filesystem over its own backing directory.
pub struct LossyDisk {
    session: Option<BackgroundSession>,
    changes: Arc<Mutex<Changes>>,
    mount: TempDir,
    backing: TempDir,
}

impl LossyDisk {
    /// Whether FUSE can be mounted here (root, and `/dev/fuse` exists).
    pub fn available() -> bool {
        Path::new("/dev/fuse").exists() && crate::small_disk::SmallDisk::can_mount()
    }

    /// Mounts a new, empty lossy filesystem on a temporary directory.
    pub fn mount() -> Result<LossyDisk> {
        LossyDisk::mount_over(None)
    }

    /// As [`LossyDisk::mount`], with the backing directory (where the bytes
    /// really are) under `parent` when given: on a small disk, say, so that
    /// filling that disk fills this one too.
    pub fn mount_over(parent: Option<&Path>) -> Result<LossyDisk> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("magnetar-lossy-backing-");
        let backing = match parent {
            Some(parent) => builder.tempdir_in(parent),
            None => builder.tempdir(),
        }?;
        let mount = tempfile::Builder::new()
            .prefix("magnetar-lossy-")
            .tempdir()?;
        let mut disk = LossyDisk {
            session: None,
            changes: Arc::new(Mutex::new(Changes::default())),
            mount,
            backing,
        };
        disk.attach()?;
        Ok(disk)
    }

    fn attach(&mut self) -> Result<()> {
        let fs = LossyFs {
            root: self.backing.path().to_path_buf(),
            state: Mutex::new(State {
                nodes: Nodes::new(),
                changes: self.changes.clone(),
            }),
        };
        let mut config = Config::default();
        config.mount_options = vec![MountOption::FSName("magnetar-lossy".into())];
        let session = fuser::spawn_mount(fs, self.mount.path(), &config)
            .with_context(|| format!("mount FUSE on {}", self.mount.path().display()))?;
        self.session = Some(session);
        Ok(())
    }

    /// Where the filesystem is mounted.
    pub fn path(&self) -> &Path {
        self.mount.path()
    }

    /// The files with changes not yet fsynced: path, length at the last
    /// fsync, and how many overwrites since.
    pub fn unsynced(&self) -> Vec<(PathBuf, u64, usize)> {
        let mut files: Vec<_> = self
            .changes
            .lock()
            .files
            .iter()
            .map(|(path, undo)| (path.clone(), undo.original_len, undo.overwritten.len()))
            .collect();
        files.sort();
        files
    }

    /// Power loss: unmounts, rolls every file back to its last fsync, and
    /// mounts again. Whatever used the disk must be dead (kill -9) first.
    /// Returns how many bytes of overwritten data were put back.
    pub fn power_loss(&mut self) -> Result<u64> {
        if let Some(session) = self.session.take() {
            unmount(session)?;
        }
        let restored = self
            .changes
            .lock()
            .roll_back(self.backing.path())
            .context("roll the files back")?;
        self.attach()?;
        Ok(restored)
    }
}

/// Unmounts and waits for the session's thread. The kernel ends a FUSE
/// connection on unmount with ENODEV, or with ECONNABORTED when it tore the
/// connection down first; either way the filesystem is gone, and the
/// thread's read of the dead connection says no more than that.
fn unmount(session: BackgroundSession) -> Result<()> {
    match session.umount_and_join() {
        Err(error) if error.raw_os_error() == Some(libc::ECONNABORTED) => {
            tracing::debug!(%error, "FUSE session ended with the aborted connection");
            Ok(())
        }
        outcome => outcome.context("unmount"),
    }
}

impl Drop for LossyDisk {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = session.umount_and_join();
        }
    }
}
