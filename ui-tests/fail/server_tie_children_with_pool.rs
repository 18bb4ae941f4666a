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
        mixin: Pool,
        handler: Echo,
        tie_children: false,
    }
}

fn main() {
    let _ = EchoServer::bind("127.0.0.1:0");
}
