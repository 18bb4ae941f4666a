use socketserver::prelude::*;

#[handler]
#[derive(Default)]
struct Echo;

server! {
    struct EchoServer {
        transport: Tcp,
        handler: Echo,
    }
}

fn main() {
    let _ = EchoServer::bind("127.0.0.1:0");
}
