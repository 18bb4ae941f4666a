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
        handler: Echo,
        allow_reuse_address: true,
        allow_reuse_address: false,
    }
}

fn main() {
    let _ = EchoServer::bind("127.0.0.1:0");
}
