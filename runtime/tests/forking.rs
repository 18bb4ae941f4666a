//! The forking mixin: requests in child processes, which can stop the parent, report their
//! failures themselves, are reaped (no zombies) and are limited to `max_children`.
//!
//! A file of its own: every fork copies all descriptors of the test process into the child,
//! so other tests must not rely on a descriptor of theirs being closed promptly. For the same
//! reason a client here never signals the server by closing its socket (a child may hold a
//! copy of it, even the child serving that very client): it sends data or shuts down its
//! side. And every server has a `stream_timeout`, so no child can outlive a broken test
//! (an orphan would also hold cargo's output pipe open).

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use socketserver_runtime::mixin::Forking;
use socketserver_runtime::transport::{Tcp, Udp};
use socketserver_runtime::{
    DatagramRequest, DefaultHooks, HandlerResult, Hooks, RequestError, RequestHandler, Server,
    ServerConfig, SocketAddress, StreamRequest,
};

/// Hooks for forked children: memory written in a child never reaches the parent, so
/// `handle_error` sends its report (`stage panic|error pid`) as a datagram to the test.
#[derive(Clone)]
struct ReportToParent(Arc<UnixDatagram>);

impl Hooks for ReportToParent {
    fn handle_error(&self, _client_address: &SocketAddress, error: &RequestError) {
        let kind = if error.is_panic() { "panic" } else { "error" };
        let report = format!("{} {kind} {}", error.stage(), std::process::id());
        let _ = self.0.send(report.as_bytes());
    }
}

/// A pair: the hooks for the server and the test's end, which reads the reports.
fn report_channel() -> (ReportToParent, UnixDatagram) {
    let (child_end, test_end) = UnixDatagram::pair().unwrap();
    test_end.set_read_timeout(Some(TIMEOUT)).unwrap();
    (ReportToParent(Arc::new(child_end)), test_end)
}

fn next_report(reports: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = retrying(|| reports.recv(&mut buf)).expect("no report from the child");
    String::from_utf8(buf[..n].to_vec()).unwrap()
}

/// The config of every forking server here: children give up on a silent client.
fn bounded_children() -> ServerConfig {
    config(|c| c.stream_timeout = Some(TIMEOUT))
}

/// A forking TCP server of `H` with [`bounded_children`], serving.
fn serve_forking<H>() -> Serving<Tcp, Forking, H, DefaultHooks>
where
    H: RequestHandler<StreamRequest> + Default,
{
    let server = Server::<Tcp, Forking, H>::builder()
        .config(bounded_children())
        .bind("127.0.0.1:0")
        .unwrap();
    serve(server)
}

/// Waits until the server has reaped every child.
fn wait_for_no_children(mixin: &Forking) {
    wait_until("every child is reaped", || mixin.active_children() == 0);
}

/// Answers with its pid, then stops the server it runs in (from the child process).
#[derive(Default)]
struct ShutdownFromChild;

impl RequestHandler<StreamRequest> for ShutdownFromChild {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        writeln!(req.wfile(), "child {}", std::process::id())?;
        req.server().shutdown();
        Ok(())
    }
}

#[test]
fn shutdown_inside_a_forked_handler_stops_the_parent_serve_forever() {
    let serving = serve_forking::<ShutdownFromChild>();
    let reply = String::from_utf8(roundtrip(&serving.address(), b"")).unwrap();
    let child: i32 = reply
        .trim()
        .strip_prefix("child ")
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(child, std::process::id() as i32, "ran in a child");
    let server = serving.join();
    // Not serving any more, nothing reaps: close waits for the child (block_on_close).
    server.close();
    assert!(!is_zombie_child(child));
}

#[test]
fn forked_children_are_reaped_and_leave_no_zombies() {
    let serving = serve_forking::<Greeter>();
    let mut pids = HashSet::new();
    for _ in 0..20 {
        let mut client = Client::connect(&serving.address());
        pids.insert(greeting_pid(&client.read_line()));
        client.send(b"done\n");
        assert_eq!(client.read_line(), "bye\n");
        assert_eq!(client.read_to_end(), b"");
    }
    assert_eq!(pids.len(), 20, "each request ran in a child of its own");
    assert!(!pids.contains(&(std::process::id() as i32)));
    wait_for_no_children(serving.mixin());
    let zombies: Vec<_> = pids.iter().filter(|&&pid| is_zombie_child(pid)).collect();
    assert!(zombies.is_empty(), "zombie children: {zombies:?}");
    serving.stop().close();
}

