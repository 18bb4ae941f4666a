use socketserver::prelude::*;

#[derive(Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut StreamRequest) {}
}

server! {
    struct EchoServer {
        transport: UnixStream,
        mixin: Threading,
        handler: Echo,
        workers: 4,
        workers_reuse_port: true,
    }
}

fn main() {
    let _ = EchoServer::bind("echo.sock");
}
