//! Unix socket files: created by bind, removed on close and drop, a stale one never replaced
//! silently, a live server's never touched.

mod common;

use std::io;
use std::path::Path;

use common::*;
use socketserver_runtime::mixin::{Serial, Threading};
use socketserver_runtime::transport::{Transport, UnixDatagram, UnixStream};
use socketserver_runtime::{RequestHandler, Server, ServerConfig};

fn bind_with<T>(path: &Path, config: ServerConfig) -> io::Result<Server<T, Serial, Echo>>
where
    T: Transport,
    Echo: RequestHandler<T::Request>,
    for<'a> &'a Path: socketserver_runtime::transport::BindAddress<T>,
{
    Server::<T, Serial, Echo>::builder()
        .config(config)
        .bind(path)
}

fn bind<T>(path: &Path) -> io::Result<Server<T, Serial, Echo>>
where
    T: Transport,
    Echo: RequestHandler<T::Request>,
    for<'a> &'a Path: socketserver_runtime::transport::BindAddress<T>,
{
    bind_with(path, ServerConfig::default())
}

/// Checks an echo through a unix datagram server at `path`.
fn assert_datagram_echoes(dir: &TempDir, path: &Path) {
    let client = unix_datagram_socket(&dir.socket("client.sock"));
    client.send_to(b"ping", path).unwrap();
    let mut buf = [0u8; 16];
    let n = client.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
}

#[test]
fn socket_file_is_removed_on_close_and_on_drop() {
    let dir = TempDir::new();
    let path = dir.socket("server.sock");

    let server = bind::<UnixStream>(&path).unwrap();
    assert!(path.exists());
    server.close();
    assert!(!path.exists(), "close removes the stream socket file");

    let server = bind::<UnixStream>(&path).unwrap();
    drop(server);
    assert!(!path.exists(), "drop removes the stream socket file");

    let server = bind::<UnixDatagram>(&path).unwrap();
    assert!(path.exists());
    server.close();
    assert!(!path.exists(), "close removes the datagram socket file");

    // And after serving, from a threading server.
    let server = Server::<UnixStream, Threading, Echo>::bind(&path).unwrap();
    let serving = serve(server);
    assert_echoes(&serving.address());
    serving.stop().close();
    assert!(!path.exists());
}

/// Leaves a socket file nothing listens on, as a crashed server would.
fn make_stale_stream_socket(path: &Path) {
    drop(std::os::unix::net::UnixListener::bind(path).unwrap());
    assert!(path.exists());
}

fn make_stale_datagram_socket(path: &Path) {
    drop(std::os::unix::net::UnixDatagram::bind(path).unwrap());
    assert!(path.exists());
}

fn expect_addr_in_use<S: std::fmt::Debug>(result: io::Result<S>, path: &Path, says: &str) {
    let error = result.expect_err("bind should fail");
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse, "{error}");
    let message = error.to_string();
    assert!(message.contains(says), "{message:?} does not say {says:?}");
    assert!(
        message.contains(&path.display().to_string()),
        "{message:?} does not name the path"
    );
}

#[test]
fn binding_over_a_stale_socket_file_fails_and_says_it_is_stale() {
    let dir = TempDir::new();
    let path = dir.socket("stale.sock");
    make_stale_stream_socket(&path);
    expect_addr_in_use(bind::<UnixStream>(&path), &path, "stale");
    assert!(path.exists(), "a stale file is not removed silently");

    let path = dir.socket("stale-datagram.sock");
    make_stale_datagram_socket(&path);
    expect_addr_in_use(bind::<UnixDatagram>(&path), &path, "stale");
    assert!(path.exists());
}

#[test]
fn replace_stale_socket_binds_over_a_stale_socket_file() {
    let dir = TempDir::new();
    let replace = || config(|c| c.replace_stale_socket = true);

    let path = dir.socket("stale.sock");
    make_stale_stream_socket(&path);
    let serving = serve(bind_with::<UnixStream>(&path, replace()).unwrap());
    assert_echoes(&serving.address());
    serving.stop().close();
    assert!(!path.exists());

    let path = dir.socket("stale-datagram.sock");
    make_stale_datagram_socket(&path);
    let serving = serve(bind_with::<UnixDatagram>(&path, replace()).unwrap());
    assert_datagram_echoes(&dir, &path);
    serving.stop().close();
    assert!(!path.exists());
}

#[test]
fn binding_where_a_live_server_listens_fails_and_leaves_it_serving() {
    let dir = TempDir::new();
    let replace = config(|c| c.replace_stale_socket = true);

    let path = dir.socket("live.sock");
    let live = serve(bind::<UnixStream>(&path).unwrap());
    expect_addr_in_use(bind::<UnixStream>(&path), &path, "listening");
    expect_addr_in_use(
        bind_with::<UnixStream>(&path, replace.clone()),
        &path,
        "listening",
    );
    assert!(path.exists());
    assert_echoes(&live.address());
    live.stop().close();
    assert!(!path.exists());

    let path = dir.socket("live-datagram.sock");
    let live = serve(bind::<UnixDatagram>(&path).unwrap());
    expect_addr_in_use(
        bind_with::<UnixDatagram>(&path, replace),
        &path,
        "listening",
    );
    assert!(path.exists());
    assert_datagram_echoes(&dir, &path);
    live.stop().close();
    assert!(!path.exists());
}

#[test]
fn binding_over_a_file_that_is_not_a_socket_fails_and_leaves_it_alone() {
    let dir = TempDir::new();
    let path = dir.socket("not-a-socket");
    std::fs::write(&path, b"precious").unwrap();
    let replace = config(|c| c.replace_stale_socket = true);
    expect_addr_in_use(
        bind_with::<UnixStream>(&path, replace),
        &path,
        "not a socket",
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn close_leaves_a_socket_file_that_replaced_the_server_one() {
    let dir = TempDir::new();
    let path = dir.socket("server.sock");
    let server = bind::<UnixStream>(&path).unwrap();
    // Someone removes the server's file and binds their own socket there.
    std::fs::remove_file(&path).unwrap();
    let other = std::os::unix::net::UnixListener::bind(&path).unwrap();
    server.close();
    assert!(
        path.exists(),
        "close removed a file that was not the server's"
    );
    drop(other);
}
