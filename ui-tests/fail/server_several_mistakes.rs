use socketserver::prelude::*;

#[derive(Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut StreamRequest) {}
}

server! {
    struct EchoServer {
        transport: Tcp,
        mixin: Threadng,
        handler: Echo,
        timeout: -1,
        max_packet_size: 512,
        alow_reuse_address: true,
    }
}

fn main() {
    let _ = EchoServer::bind("127.0.0.1:0");
}
