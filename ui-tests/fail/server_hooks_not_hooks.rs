use socketserver::prelude::*;

#[derive(Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut StreamRequest) {}
}

#[derive(Default)]
struct Quiet;

server! {
    struct EchoServer {
        transport: Tcp,
        handler: Echo,
        hooks: Quiet,
    }
}

fn main() {}
