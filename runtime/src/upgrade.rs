//! Handing the listening socket to a new build of the program (SIGUSR2 to a master of
//! pre-forked workers, nginx's and unicorn's binary upgrade): the program at the path it
//! was started from is run again with the same arguments and the socket (with
//! `workers_reuse_port`, every worker's) passed as by a
//! service manager (`LISTEN_FDS`, so `activate_or_bind` takes it: one mechanism serves
//! both), and says on a pipe (`SOCKETSERVER_READY_FD`) when it serves; only then does the
//! old master stop.

use std::ffi::{CString, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::sys;

/// The variable that tells a successor where to say it serves.
const READY_FD: &str = "SOCKETSERVER_READY_FD";
/// How long a successor has to say it serves.
pub(crate) const READY_WITHIN: Duration = Duration::from_secs(10);

/// The program as it was started: the path of its file then (a new build replaces the
/// file at that path; `/proc/self/exe` goes on naming the old one) and its arguments.
pub(crate) struct Program {
    path: CString,
    args: Vec<CString>,
}

impl Program {
    /// This program, read now (call it as the master starts).
    pub(crate) fn current() -> io::Result<Program> {
        let path = std::env::current_exe()?;
        let c = |s: OsString| {
            CString::new(s.into_vec())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in an argument"))
        };
        Ok(Program {
            path: c(path.into_os_string())?,
            args: std::env::args_os().map(c).collect::<io::Result<_>>()?,
        })
    }
}

/// A new master started and not yet serving.
pub(crate) struct Successor {
    pub(crate) pid: libc::pid_t,
    ready: UnixStream,
    pub(crate) deadline: Instant,
}

/// What a successor said.
pub(crate) enum Said {
    Nothing,
    Ready,
    /// It closed its end (it exited, or failed) before it served.
    Failed,
}

impl Successor {
    /// The descriptor to poll for what it says.
    pub(crate) fn fd(&self) -> RawFd {
        self.ready.as_raw_fd()
    }

    pub(crate) fn said(&self) -> Said {
        let mut byte = [0u8; 1];
        match (&self.ready).read(&mut byte) {
            Ok(1) if byte[0] == b'R' => Said::Ready,
            Ok(_) => Said::Failed,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Said::Nothing,
            Err(_) => Said::Failed,
        }
    }
}

/// Starts `program` again with `listeners` as its passed sockets (descriptors 3, 4, ...)
/// and a pipe to say it serves (the next descriptor).
pub(crate) fn start(program: &Program, listeners: &[RawFd]) -> io::Result<Successor> {
    let (ready, theirs) = UnixStream::pair()?;
    ready.set_nonblocking(true)?;
    let handed_down = crate::activation::HANDED_DOWN;
    // `WATCHDOG_PID` named this master: the new one, main process once it serves, pings.
    let skip = [
        "LISTEN_PID",
        "LISTEN_FDS",
        "LISTEN_FDNAMES",
        "WATCHDOG_PID",
        READY_FD,
        handed_down,
    ];
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| !skip.iter().any(|s| k == s))
        .filter_map(|(k, v)| {
            let mut entry = k.into_vec();
            entry.push(b'=');
            entry.extend(v.into_vec());
            CString::new(entry).ok()
        })
        .collect();
    let count = listeners.len();
    env.push(CString::new(format!("LISTEN_FDS={count}")).expect("no NUL"));
    env.push(CString::new(format!("{READY_FD}={}", 3 + count)).expect("no NUL"));
    env.push(CString::new(format!("{handed_down}=1")).expect("no NUL"));
    // Everything the child needs is made before the fork: it only writes its own pid into
    // `LISTEN_PID`'s buffer and calls execve.
    let mut listen_pid = *b"LISTEN_PID=\0\0\0\0\0\0\0\0\0\0\0\0";
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    let pid_slot = envp.len();
    envp.push(std::ptr::null());
    envp.push(std::ptr::null());
    let mut argv: Vec<*const libc::c_char> = program.args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut fds = listeners.to_vec();
    fds.push(theirs.as_raw_fd());
    let mut moved = vec![-1; fds.len()];
    match sys::fork()? {
        sys::Forked::Child => {
            sys::write_decimal(&mut listen_pid[11..], sys::getpid());
            envp[pid_slot] = listen_pid.as_ptr().cast();
            sys::exec_with_fds(&program.path, &argv, &envp, &fds, &mut moved)
        }
        sys::Forked::Parent(pid) => Ok(Successor {
            pid,
            ready,
            deadline: Instant::now() + READY_WITHIN,
        }),
    }
}

/// The pipe this process was given to say it serves, if it was started by an upgrade:
/// read (and the variable unset) once, before any thread starts.
pub(crate) fn ready_pipe() -> Option<UnixStream> {
    let fd: RawFd = std::env::var(READY_FD).ok()?.trim().parse().ok()?;
    std::env::remove_var(READY_FD);
    sys::check_open(fd).ok()?;
    let _ = sys::set_cloexec(fd);
    // The descriptor was passed to this process for this, and is taken once.
    Some(UnixStream::from(sys::own_fd(fd)))
}

/// Says on `pipe` that this process serves.
pub(crate) fn say_ready(pipe: UnixStream) {
    let _ = (&pipe).write_all(b"R");
}
