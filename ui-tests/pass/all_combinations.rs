//! All twelve transport x mixin combinations compile, with a stream and a datagram handler.
use socketserver::prelude::*;
use std::io;

#[derive(Default)]
struct StreamEcho;

#[handler]
impl StreamEcho {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let (rfile, wfile) = req.files();
        io::copy(rfile, wfile).map(drop)
    }
}

#[derive(Default)]
struct DatagramEcho;

#[handler]
impl DatagramEcho {
    fn handle(&mut self, req: &mut DatagramRequest) -> io::Result<()> {
        let data = req.data().to_vec();
        req.wfile().extend_from_slice(&data);
        Ok(())
    }
}

server! { struct TcpSync { transport: Tcp, mixin: Sync, handler: StreamEcho } }
server! { struct TcpThreading { transport: Tcp, mixin: Threading, handler: StreamEcho } }
server! { struct TcpForking { transport: Tcp, mixin: Forking, handler: StreamEcho } }
server! { struct UdpSync { transport: Udp, mixin: Sync, handler: DatagramEcho } }
server! { struct UdpThreading { transport: Udp, mixin: Threading, handler: DatagramEcho } }
server! { struct UdpForking { transport: Udp, mixin: Forking, handler: DatagramEcho } }
server! { struct UnixStreamSync { transport: UnixStream, mixin: Sync, handler: StreamEcho } }
server! { struct UnixStreamThreading { transport: UnixStream, mixin: Threading, handler: StreamEcho } }
server! { struct UnixStreamForking { transport: UnixStream, mixin: Forking, handler: StreamEcho } }
server! { struct UnixDatagramSync { transport: UnixDatagram, mixin: Sync, handler: DatagramEcho } }
server! { struct UnixDatagramThreading { transport: UnixDatagram, mixin: Threading, handler: DatagramEcho } }
server! { struct UnixDatagramForking { transport: UnixDatagram, mixin: Forking, handler: DatagramEcho } }

fn main() {
    let _ = TcpSync::bind("127.0.0.1:0");
    let _ = TcpThreading::bind("127.0.0.1:0");
    let _ = TcpForking::bind("127.0.0.1:0");
    let _ = UdpSync::bind("127.0.0.1:0");
    let _ = UdpThreading::bind("127.0.0.1:0");
    let _ = UdpForking::bind("127.0.0.1:0");
    let _ = UnixStreamSync::bind("/nonexistent/a.sock");
    let _ = UnixStreamThreading::bind("/nonexistent/b.sock");
    let _ = UnixStreamForking::bind("/nonexistent/c.sock");
    let _ = UnixDatagramSync::bind("/nonexistent/d.sock");
    let _ = UnixDatagramThreading::bind("/nonexistent/e.sock");
    let _ = UnixDatagramForking::bind("/nonexistent/f.sock");
}
