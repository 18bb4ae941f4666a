//! Telling a service manager how the server is doing (`sd_notify(3)`): `READY=1` once it
//! serves, `STOPPING=1` when a stop begins, `STATUS=` lines with the counters, and
//! `WATCHDOG=1` at half the interval the manager asked for. Nothing at all without
//! `NOTIFY_SOCKET`.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::inflight::Stats;

/// The manager's notification socket, from `NOTIFY_SOCKET`, and the watchdog interval it
/// asked of this process (`WATCHDOG_USEC`, for us unless `WATCHDOG_PID` names another).
#[derive(Debug)]
pub(crate) struct Notifier {
    socket: UnixDatagram,
    to: SocketAddr,
    watchdog: Option<Duration>,
    /// `STOPPING=1` was sent (once is enough).
    stopping: AtomicBool,
}

impl Notifier {
    /// The notifier the environment asks for, if any (a path, or `@name` for the abstract
    /// namespace). An unusable `NOTIFY_SOCKET` is reported once and ignored: a server does
    /// not fail to start over its manager's notifications.
    pub(crate) fn from_environment() -> Option<Notifier> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let notifier = Notifier::to(&path);
        if let Err(e) = &notifier {
            crate::report::error(format_args!(
                "NOTIFY_SOCKET={}: {e}; not notifying the service manager",
                path.to_string_lossy()
            ));
        }
        notifier.ok()
    }

    fn to(path: &std::ffi::OsStr) -> io::Result<Notifier> {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_bytes();
        let to = match bytes.strip_prefix(b"@") {
            Some(name) => SocketAddr::from_abstract_name(name)?,
            None => SocketAddr::from_pathname(path)?,
        };
        let ours = std::env::var("WATCHDOG_PID").map_or(true, |pid| {
            pid.trim().parse::<u32>().ok() == Some(std::process::id())
        });
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.trim().parse::<u64>().ok())
            .filter(|&usec| usec > 0 && ours)
            .map(|usec| Duration::from_micros(usec) / 2);
        Ok(Notifier {
            socket: UnixDatagram::unbound()?,
            to,
            watchdog,
            stopping: AtomicBool::new(false),
        })
    }

    /// How often to send `WATCHDOG=1`: half the manager's interval, when it set one.
    pub(crate) fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// The server serves: `READY=1`, with its status, and `MAINPID=` this process (a new
    /// master started by an upgrade takes over from the one the manager started).
    pub(crate) fn ready(&self, stats: &Stats) {
        let pid = std::process::id();
        self.send(&format!("READY=1\n{}MAINPID={pid}\n", status(stats)));
    }

    /// A stop began: `STOPPING=1`, the first time only.
    pub(crate) fn stopping(&self, stats: &Stats) {
        if !self.stopping.swap(true, Ordering::SeqCst) {
            self.send(&format!("STOPPING=1\n{}", status(stats)));
        }
    }

    /// Alive: `WATCHDOG=1`, with the status.
    pub(crate) fn alive(&self, stats: &Stats) {
        self.send(&format!("WATCHDOG=1\n{}", status(stats)));
    }

    /// One datagram; a failure (the manager gone) is not the server's to report.
    fn send(&self, message: &str) {
        let _ = self.socket.send_to_addr(message.as_bytes(), &self.to);
    }
}

/// The `STATUS=` line: the counters, as `systemctl status` shows them.
fn status(stats: &Stats) -> String {
    format!(
        "STATUS=active {}, completed {}, failed {}, cut {}\n",
        stats.active, stats.completed, stats.failed, stats.cut
    )
}
