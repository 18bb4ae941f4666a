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
        trusted_proxies: ["10.0.0.0/8"],
        proxy_header_timeout: 2,
    }
}

fn main() {
    let _ = EchoServer::bind("127.0.0.1:0");
}
