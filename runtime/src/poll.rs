//! A thin `poll(2)` wrapper.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Waits until one of `fds` is readable or `timeout` passes (`None`: no limit). Returns
/// which are readable; all false on timeout or when a signal interrupted the wait.
pub(crate) fn readable<const N: usize>(
    fds: [RawFd; N],
    timeout: Option<Duration>,
) -> io::Result<[bool; N]> {
    crate::sys::poll_readable(fds, milliseconds(timeout))
}

/// [`readable`] for a number of descriptors known at run time.
pub(crate) fn readable_any(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    crate::sys::poll_readable_any(fds, milliseconds(timeout))
}

/// `poll(2)`'s timeout: milliseconds, rounded up (so that a short timeout does not become a
/// busy loop), or -1 for none.
fn milliseconds(timeout: Option<Duration>) -> i32 {
    match timeout {
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
        None => -1,
    }
}
