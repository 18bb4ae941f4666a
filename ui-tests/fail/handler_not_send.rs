use socketserver::prelude::*;
use std::rc::Rc;

#[derive(Default)]
struct Echo {
    shared: Rc<String>,
}

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut StreamRequest) {
        let _ = &self.shared;
    }
}

server! {
    struct EchoServer {
        transport: Tcp,
        handler: Echo,
    }
}

fn main() {}
