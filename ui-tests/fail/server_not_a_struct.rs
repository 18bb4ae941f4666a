use socketserver::prelude::*;

#[derive(Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut StreamRequest) {}
}

server! {
    enum EchoServer {}
}

fn main() {}
