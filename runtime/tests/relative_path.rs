//! A unix server bound by a relative path, after the process changed directory: the path no
//! longer leads to it, and a stop still stops it at once (for every mixin that waits in
//! `accept`), and closing removes its own socket file, not one at the new relative path.
//!
//! A binary of its own with a single test: the working directory is the whole process's.

mod common;

use std::time::Duration;

use common::*;
use socketserver_runtime::mixin::{Mixin, Pool, Serial, Threading};
use socketserver_runtime::transport::UnixStream;
use socketserver_runtime::Server;

fn check_stops_after_a_change_of_directory<M: Mixin>(bound_in: &TempDir, moved_to: &TempDir) {
    std::env::set_current_dir(bound_in.path()).unwrap();
    let server = Server::<UnixStream, M, Greeter>::bind("s.sock").unwrap();
    let serving = serve(server);
    let mut client =
        Client::Unix(std::os::unix::net::UnixStream::connect(bound_in.socket("s.sock")).unwrap());
    client.set_read_timeout(TIMEOUT);
    greeting_pid(&client.read_line());
    release(&mut client);
    std::env::set_current_dir(moved_to.path()).unwrap();
    // A file of the same name where the relative path leads now: not ours.
    std::fs::write("s.sock", b"not a socket").unwrap();
    serving.stop_within(Duration::from_secs(1)).close();
    assert!(
        !bound_in.socket("s.sock").exists(),
        "its own socket file is removed"
    );
    assert!(
        moved_to.socket("s.sock").exists(),
        "the other file is left alone"
    );
    std::fs::remove_file(moved_to.socket("s.sock")).unwrap();
}

#[test]
fn a_unix_server_bound_by_a_relative_path_stops_after_a_change_of_directory() {
    let (bound_in, moved_to) = (TempDir::new(), TempDir::new());
    check_stops_after_a_change_of_directory::<Serial>(&bound_in, &moved_to);
    check_stops_after_a_change_of_directory::<Threading>(&bound_in, &moved_to);
    check_stops_after_a_change_of_directory::<Pool>(&bound_in, &moved_to);
}