/// The server reaps its own children from its `SIGCHLD` handler, and only those: a process
/// the program started itself meanwhile is still there for the program to wait for.
#[test]
fn a_process_the_program_started_is_left_for_it_to_wait_for() {
    let serving = serve_forking::<Greeter>();
    let mut own = std::process::Command::new("sh")
        .args(["-c", "exit 3"])
        .spawn()
        .unwrap();
    for _ in 0..5 {
        let mut client = Client::connect(&serving.address());
        greeting_pid(&client.read_line());
        client.send(b"done\n");
        assert_eq!(client.read_line(), "bye\n");
    }
    wait_for_no_children(serving.mixin());
    let status = own
        .wait()
        .expect("the program's own child was waited for by the server");
    assert_eq!(status.code(), Some(3));
    serving.stop().close();
}

/// Fails as the client asks: `err` or `panic`; otherwise answers `ok`.
#[derive(Default)]
struct FailOnRequest;

impl RequestHandler<StreamRequest> for FailOnRequest {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let mut command = String::new();
        std::io::BufRead::read_line(req.rfile(), &mut command)?;
        match command.trim() {
            "err" => Err("failed on purpose".into()),
            "panic" => panic!("panicked on purpose"),
            _ => Ok(writeln!(req.wfile(), "ok")?),
        }
    }
}

#[test]
fn forked_handler_error_and_panic_are_reported_by_the_child_and_next_client_served() {
    let (hooks, reports) = report_channel();
    let server = Server::<Tcp, Forking, FailOnRequest>::builder()
        .config(bounded_children())
        .hooks(hooks)
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    for (command, expected) in [("err", "handle error"), ("panic", "handle panic")] {
        assert_eq!(
            roundtrip(&serving.address(), format!("{command}\n").as_bytes()),
            b""
        );
        let report = next_report(&reports);
        assert!(report.starts_with(expected), "{report:?}");
        let pid: u32 = report.rsplit(' ').next().unwrap().parse().unwrap();
        assert_ne!(pid, std::process::id(), "reported by the child");
        assert_eq!(roundtrip(&serving.address(), b"fine\n"), b"ok\n");
    }
    wait_for_no_children(serving.mixin());
    serving.stop().close();
    // No other report: each failure was reported exactly once.
    reports.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 256];
    assert!(
        reports.recv(&mut buf).is_err(),
        "a failure was reported twice"
    );
}

/// A forking server whose config `limit` sets to two children at once: a third client is
/// served only once a child ended.
fn two_children_hold_further_clients_until_a_child_ends(limit: impl FnOnce(&mut ServerConfig)) {
    let mut config = bounded_children();
    limit(&mut config);
    let server = Server::<Tcp, Forking, Greeter>::builder()
        .config(config)
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let address = serving.address();
    let mut first = Client::connect(&address);
    let mut second = Client::connect(&address);
    let first_pid = greeting_pid(&first.read_line());
    let second_pid = greeting_pid(&second.read_line());
    assert_ne!(first_pid, second_pid);
    // The parent records a child just after forking it, maybe after the child greeted.
    wait_until("both children are recorded", || {
        serving.mixin().active_children() == 2
    });

    let mut third = Client::connect(&address);
    third.assert_nothing_arrives();

    first.send(b"done\n");
    assert_eq!(first.read_line(), "bye\n");
    // The first child ends, is reaped, and only then is the third client served.
    let third_pid = greeting_pid(&third.read_line());
    assert!(![first_pid, second_pid].contains(&third_pid));

    for mut client in [second, third] {
        client.send(b"done\n");
        assert_eq!(client.read_line(), "bye\n");
    }
    wait_for_no_children(serving.mixin());
    serving.stop().close();
}

#[test]
fn max_children_holds_further_clients_until_a_child_ends() {
    two_children_hold_further_clients_until_a_child_ends(|c| c.max_children = 2);
}

