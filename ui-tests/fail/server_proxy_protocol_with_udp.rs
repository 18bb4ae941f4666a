use socketserver::prelude::*;

#[derive(Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut DatagramRequest) {}
}

server! {
    struct EchoServer {
        transport: Udp,
        handler: Echo,
        proxy_protocol: true,
    }
}

fn main() {
    let _ = EchoServer::bind("127.0.0.1:0");
}
