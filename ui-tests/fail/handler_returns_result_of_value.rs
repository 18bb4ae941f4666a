use socketserver::prelude::*;
use std::io;

#[derive(Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut StreamRequest) -> Result<u32, io::Error> {
        Ok(0)
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
