//! A `Forking` server's `SIGCHLD` handler shares the signal with the program's own: a
//! handler the program installed before the server was made, and one installed after it,
//! both still see the program's own child end, and the server still reaps its children.
//!
//! A file of its own, with one test: the order in which the handlers are installed is what
//! it checks, and the server's handler is installed once per process.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use socketserver_runtime::mixin::Forking;
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::Server;

#[test]
fn the_programs_own_sigchld_handlers_run_beside_the_servers() {
    let before = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(libc::SIGCHLD, before.clone()).unwrap();
    let server = Server::<Tcp, Forking, Greeter>::builder()
        .config(config(|c| c.stream_timeout = Some(TIMEOUT)))
        .bind("127.0.0.1:0")
        .unwrap();
    let serving = serve(server);
    let after = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(libc::SIGCHLD, after.clone()).unwrap();

    // The server's children: reaped, whichever handler ran first.
    for _ in 0..3 {
        let mut client = Client::connect(&serving.address());
        greeting_pid(&client.read_line());
        client.send(b"done\n");
        assert_eq!(client.read_line(), "bye\n");
    }
    wait_until("every child is reaped", || {
        serving.mixin().active_children() == 0
    });

    // The program's own child: both of its handlers hear of its end.
    before.store(false, Ordering::SeqCst);
    after.store(false, Ordering::SeqCst);
    let status = std::process::Command::new("sh")
        .args(["-c", "exit 4"])
        .status()
        .unwrap();
    assert_eq!(
        status.code(),
        Some(4),
        "the program waits for its own child"
    );
    wait_until("the handler installed before the server runs", || {
        before.load(Ordering::SeqCst)
    });
    wait_until("the handler installed after the server runs", || {
        after.load(Ordering::SeqCst)
    });
    serving.stop().close();
}
