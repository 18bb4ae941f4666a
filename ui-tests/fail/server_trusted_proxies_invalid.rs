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
        proxy_protocol: true,
        trusted_proxies: ["10.0.0.0/33", "localhost", "unix", 10],
    }
}

server! {
    struct Other {
        transport: Tcp,
        handler: Echo,
        proxy_protocol: true,
        trusted_proxies: "10.0.0.0/8",
    }
}

fn main() {
    let _ = EchoServer::bind("127.0.0.1:0");
    let _ = Other::bind("127.0.0.1:0");
}
