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
    let timeout_ms = match timeout {
        // Round up, so that a short timeout does not become a busy loop.
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
        None => -1,
    };
    crate::sys::poll_readable(fds, timeout_ms)
}

/// [`readable`] for a number of descriptors known at run time.
pub(crate) fn readable_any(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let timeout_ms = match timeout {
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
        None => -1,
    };
    crate::sys::poll_readable_any(fds, timeout_ms)
}
