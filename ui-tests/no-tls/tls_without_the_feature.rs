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
    struct EchoTls {
        transport: Tls<Tcp>,
        handler: Echo,
    }
}

fn main() {}
