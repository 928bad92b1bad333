//! Network partitions between the servers of a test network
//! ([`crate::netns`]): iptables rules inside one server's namespace that
//! drop traffic by address, of two shapes.
//!
//! - [`Partition::isolate`]: the server reaches only the addresses it is
//!   told to keep, and only they reach it. A broker that keeps the metadata
//!   store and the bookies stays alive in the metadata store, owning its
//!   bundles, while clients, the proxy and the other brokers cannot reach
//!   it; a bookie that keeps only the metadata store stays registered but
//!   is unreachable by every ledger writer and reader.
//! - [`Partition::cut_link`]: only the traffic between the server and the
//!   given peers is dropped, both ways; each keeps talking to everyone
//!   else (a broker that cannot reach one bookie, the metadata store, or
//!   another broker).
//!
//! Every segment is dropped, those of connections already open too, so an
//! open connection hangs until a timeout or a keep-alive notices. The rules
//! of one partition live in a chain of their own in the namespace, jumped
//! to from INPUT and OUTPUT on the bridge interface, and removed on heal
//! or drop.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use anyhow::Result;

use crate::netns::{Host, NAMESPACE_INTERFACE};

/// Dropped traffic, until [`Partition::heal`] or drop.
pub struct Partition {
    host: Arc<Host>,
    chain: String,
    /// The jumps into `chain`, as appended (`iptables -A <rule>`).
    jumps: Vec<Vec<String>>,
    /// Whether `chain` exists and must be flushed and deleted.
    created: bool,
}

impl Partition {
    /// `host` reaches only `keep`, and only `keep` reaches it.
    pub fn isolate(host: &Arc<Host>, keep: &[Ipv4Addr]) -> Result<Partition> {
        let mut rules: Vec<Vec<String>> = Vec::new();
        for ip in keep {
            rules.push(words(&["-s", &ip.to_string(), "-j", "RETURN"]));
            rules.push(words(&["-d", &ip.to_string(), "-j", "RETURN"]));
        }
        rules.push(words(&["-j", "DROP"]));
        Partition::install(host, rules)
    }

    /// Drops everything between `host` and each of `peers`, both ways.
    pub fn cut_link(host: &Arc<Host>, peers: &[Ipv4Addr]) -> Result<Partition> {
        let mut rules: Vec<Vec<String>> = Vec::new();
        for ip in peers {
            rules.push(words(&["-s", &ip.to_string(), "-j", "DROP"]));
            rules.push(words(&["-d", &ip.to_string(), "-j", "DROP"]));
        }
        Partition::install(host, rules)
    }

    /// Creates the chain with `rules`, then jumps to it from INPUT and
    /// OUTPUT; on failure, removes what was added.
    fn install(host: &Arc<Host>, rules: Vec<Vec<String>>) -> Result<Partition> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let mut partition = Partition {
            host: host.clone(),
            chain: format!("magnetar-cut-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
            jumps: Vec::new(),
            created: false,
        };
        if let Err(error) = partition.try_install(rules) {
            let _ = partition.heal();
            return Err(error);
        }
        Ok(partition)
    }

    fn try_install(&mut self, rules: Vec<Vec<String>>) -> Result<()> {
        self.host
            .iptables("-N", std::slice::from_ref(&self.chain))?;
        self.created = true;
        for rule in rules {
            let mut rule = rule;
            rule.insert(0, self.chain.clone());
            self.host.iptables("-A", &rule)?;
        }
        for (chain, direction) in [("INPUT", "-i"), ("OUTPUT", "-o")] {
            let jump = words(&[chain, direction, NAMESPACE_INTERFACE, "-j", &self.chain]);
            self.host.iptables("-A", &jump)?;
            self.jumps.push(jump);
        }
        Ok(())
    }

    /// Removes the rules.
    pub fn heal(&mut self) -> Result<()> {
        let mut first_error = None;
        while let Some(jump) = self.jumps.pop() {
            if let Err(error) = self.host.iptables("-D", &jump) {
                first_error.get_or_insert(error);
            }
        }
        if std::mem::take(&mut self.created) {
            for action in ["-F", "-X"] {
                if let Err(error) = self
                    .host
                    .iptables(action, std::slice::from_ref(&self.chain))
                {
                    first_error.get_or_insert(error);
                }
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

fn words(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| word.to_string()).collect()
}
