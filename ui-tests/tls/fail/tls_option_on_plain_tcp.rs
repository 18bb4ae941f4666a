use socketserver::prelude::*;

#[derive(Default)]
struct Echo;

#[handler]
impl Echo {
    fn handle(&mut self, req: &mut StreamRequest) -> std::io::Result<()> {
        let (rfile, wfile) = req.files();
        std::io::copy(rfile, wfile).map(drop)
    }
}

server! {
    struct Echo2 {
        transport: Tcp,
        handler: Echo,
        tls_handshake_timeout: 5,
    }
}

fn main() {}
