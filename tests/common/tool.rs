//! Finding the foreign programs tests drive, and skipping visibly where one is missing
//! (shared by the facade's tests and the runtime's by path).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};

/// The program `name` from PATH or, where it is missing, `None` after saying so (the test
/// then skips, visibly); under `CI=true` a missing program fails the test, since `.ci/run`
/// installs `package`, which has it.
pub fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.exists())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is missing (.ci/run installs {package})"
        );
        eprintln!("SKIPPED: {name} is not installed (package {package})");
    }
    found
}

/// Starts `activate` (a `systemd-socket-activate` command line: its sockets, then the
/// program it runs on the first client) with its stderr piped, and returns once the tool
/// has bound (its `Listening on` line); the stderr it gives back is read past that line.
pub fn socket_activated(activate: &mut Command) -> (Child, BufReader<ChildStderr>) {
    let mut child = activate.stderr(Stdio::piped()).spawn().unwrap();
    let mut said = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    said.read_line(&mut line).unwrap();
    assert!(line.starts_with("Listening on"), "{line}");
    (child, said)
}

/// A free TCP (or, `udp`, UDP) port on 127.0.0.1, bound to port 0 and released, for a
/// program that takes no port 0.
pub fn free_port(udp: bool) -> u16 {
    let address = match udp {
        true => std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()),
        false => std::net::TcpListener::bind("127.0.0.1:0").and_then(|s| s.local_addr()),
    };
    address.unwrap().port()
}
