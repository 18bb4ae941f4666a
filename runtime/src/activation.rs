//! Sockets passed to this process by a service manager (systemd's socket activation,
//! `systemd-socket-activate`) or a predecessor: `sd_listen_fds(3)`'s protocol.
//!
//! The manager sets `LISTEN_PID` (this process), `LISTEN_FDS` (how many, from descriptor 3
//! on) and optionally `LISTEN_FDNAMES` (their names, `:`-separated). They are read once, the
//! variables unset so that children do not see them (take the sockets before starting
//! threads: changing the environment races with threads that read it), and each
//! descriptor is marked close-on-exec; a server then takes one with [`Builder::activate_or_bind`] or
//! [`Builder::activate`], which check its type and family against the transport.
//!
//! [`Builder::activate_or_bind`]: crate::Builder::activate_or_bind
//! [`Builder::activate`]: crate::Builder::activate

use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::sync::Mutex;

use crate::lock::lock;

/// The first descriptor passed (`SD_LISTEN_FDS_START`).
const FIRST_FD: RawFd = 3;

/// A socket passed to this process, with its name (`LISTEN_FDNAMES`; systemd's default is
/// `unknown`).
struct Passed {
    name: String,
    socket: OwnedFd,
}

/// The sockets passed and not yet taken: read from the environment on first use.
static PASSED: Mutex<Option<Vec<Passed>>> = Mutex::new(None);

/// The variable a predecessor of this program sets (a binary upgrade), whose unix socket
/// files are then this process's to remove.
pub(crate) const HANDED_DOWN: &str = "SOCKETSERVER_HANDED_DOWN";

/// The sockets were handed down by a predecessor (see [`HANDED_DOWN`]).
static FROM_PREDECESSOR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether the passed sockets come from a predecessor of this program (reading the
/// environment if need be).
pub(crate) fn handed_down() -> io::Result<bool> {
    with_passed(|_| FROM_PREDECESSOR.load(std::sync::atomic::Ordering::SeqCst))
}

/// Takes the passed socket named `name` (any, when `None`), the first one not yet taken.
/// `Ok(None)` when the process was given none (or none of that name).
pub(crate) fn take(name: Option<&str>) -> io::Result<Option<OwnedFd>> {
    with_passed(|sockets| {
        let found = sockets
            .iter()
            .position(|p| name.is_none_or(|name| p.name == name));
        found.map(|i| sockets.remove(i).socket)
    })
}

/// How many sockets were passed and not yet taken (reading the environment if need be).
pub fn passed_sockets() -> io::Result<usize> {
    with_passed(|sockets| sockets.len())
}

/// Runs `f` on the sockets passed and not yet taken, read from the environment first if
/// they were not yet.
fn with_passed<R>(f: impl FnOnce(&mut Vec<Passed>) -> R) -> io::Result<R> {
    let mut passed = lock(&PASSED);
    let sockets = match &mut *passed {
        Some(sockets) => sockets,
        None => passed.insert(read_environment()?),
    };
    Ok(f(sockets))
}

/// Reads and unsets `LISTEN_PID`, `LISTEN_FDS` and `LISTEN_FDNAMES`; nothing when they are
/// absent or meant for another process (`LISTEN_PID` is not ours).
fn read_environment() -> io::Result<Vec<Passed>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let count = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    let handed_down = std::env::var_os(HANDED_DOWN).is_some();
    for variable in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", HANDED_DOWN] {
        std::env::remove_var(variable);
    }
    let (Some(pid), Some(count)) = (pid, count) else {
        return Ok(Vec::new());
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(Vec::new());
    }
    FROM_PREDECESSOR.store(handed_down, std::sync::atomic::Ordering::SeqCst);
    let count: RawFd = count.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("LISTEN_FDS={count:?} is not a number of sockets"),
        )
    })?;
    let names: Vec<String> = names
        .map(|n| n.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    (0..count)
        .map(|i| {
            let fd = FIRST_FD + i;
            crate::sys::check_open(fd).map_err(|e| {
                io::Error::new(e.kind(), format!("LISTEN_FDS passed descriptor {fd}: {e}"))
            })?;
            crate::sys::set_cloexec(fd)?;
            Ok(Passed {
                name: names
                    .get(i as usize)
                    .cloned()
                    .unwrap_or_else(|| "unknown".into()),
                // Passed to us by the manager, read once (the variables are gone).
                socket: crate::sys::own_fd(fd),
            })
        })
        .collect()
}
