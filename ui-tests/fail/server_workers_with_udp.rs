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
        mixin: Pool,
        handler: Echo,
        workers: 4,
    }
}

fn main() {
    let _ = EchoServer::bind("127.0.0.1:0");
}