/// `max_connections` counts requests in flight, which for a forking server are children.
#[test]
fn max_connections_holds_further_clients_until_a_child_ends() {
    two_children_hold_further_clients_until_a_child_ends(|c| c.max_connections = 2);
}

/// A forking greeter server that runs at most one child at a time.
fn one_child_server() -> Server<Tcp, Forking, Greeter> {
    let mut config = bounded_children();
    config.max_children = 1;
    Server::builder()
        .config(config)
        .bind("127.0.0.1:0")
        .unwrap()
}

#[test]
fn shutdown_at_max_children_returns_without_waiting_for_a_child() {
    let server = one_child_server();
    let serving = serve(server);
    let mut held = Client::connect(&serving.address());
    held.read_line();
    // A client waits in the backlog (not served meanwhile); the loop must not block
    // waiting for room, but keep listening for a shutdown.
    let mut waiting = Client::connect(&serving.address());
    waiting.assert_nothing_arrives();
    let server = serving.stop();
    // serve_forever returned while the child still runs: it answers now.
    held.send(b"done\n");
    assert_eq!(held.read_line(), "bye\n");
    server.close();
}

#[test]
fn serving_again_reaps_a_child_that_ended_between_runs() {
    let server = one_child_server();
    let serving = serve(server);
    let mut first = Client::connect(&serving.address());
    first.read_line();
    let server = serving.stop();
    // The only child ends while nothing serves.
    first.send(b"done\n");
    assert_eq!(first.read_line(), "bye\n");
    assert_eq!(first.read_to_end(), b"");

    let serving = serve(server);
    let mut second = Client::connect(&serving.address());
    greeting_pid(&second.read_line());
    second.send(b"done\n");
    assert_eq!(second.read_line(), "bye\n");
    wait_for_no_children(serving.mixin());
    serving.stop().close();
}

#[test]
fn client_resetting_at_once_does_not_stop_a_forking_server() {
    let (hooks, _reports) = report_channel();
    let server = Server::<Tcp, Forking, Echo>::builder()
        // Short: a child of another test may hold a copy of a reset client for a while,
        // delaying its RST; the child serving it then gives up soon.
        .config(config(|c| c.stream_timeout = Some(Duration::from_secs(1))))
        .hooks(hooks)
        .bind("127.0.0.1:0")
        .unwrap();
    // Reset before serving: no child of this server can inherit the clients' sockets.
    for _ in 0..5 {
        connect_and_reset(server.server_address());
    }
    let serving = serve(server);
    assert_echoes(&serving.address());
    wait_for_no_children(serving.mixin());
    serving.stop().close();
}

/// Replies with the pid of the process that handled the datagram.
#[derive(Default)]
struct DatagramPid;

impl RequestHandler<DatagramRequest> for DatagramPid {
    fn handle(&mut self, req: &mut DatagramRequest) -> HandlerResult {
        write!(req.wfile(), "{}", std::process::id())?;
        Ok(())
    }
}

#[test]
fn forked_datagram_handlers_reply_from_the_child() {
    let serving = serve(Server::<Udp, Forking, DatagramPid>::bind("127.0.0.1:0").unwrap());
    let pid: u32 = String::from_utf8(udp_roundtrip(&serving.address(), b"who?"))
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(pid, std::process::id());
    wait_for_no_children(serving.mixin());
    serving.stop().close();
}

#[test]
fn forking_counts_completed_and_failed_from_exit_statuses() {
    let hooks = Recorder::default();
    let server = Server::<Tcp, Forking, FailOnRequest>::builder()
        .config(bounded_children())
        .hooks(hooks.clone())
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let address = serving.address();
    hooks.reject_next(1);
    assert_eq!(Client::connect(&address).read_to_end(), b"");
    for _ in 0..3 {
        assert_eq!(roundtrip(&address, b"fine\n"), b"ok\n");
    }
    assert_eq!(roundtrip(&address, b"err\n"), b"");
    let server = serving.stop();
    let handle = server.handle();
    // Close waits for the children: every exit status is counted.
    server.close();
    let stats = handle.stats();
    assert_eq!(stats.accepted, 5, "{stats:?}");
    assert_eq!(stats.completed, 3, "{stats:?}");
    assert_eq!(stats.failed, 1, "{stats:?}");
    assert_eq!(stats.rejected, 1, "{stats:?}");
    assert_eq!(stats.active, 0, "{stats:?}");
}

