//! Each `magnetar` process a test starts, in a control group (cgroup v2) of
//! its own, so that iptables can tell one process's connections from
//! another's on loopback: every process listens and connects on 127.0.0.1,
//! so addresses alone cannot single out a link between two of them.
//! [`crate::partition::Partition::cut_link`] builds on this.
//!
//! Off unless a test turns it on with [`enable`] (it needs root and a
//! cgroup2 mount). Once on, [`crate::process`] starts every child through
//! `sh`, which moves itself into `magnetar-test-<test pid>/p<its pid>` under
//! the cgroup2 root and then execs the program, so the program's first
//! socket is already in the group (a socket stays in the group of the
//! process that created it). A group is removed when its process is reaped.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Moves the shell into `$MAGNETAR_NET_GROUP_DIR/p<pid>`, then becomes the
/// program given as its arguments.
const ENTER_AND_EXEC: &str = r#"d="$MAGNETAR_NET_GROUP_DIR/p$$" && mkdir -p "$d" && echo $$ > "$d/cgroup.procs" && exec "$@""#;

/// The cgroup2 mount point (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified`
/// on a hybrid hierarchy), if there is one.
fn root() -> Option<&'static PathBuf> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
        mounts.lines().find_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, path, kind) = (fields.next()?, fields.next()?, fields.next()?);
            (kind == "cgroup2").then(|| PathBuf::from(path))
        })
    })
    .as_ref()
}

/// This test process's parent group, relative to the cgroup2 root.
fn test_group() -> String {
    format!("magnetar-test-{}", std::process::id())
}

/// Turns groups on for every process started from now on; false (and
/// nothing changes) when there is no cgroup2 mount this process may write.
pub fn enable() -> bool {
    let Some(root) = root() else {
        return false;
    };
    if std::fs::create_dir_all(root.join(test_group())).is_err() {
        return false;
    }
    ENABLED.store(true, Ordering::SeqCst);
    true
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::SeqCst)
}

/// The command that starts `program` in a group of its own when groups
/// are on, else `program` itself.
pub(crate) fn command(program: &std::path::Path) -> Command {
    match root().filter(|_| enabled()) {
        Some(root) => {
            let mut command = Command::new("sh");
            command
                .args(["-c", ENTER_AND_EXEC, "sh"])
                .arg(program)
                .env("MAGNETAR_NET_GROUP_DIR", root.join(test_group()));
            command
        }
        None => Command::new(program),
    }
}

/// The group of the process `pid` started by [`command`], as iptables'
/// `cgroup --path` takes it (relative to the cgroup2 root).
pub fn group_of(pid: u32) -> Option<String> {
    let path = format!("{}/p{pid}", test_group());
    root()
        .filter(|root| enabled() && root.join(&path).is_dir())
        .map(|_| path)
}

/// Removes the group of `pid`, which has been reaped, and the test's
/// parent group once it is empty. Errors are ignored: a group left behind
/// is empty and harmless.
pub(crate) fn remove(pid: u32) {
    if let Some(root) = root().filter(|_| enabled()) {
        let parent = root.join(test_group());
        let _ = std::fs::remove_dir(parent.join(format!("p{pid}")));
        let _ = std::fs::remove_dir(parent);
    }
}
