//! Network partitions on loopback with iptables: every TCP segment to or
//! from a set of listening ports is dropped, so the processes behind those
//! ports cannot be reached (connections hang, new ones time out) while
//! their own outgoing connections, to the metadata store among others, keep
//! working. Cutting a broker's ports this way leaves it alive in the
//! metadata store, owning its bundles, but unreachable by clients, the
//! proxy and the other brokers; cutting a bookie's port leaves it
//! registered but unreachable by every ledger writer and reader.
//!
//! Rules carry a comment naming this process, so that they are removed on
//! heal, on drop, and never mistaken for another test's.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// Dropped traffic to and from some ports, until [`Partition::heal`] or
/// drop.
pub struct Partition {
    ports: Vec<u16>,
    tag: String,
    active: bool,
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

    /// Cuts `ports` off: segments to them and from them are dropped.
    pub fn cut(ports: &[u16]) -> Result<Partition> {
        let mut partition = Partition {
            ports: ports.to_vec(),
            tag: format!("magnetar-test-{}", std::process::id()),
            active: true,
        };
        for port in ports {
            for direction in ["--dport", "--sport"] {
                if let Err(error) = partition.rule("-A", direction, *port) {
                    let _ = partition.heal();
                    return Err(error);
                }
            }
        }
        Ok(partition)
    }

    /// Removes the rules.
    pub fn heal(&mut self) -> Result<()> {
        if !self.active {
            return Ok(());
        }
        self.active = false;
        let mut first_error = None;
        for port in self.ports.clone() {
            for direction in ["--dport", "--sport"] {
                if let Err(error) = self.rule("-D", direction, port) {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn rule(&self, action: &str, direction: &str, port: u16) -> Result<()> {
        let port = port.to_string();
        let status = Command::new("iptables")
            .args([
                "-w", action, "INPUT", "-i", "lo", "-p", "tcp", direction, &port,
            ])
            .args(["-m", "comment", "--comment", &self.tag, "-j", "DROP"])
            .status()
            .context("run iptables")?;
        if !status.success() {
            bail!("iptables {action} INPUT {direction} {port}: {status}");
        }
        Ok(())
    }
}

impl Drop for Partition {
    fn drop(&mut self) {
        let _ = self.heal();
    }
}