/// Answers with what its server's counters say in the child it runs in.
#[derive(Default)]
struct ReportStats;

impl RequestHandler<StreamRequest> for ReportStats {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let stats = req.server().stats();
        Ok(writeln!(req.wfile(), "accepted {}", stats.accepted)?)
    }
}

/// A request's child is not its server: the counters it sees are its own (at zero), and
/// the server counts its children without them.
#[test]
fn a_forked_request_sees_its_own_counters_and_the_server_keeps_its_own() {
    let serving = serve_forking::<ReportStats>();
    let address = serving.address();
    for _ in 0..3 {
        assert_eq!(roundtrip(&address, b""), b"accepted 0\n");
    }
    wait_for_no_children(serving.mixin());
    let stats = serving.handle().stats();
    assert_eq!((stats.accepted, stats.completed), (3, 3), "{stats:?}");
    serving.stop().close();
}

/// Hands its connection to a program (as inetd does), which answers once the handler's
/// process has ended: the program reads EOF from a socket that process holds to the end.
#[derive(Default)]
struct HandToProgram;

impl RequestHandler<StreamRequest> for HandToProgram {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        use std::os::fd::{AsFd, OwnedFd};
        let connection = req.socket().as_fd().try_clone_to_owned()?;
        let (held, program_end) = std::os::unix::net::UnixStream::pair()?;
        std::process::Command::new("sh")
            .args(["-c", "read ended; echo late"])
            .stdin(OwnedFd::from(program_end))
            .stdout(connection)
            .spawn()?;
        std::mem::forget(held); // closed by this process's exit
        Ok(())
    }
}

/// A forked request's connection closes when its child exits (no `SHUT_WR` first, as in a
/// hand-written forking server): a program the handler handed it to goes on answering.
#[test]
fn a_program_a_forked_handler_hands_its_connection_to_answers_after_it() {
    let serving = serve_forking::<HandToProgram>();
    assert_eq!(roundtrip(&serving.address(), b""), b"late\n");
    wait_for_no_children(serving.mixin());
    serving.stop().close();
}

/// Waits until the child `pid` has ended, then checks it was reaped (no zombie left).
fn assert_reaped(pid: i32) {
    wait_until("the child ends", || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || is_zombie_child(pid)
    });
    assert!(!is_zombie_child(pid), "child {pid} is a zombie");
}

#[test]
fn close_within_lets_a_child_finish_within_the_grace() {
    let serving = serve_forking::<Greeter>();
    let mut client = Client::connect(&serving.address());
    let pid = greeting_pid(&client.read_line());
    let server = serving.stop();
    let handle = server.handle();
    let closing = background("close_within", move || {
        server.close_within(Duration::from_secs(600))
    });
    client.send(b"done\n");
    assert_eq!(client.read_line(), "bye\n");
    assert_eq!(closing.join(), 0);
    assert_reaped(pid);
    let stats = handle.stats();
    assert_eq!((stats.completed, stats.cut), (1, 0), "{stats:?}");
}

#[test]
fn close_within_terminates_a_child_still_running_at_the_deadline_and_reaps_it() {
    let block = bounded_children();
    let mut no_block = bounded_children();
    no_block.block_on_close = false;
    for config in [block, no_block] {
        let server = Server::<Tcp, Forking, Greeter>::builder()
            .config(config)
            .hooks(Recorder::default())
            .bind("127.0.0.1:0")
            .unwrap();
        let serving = serve(server);
        // An idle client: its child blocks reading (for up to its 10 s stream timeout).
        let mut client = Client::connect(&serving.address());
        let pid = greeting_pid(&client.read_line());
        let server = serving.stop();
        let handle = server.handle();
        let cut = within("close_within", move || {
            server.close_within(Duration::from_millis(200))
        });
        assert_eq!(cut, 1);
        assert_reaped(pid);
        let stats = handle.stats();
        assert_eq!((stats.cut, stats.failed), (1, 1), "{stats:?}");
        // Not waiting for EOF on `client`: another test's child may hold a copy of it.
        drop(client);
    }
}
