//! Echo server: every byte a client sends comes back.
use socketserver::{HandlerResult, RequestHandler, StreamRequest, ThreadingTcpServer};

#[derive(Default)]
struct Echo;

impl RequestHandler<StreamRequest> for Echo {
    fn handle(&mut self, req: &mut StreamRequest) -> HandlerResult {
        let (rfile, wfile) = req.files();
        std::io::copy(rfile, wfile)?;
        Ok(())
    }
}

fn main() -> std::io::Result<()> {
    let server = ThreadingTcpServer::<Echo>::bind("127.0.0.1:9000")?;
    println!("listening on {}", server.server_address());
    server.serve_forever()
}
