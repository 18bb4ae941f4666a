use socketserver::prelude::*;

#[derive(Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut DatagramRequest) {}
}

server! {
    struct EchoServer {
        transport: Tcp,
        handler: Echo,
    }
}

fn main() {}
