use socketserver::prelude::*;

#[derive(Clone)]
struct Echo {
    greeting: String,
}

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut StreamRequest) {
        let _ = &self.greeting;
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
