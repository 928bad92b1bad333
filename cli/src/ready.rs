//! The readiness line: `magnetar ready <role> <name>=<addr> ...` on stdout,
//! printed once a server accepts connections. Scripts and the end-to-end
//! harness wait for it instead of guessing ports (listeners may bind port 0).

use std::io::Write;
use std::net::SocketAddr;

pub fn announce(role: &str, addresses: &[(&str, SocketAddr)]) {
    let mut line = format!("magnetar ready {role}");
    for (name, addr) in addresses {
        line.push_str(&format!(" {name}={addr}"));
    }
    let mut stdout = std::io::stdout().lock();
    // A closed stdout must not stop a server: ignore write errors.
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}
