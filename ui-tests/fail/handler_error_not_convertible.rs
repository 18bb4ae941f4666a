use socketserver::prelude::*;

#[derive(Debug)]
struct NotAnError;

#[derive(Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, _req: &mut StreamRequest) -> Result<(), NotAnError> {
        Err(NotAnError)
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
