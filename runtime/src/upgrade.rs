//! Handing the listening socket to a new build of the program (SIGUSR2 to a master of
//! pre-forked workers, nginx's and unicorn's binary upgrade): the program at the path it
//! was started from is run again with the same arguments and the socket (with
//! `workers_reuse_port`, every worker's) passed as by a
//! service manager (`LISTEN_FDS`, so `activate_or_bind` takes it: one mechanism serves
//! both), and says on a pipe (`SOCKETSERVER_READY_FD`) when it serves; only then does the
//! old master stop.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
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

/// The program, read once per process (see [`Program::remember`]).
static PROGRAM: OnceLock<Result<Program, String>> = OnceLock::new();

impl Program {
    /// Reads the program now, once per process: a master does as its server is made, before
    /// it announces anything, since a new build may replace the file as soon as it has, and
    /// the kernel's name for a replaced file is its path with ` (deleted)` after it.
    pub(crate) fn remember() {
        let _ = Self::current();
    }

    /// The program as [`remember`](Program::remember) read it (read now if it was not).
    pub(crate) fn current() -> io::Result<&'static Program> {
        match PROGRAM.get_or_init(|| Self::read().map_err(|e| e.to_string())) {
            Ok(program) => Ok(program),
            Err(e) => Err(io::Error::other(e.clone())),
        }
    }

    fn read() -> io::Result<Program> {
        let mut path = std::env::current_exe()?.into_os_string().into_vec();
        // Replaced already: the new build is at the path the old one had.
        if let Some(gone) = path.strip_suffix(b" (deleted)") {
            if std::path::Path::new(std::ffi::OsStr::from_bytes(gone)).exists() {
                path.truncate(gone.len());
            }
        }
        let c = |s: Vec<u8>| {
            CString::new(s)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL in an argument"))
        };
        Ok(Program {
            path: c(path)?,
            args: std::env::args_os()
                .map(|a| c(a.into_vec()))
                .collect::<io::Result<_>>()?,
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
    /// The program could not be run (`execve` failed with this).
    NotRun(io::Error),
    /// It closed its end (it exited, or failed) before it served.
    Failed,
}

impl Successor {
    /// The descriptor to poll for what it says.
    pub(crate) fn fd(&self) -> RawFd {
        self.ready.as_raw_fd()
    }

    pub(crate) fn said(&self) -> Said {
        // `R`, or `E` and an errno, written at once by a child that then exits.
        let mut said = [0u8; 5];
        match (&self.ready).read(&mut said) {
            Ok(1..) if said[0] == b'R' => Said::Ready,
            Ok(5) if said[0] == b'E' => {
                let errno = i32::from_ne_bytes([said[1], said[2], said[3], said[4]]);
                Said::NotRun(io::Error::from_raw_os_error(errno))
            }
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
