//! A private network for one test process, so that network faults cut by
//! address: each server the harness starts (etcd, bookies, brokers, the
//! proxy, metadata nodes) runs in a network namespace of its own (`ip
//! netns`) with one address on a /24, joined by a veth pair to a bridge
//! this module creates in the test's own namespace. The test process (and
//! the clients it runs, `magnetar verify` among them) reaches every server
//! through the bridge, from the bridge's address; the servers reach each
//! other the same way. [`crate::partition`] then drops traffic by address
//! inside one namespace.
//!
//! Off unless a test turns it on with [`TestNet::enable`] (root, `ip`,
//! `nsenter` and iptables). While the returned [`TestNet`] lives, the harness gives each
//! server it starts a [`Host`] of its own ([`Host::next`]) and binds it to
//! the host's address. A host outlives restarts of its process, so a
//! bookie comes back on the same address and port. The bridge, the
//! namespaces and the forwarding rule are removed once the `TestNet` and
//! the last host are dropped; what a killed test process left behind is
//! removed by the next [`TestNet::enable`] on the machine.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};

use anyhow::{bail, ensure, Context, Result};

/// The /24s a test network picks from: `10.231.x.0/24`.
const SUBNET_PREFIX: [u8; 2] = [10, 231];
/// Serializes picking a subnet between test processes.
const LOCK_FILE: &str = "/tmp/magnetar-test-net.lock";
/// The interface a server's namespace reaches the bridge through.
pub const NAMESPACE_INTERFACE: &str = "eth0";

/// The network of the running test, while its [`TestNet`] lives.
static ACTIVE: Mutex<Weak<Bridge>> = Mutex::new(Weak::new());

/// The bridge, its address (the gateway of every namespace) and the
/// forwarding rule that lets namespaces talk through it.
struct Bridge {
    name: String,
    subnet: [u8; 3],
    next_host: AtomicU8,
    forward_rule: Vec<String>,
    hosts: Mutex<Vec<Weak<Host>>>,
}

/// A test's network; servers started while it lives get hosts of their own.
pub struct TestNet {
    bridge: Arc<Bridge>,
}

/// One server's network namespace and its address on the bridge.
pub struct Host {
    bridge: Arc<Bridge>,
    namespace: String,
    veth: String,
    ip: Ipv4Addr,
}

impl TestNet {
    /// Creates the bridge and makes it the active network; `None` when
    /// this machine or user cannot (not root, no `ip`, no iptables).
    pub fn enable() -> Option<TestNet> {
        match TestNet::create() {
            Ok(net) => Some(net),
            Err(error) => {
                eprintln!("no network namespaces: {error:#}");
                None
            }
        }
    }

    fn create() -> Result<TestNet> {
        let pid = std::process::id();
        let lock = File::create(LOCK_FILE).with_context(|| format!("create {LOCK_FILE}"))?;
        lock.lock().context("lock the test network file")?;
        remove_leftovers();
        let subnet = free_subnet()?;
        let name = format!("mgb{pid}");
        let gateway = Ipv4Addr::new(subnet[0], subnet[1], subnet[2], 1);
        ip(&["link", "add", &name, "type", "bridge"])?;
        let forward_rule = [
            "FORWARD",
            "-i",
            &name,
            "-o",
            &name,
            "-m",
            "comment",
            "--comment",
            &format!("magnetar-net-{pid}"),
            "-j",
            "ACCEPT",
        ]
        .map(str::to_string)
        .to_vec();
        let bridge = Arc::new(Bridge {
            name: name.clone(),
            subnet,
            next_host: AtomicU8::new(2),
            forward_rule,
            hosts: Mutex::new(Vec::new()),
        });
        ip(&["addr", "add", &format!("{gateway}/24"), "dev", &name])?;
        ip(&["link", "set", &name, "up"])?;
        // Where bridged traffic goes through iptables (br_netfilter, as
        // Docker sets it up), the FORWARD policy may drop it.
        iptables(None, "-I", &bridge.forward_rule)?;
        drop(lock);
        *ACTIVE.lock().unwrap_or_else(|poison| poison.into_inner()) = Arc::downgrade(&bridge);
        Ok(TestNet { bridge })
    }

    /// The bridge's address: where the test process and its clients come
    /// from, as the servers see them.
    pub fn gateway(&self) -> Ipv4Addr {
        self.bridge.gateway()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let mut active = ACTIVE.lock().unwrap_or_else(|poison| poison.into_inner());
        if active.ptr_eq(&Arc::downgrade(&self.bridge)) {
            *active = Weak::new();
        }
    }
}

impl Bridge {
    fn gateway(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 1)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = iptables(None, "-D", &self.forward_rule);
        let _ = ip(&["link", "del", &self.name]);
    }
}

impl Host {
    /// A new namespace on the active network, or `None` when no test
    /// network is on (the server then binds 127.0.0.1).
    pub fn next() -> Result<Option<Arc<Host>>> {
        let Some(bridge) = ACTIVE
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .upgrade()
        else {
            return Ok(None);
        };
        let n = bridge.next_host.fetch_add(1, Ordering::Relaxed);
        ensure!(
            (2..255).contains(&n),
            "the test network has no address left"
        );
        let pid = std::process::id();
        let [a, b, c] = bridge.subnet;
        let host = Arc::new(Host {
            namespace: format!("magnetar-{pid}-{n}"),
            veth: format!("mg{pid}x{n}"),
            ip: Ipv4Addr::new(a, b, c, n),
            bridge: bridge.clone(),
        });
        host.create()
            .with_context(|| format!("create network namespace {}", host.namespace))?;
        bridge
            .hosts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(Arc::downgrade(&host));
        Ok(Some(host))
    }

