//! The zero-overhead baseline: echo servers written by hand on `std::net`, the way a user
//! who did not take a framework would write them. `Sync` serves one client after the other
//! on the main thread; `Threading` spawns a thread per connection (per datagram for the
//! datagram transports, as Python's `ThreadingUDPServer` does); `Forking` forks a child per
//! connection (per datagram) and reaps ended children from a `SIGCHLD` handler; `Pool` runs
//! `Sync`'s loop on a fixed number of threads that share the socket, each accepting (or
//! receiving) for itself, as the library's pool does by default.

use std::io::{self, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::sync::Arc;
use std::thread;

use crate::common::Transport;

/// The read buffer: the same 8 KiB as the library's default `rbufsize`.
const BUF: usize = 8192;

/// Echoes until EOF or an error, then drops (closes) the connection (or, given `&mut`,
/// returns it to its caller: the TLS server's close_notify).
pub(crate) fn echo_stream<S: Read + Write>(mut stream: S) {
    let mut buf = [0u8; BUF];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Prints `listening on ADDRESS` and flushes, for whoever started the server.
pub(crate) fn announce(address: &dyn std::fmt::Display) -> io::Result<()> {
    println!("listening on {address}");
    io::stdout().flush()
}

/// Where a hand-written server runs each connection (or datagram).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// On the main thread, one after the other.
    Sync,
    /// On a new thread each.
    Threading,
    /// In a forked child each.
    Forking,
    /// On one of [`pool_workers`] threads, each serving what it accepts.
    Pool,
}

/// How many threads the hand-written pool runs: the library's default `pool_min`, four per
/// CPU and at least 8.
pub fn pool_workers() -> usize {
    let cpus = thread::available_parallelism().map_or(2, |n| n.get());
    (4 * cpus).max(8)
}

/// Reaps every ended child: the forking server's `SIGCHLD` handler (async-signal-safe).
extern "C" fn reap_children(_signal: libc::c_int) {
    // SAFETY: waitpid is async-signal-safe; errno is saved around it.
    unsafe {
        let errno = *libc::__errno_location();
        while libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) > 0 {}
        *libc::__errno_location() = errno;
    }
}

/// Installs `reap_children` for `SIGCHLD`, restarting interrupted calls (accept, recvfrom).
fn reap_on_sigchld() -> io::Result<()> {
    // SAFETY: a zeroed sigaction is valid; the handler only calls async-signal-safe code.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = reap_children as *const () as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART | libc::SA_NOCLDSTOP;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Runs `job` as `model` says.
fn dispatch(model: Model, job: impl FnOnce() + Send + 'static) {
    match model {
        Model::Sync | Model::Pool => job(),
        Model::Threading => {
            thread::spawn(job);
        }
        Model::Forking => {
            // SAFETY: the child runs the job and leaves with _exit, never returning.
            match unsafe { libc::fork() } {
                0 => {
                    job();
                    // SAFETY: ends the child without running the parent's destructors.
                    unsafe { libc::_exit(0) }
                }
                -1 => {}
                _ => drop(job), // the parent's copy of the connection closes here
            }
        }
    }
}

/// Serves echo over `transport` at `address`, each connection (or datagram) run as `model`
/// says, until the process is killed.
pub fn serve(model: Model, transport: Transport, address: &str) -> io::Result<()> {
    if model == Model::Forking {
        reap_on_sigchld()?;
    }
    // A pool: the serial loop, on each of its threads.
    let threads = if model == Model::Pool {
        pool_workers()
    } else {
        1
    };
    match transport {
        Transport::Tcp => {
            let listener = TcpListener::bind(address)?;
            announce(&listener.local_addr()?)?;
            on_threads(threads, || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    dispatch(model, move || echo_stream(stream));
                }
            });
        }
        Transport::Unix => {
            let listener = UnixListener::bind(address)?;
            announce(&address)?;
            on_threads(threads, || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    dispatch(model, move || echo_stream(stream));
                }
            });
        }
        Transport::Udp => {
            let socket = Arc::new(UdpSocket::bind(address)?);
            announce(&socket.local_addr()?)?;
            on_threads(threads, || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    if matches!(model, Model::Sync | Model::Pool) {
                        let _ = socket.send_to(&buf[..n], peer);
                    } else {
                        let socket = socket.clone();
                        let data = buf[..n].to_vec();
                        dispatch(model, move || {
                            let _ = socket.send_to(&data, peer);
                        });
                    }
                }
            });
        }
        Transport::UnixDgram => {
            let socket = Arc::new(UnixDatagram::bind(address)?);
            announce(&address)?;
            on_threads(threads, || {
                let mut buf = vec![0u8; 65536];
                loop {
                    let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    let Some(path) = peer.as_pathname().map(|p| p.to_path_buf()) else {
                        continue; // an unbound client cannot be answered
                    };
                    if matches!(model, Model::Sync | Model::Pool) {
                        let _ = socket.send_to(&buf[..n], path);
                    } else {
                        let socket = socket.clone();
                        let data = buf[..n].to_vec();
                        dispatch(model, move || {
                            let _ = socket.send_to(&data, path);
                        });
                    }
                }
            });
        }
    }
    Ok(())
}

/// Runs `serve` on `threads` threads (the calling one among them), until the process is
/// killed.
fn on_threads(threads: usize, serve: impl Fn() + Sync) {
    thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(&serve);
        }
        serve();
    });
}
