//! Socket activation by name: a process given several sockets (`systemd-socket-activate`
//! with `--fdname`, as systemd passes a service's `.socket` units) serves the one it names,
//! and a name it was not given is a clear error. The test runs this binary again under the
//! tool, as the child that serves.

mod common;
#[path = "../../tests/common/tool.rs"]
mod tool;

use std::io::Read;
use std::process::{Command, Stdio};

use common::*;
use socketserver_runtime::mixin::Serial;
use socketserver_runtime::transport::Tcp;
use socketserver_runtime::{passed_sockets, Server, SocketAddress};

/// Set in the child's environment (the tool passes it on): this process is the one that
/// serves.
const CHILD: &str = "SOCKETSERVER_ACTIVATION_CHILD";

/// The child: takes the socket named `second` of the two passed, says where it listens,
/// answers one client, and checks that an unknown name is an error naming it.
fn serve_the_second() {
    assert_eq!(passed_sockets().unwrap(), 2);
    let unknown = Server::<Tcp, Serial, Echo>::builder().activate("third");
    let Err(e) = unknown else {
        panic!("a socket named `third` was served")
    };
    println!("unknown: {e}");
    let server = Server::<Tcp, Serial, Echo>::builder()
        .activate("second")
        .unwrap();
    println!("listening on {}", server.server_address());
    server.handle_request().unwrap();
    assert_eq!(
        passed_sockets().unwrap(),
        1,
        "`first` is still there to take"
    );
}

#[test]
fn a_server_serves_the_passed_socket_it_names() {
    if std::env::var_os(CHILD).is_some() {
        return serve_the_second();
    }
    let Some(tool) = tool::tool("systemd-socket-activate", "systemd") else {
        return;
    };
    let ports = [tool::free_port(false), tool::free_port(false)];
    let (mut child, mut said) = tool::socket_activated(
        Command::new(tool)
            .arg(format!("--listen=127.0.0.1:{}", ports[0]))
            .arg(format!("--listen=127.0.0.1:{}", ports[1]))
            .arg("--fdname=first:second")
            .arg(format!("--setenv={CHILD}=1"))
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "a_server_serves_the_passed_socket_it_names",
                "--nocapture",
            ])
            .stdout(Stdio::piped()),
    );
    // The first client on the second socket makes the tool start the child.
    let second = std::net::SocketAddr::from(([127, 0, 0, 1], ports[1]));
    let answer = roundtrip(&SocketAddress::from(second), b"named");
    assert_eq!(answer, b"named");
    let status = child.wait().unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    said.read_to_string(&mut err).unwrap();
    assert!(status.success(), "{out}{err}");
    assert!(
        out.contains(&format!("listening on 127.0.0.1:{}\n", ports[1])),
        "{out}"
    );
    assert!(
        out.contains("unknown: no socket named \"third\" was passed to this process"),
        "{out}"
    );
}
