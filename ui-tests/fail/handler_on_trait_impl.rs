use socketserver::prelude::*;

#[derive(Default)]
struct Echo;

#[handler]
impl Clone for Echo {
    fn clone(&self) -> Self {
        Echo
    }
}

server! {
    struct EchoServer {
        transport: Tcp,
        handler: Echo,
    }
}

fn main() {
    let _ = EchoServer::bind("127.0.0.1:0");
}