    fn create(&self) -> Result<()> {
        let ns = self.namespace.as_str();
        ip(&["netns", "add", ns])?;
        ip(&[
            "link",
            "add",
            &self.veth,
            "type",
            "veth",
            "peer",
            "name",
            NAMESPACE_INTERFACE,
            "netns",
            ns,
        ])?;
        ip(&["link", "set", &self.veth, "master", &self.bridge.name, "up"])?;
        let address = format!("{}/24", self.ip);
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &address,
            "dev",
            NAMESPACE_INTERFACE,
        ])?;
        ip(&["-n", ns, "link", "set", NAMESPACE_INTERFACE, "up"])?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        let gateway = self.bridge.gateway().to_string();
        ip(&["-n", ns, "route", "add", "default", "via", &gateway])
    }

    /// The host of the active network whose address is `ip`.
    pub fn at(ip: IpAddr) -> Option<Arc<Host>> {
        let bridge = ACTIVE
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .upgrade()?;
        let hosts = bridge
            .hosts
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        hosts
            .iter()
            .filter_map(Weak::upgrade)
            .find(|host| IpAddr::V4(host.ip) == ip)
    }

    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// `program` started inside this namespace (see [`Host::launcher`]).
    pub fn command(&self, program: &Path) -> Command {
        let mut words = self.launcher().into_iter();
        let mut command = Command::new(words.next().unwrap_or_default());
        command.args(words).arg(program);
        command
    }

    /// The command words that start a program inside this namespace:
    /// `nsenter --net=…`, which enters the network namespace only and
    /// becomes the program, so the child's pid is the program's. (`ip
    /// netns exec` would also give the program a mount namespace of its
    /// own, holding a copy of every mount of the moment, a lossy disk's
    /// FUSE mount among them, which then outlives its unmount here.)
    pub fn launcher(&self) -> Vec<String> {
        vec![
            "nsenter".to_string(),
            format!("--net=/run/netns/{}", self.namespace),
            "--".to_string(),
        ]
    }

    /// Runs `iptables -w <action> <rule>` inside this namespace.
    pub fn iptables(&self, action: &str, rule: &[String]) -> Result<()> {
        iptables(Some(&self.namespace), action, rule)
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.namespace]);
        let _ = ip(&["link", "del", &self.veth]);
    }
}

/// The address a server should bind: its host's, or 127.0.0.1 without one.
pub fn bind_ip(host: Option<&Arc<Host>>) -> IpAddr {
    host.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |host| IpAddr::V4(host.ip))
}

/// The first `10.231.x.0/24` no interface of this machine has an address in.
fn free_subnet() -> Result<[u8; 3]> {
    let out = output(Command::new("ip").args(["-o", "-4", "addr", "show"]))?;
    let [a, b] = SUBNET_PREFIX;
    let start = (std::process::id() % 256) as u8;
    (0..=255u8)
        .map(|i| start.wrapping_add(i))
        .map(|c| [a, b, c])
        .find(|[a, b, c]| !out.contains(&format!(" {a}.{b}.{c}.")))
        .context("every 10.231.x.0/24 is in use")
}

/// Removes bridges, namespaces and rules of test processes that are gone.
fn remove_leftovers() {
    let dead = |pid: &str| {
        pid.parse::<u32>()
            .is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    };
    if let Ok(links) = output(Command::new("ip").args(["-o", "link", "show", "type", "bridge"])) {
        for line in links.lines() {
            let name = line.split(':').nth(1).unwrap_or("").trim();
            if name.strip_prefix("mgb").is_some_and(dead) {
                let _ = ip(&["link", "del", name]);
            }
        }
    }
    if let Ok(namespaces) = output(Command::new("ip").args(["netns", "list"])) {
        for line in namespaces.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            let pid = name
                .strip_prefix("magnetar-")
                .and_then(|rest| rest.split('-').next());
            if pid.is_some_and(dead) {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
    if let Ok(rules) = output(Command::new("iptables").args(["-w", "-S", "FORWARD"])) {
        for line in rules.lines() {
            let pid = line
                .split("magnetar-net-")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(|pid| pid.trim_matches('"'));
            if pid.is_some_and(dead) {
                if let Some(rule) = line.strip_prefix("-A ") {
                    let rule: Vec<String> = rule
                        .split_whitespace()
                        .map(|word| word.trim_matches('"').to_string())
                        .collect();
                    let _ = iptables(None, "-D", &rule);
                }
            }
        }
    }
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("run ip")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn iptables(namespace: Option<&str>, action: &str, rule: &[String]) -> Result<()> {
    let mut command = match namespace {
        Some(ns) => {
            let mut command = Command::new("nsenter");
            command
                .arg(format!("--net=/run/netns/{ns}"))
                .args(["--", "iptables"]);
            command
        }
        None => Command::new("iptables"),
    };
    let out = command
        .args(["-w", action])
        .args(rule)
        .stdin(Stdio::null())
        .output()
        .context("run iptables")?;
    if !out.status.success() {
        bail!(
            "iptables {action} {} (namespace {namespace:?}): {}",
            rule.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn output(command: &mut Command) -> Result<String> {
    let out = command.stdin(Stdio::null()).output().context("run")?;
    ensure!(out.status.success(), "{command:?}: {}", out.status);
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
