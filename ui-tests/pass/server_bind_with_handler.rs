//! `bind_with_handler` with a handler that is `Clone` but not `Default`: each request gets a
//! clone of the prototype, so state shared by every request lives in its `Arc` fields.
use socketserver::prelude::*;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Clone)]
struct Counter {
    served: Arc<AtomicUsize>,
}

#[handler]
impl Counter {
    fn handle(&mut self, req: &mut StreamRequest) -> io::Result<()> {
        let n = self.served.fetch_add(1, Ordering::SeqCst) + 1;
        write!(req.wfile(), "{n}")
    }
}

server! {
    struct CountingServer {
        transport: Tcp,
        handler: Counter,
        timeout: 5,
    }
}

fn main() -> io::Result<()> {
    let served = Arc::new(AtomicUsize::new(0));
    let prototype = Counter {
        served: served.clone(),
    };
    let server = CountingServer::bind_with_handler("127.0.0.1:0", prototype)?;
    let address = server.server_address().as_inet().unwrap();
    for expected in ["1", "2"] {
        let mut client = TcpStream::connect(address)?;
        server.handle_request()?;
        let mut reply = String::new();
        client.read_to_string(&mut reply)?;
        assert_eq!(reply, expected);
    }
    assert_eq!(served.load(Ordering::SeqCst), 2);

    // The builder takes the prototype too.
    let other = CountingServer::builder()
        .handler(Counter { served })
        .bind("127.0.0.1:0")
        .map(CountingServer::from)?;
    other.close();
    Ok(())
}
