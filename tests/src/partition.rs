//! Network partitions on loopback with iptables, of two shapes.
//!
//! - [`Partition::cut`]: every TCP segment to or from a set of listening
//!   ports is dropped, so the processes behind those ports cannot be
//!   reached (connections hang, new ones time out) while their own
//!   outgoing connections, to the metadata store among others, keep
//!   working. Cutting a broker's ports this way leaves it alive in the
//!   metadata store, owning its bundles, but unreachable by clients, the
//!   proxy and the other brokers; cutting a bookie's port leaves it
//!   registered but unreachable by every ledger writer and reader.
//! - [`Partition::cut_link`]: only the connections between two processes
//!   are cut, both ways, and each keeps talking to everyone else: a broker
//!   that cannot reach one bookie, or the metadata store, or another
//!   broker. The connections a process opens are told apart by its control
//!   group ([`crate::net_group`]); the first segment it sends on a
//!   connection to the other's ports marks the connection (conntrack), and
//!   every segment of a marked connection, either way, is dropped. A
//!   connection opened before the cut is caught by the next segment its
//!   opener sends: an acknowledgement, a keep-alive or a request.
//!
//! Rules carry a comment naming this process, so that they are removed on
//! heal, on drop, and never mistaken for another test's.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{bail, Context, Result};

/// One end of a cut link: the process's control group (`None` for a
/// process that only accepts connections, such as etcd) and the ports it
/// listens on.
#[derive(Debug, Clone)]
pub struct LinkEnd {
    pub group: Option<String>,
    pub ports: Vec<u16>,
}

/// Dropped traffic, until [`Partition::heal`] or drop.
pub struct Partition {
    /// Each rule as appended (`iptables -A <rule>`), deleted in reverse.
    rules: Vec<Vec<String>>,
    tag: String,
}

impl Partition {
    /// Whether iptables can be used here (installed, and this process may
    /// change rules).
    pub fn available() -> bool {
        Command::new("iptables")
            .args(["-w", "-S", "INPUT"])
            .output()
            .map(|out| out.status.success())
            .unwrap_or(false)
    }

    fn new() -> Partition {
        Partition {
            rules: Vec::new(),
            tag: format!("magnetar-test-{}", std::process::id()),
        }
    }

    /// Cuts `ports` off: segments to them and from them are dropped.
    pub fn cut(ports: &[u16]) -> Result<Partition> {
        let mut partition = Partition::new();
        for port in ports {
            for direction in ["--dport", "--sport"] {
                let rule = [
                    "INPUT",
                    "-i",
                    "lo",
                    "-p",
                    "tcp",
                    direction,
                    &port.to_string(),
                ]
                .map(str::to_string)
                .to_vec();
                partition.add(rule, "DROP")?;
            }
        }
        Ok(partition)
    }

    /// Cuts the connections between `a` and `b`, whichever opened them;
    /// both keep every other connection.
    pub fn cut_link(a: &LinkEnd, b: &LinkEnd) -> Result<Partition> {
        let mark = next_mark().to_string();
        let mut partition = Partition::new();
        for (opener, listener) in [(a, b), (b, a)] {
            let Some(group) = &opener.group else {
                continue;
            };
            if listener.ports.is_empty() {
                continue;
            }
            let ports = listener
                .ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let rule = [
                "OUTPUT",
                "-o",
                "lo",
                "-p",
                "tcp",
                "-m",
                "cgroup",
                "--path",
                group,
                "-m",
                "multiport",
                "--dports",
                &ports,
            ]
            .map(str::to_string)
            .to_vec();
            partition.add(rule, &format!("CONNMARK --set-mark {mark}"))?;
        }
        if partition.rules.is_empty() {
            bail!("neither end of the link {a:?} / {b:?} opens connections to the other");
        }
        let drop = ["OUTPUT", "-o", "lo", "-m", "connmark", "--mark", &mark]
            .map(str::to_string)
            .to_vec();
        partition.add(drop, "DROP")?;
        Ok(partition)
    }

    /// Appends `rule -j target`; on failure, removes what was added.
    fn add(&mut self, mut rule: Vec<String>, target: &str) -> Result<()> {
        rule.extend(["-m", "comment", "--comment", &self.tag, "-j"].map(str::to_string));
        rule.extend(target.split(' ').map(str::to_string));
        if let Err(error) = iptables("-A", &rule) {
            let _ = self.heal();
            return Err(error);
        }
        self.rules.push(rule);
        Ok(())
    }

    /// Removes the rules.
    pub fn heal(&mut self) -> Result<()> {
        let mut first_error = None;
        while let Some(rule) = self.rules.pop() {
            if let Err(error) = iptables("-D", &rule) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = self.heal();
    }
}

/// A connection mark no other cut of this or another test process uses.
fn next_mark() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let serial = NEXT.fetch_add(1, Ordering::Relaxed) & 0xfff;
    0x4000_0000 | ((std::process::id() & 0x3_ffff) << 12) | serial
}

fn iptables(action: &str, rule: &[String]) -> Result<()> {
    let status = Command::new("iptables")
        .args(["-w", action])
        .args(rule)
        .status()
        .context("run iptables")?;
    if !status.success() {
        bail!("iptables {action} {}: {status}", rule.join(" "));
    }
    Ok(())
}
