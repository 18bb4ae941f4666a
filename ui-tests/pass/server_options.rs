//! Every `server!` option with a valid value, on a transport and mixin it applies to; the
//! values end up in `config()` and in the bound server's config.
use socketserver::prelude::*;
use std::time::Duration;

#[derive(Default)]
struct Stream;

#[handler]
impl Stream {
    fn handle(&mut self, _req: &mut StreamRequest) {}
}

#[derive(Default)]
struct Datagram;

#[handler]
impl Datagram {
    fn handle(&mut self, _req: &mut DatagramRequest) {}
}

server! {
    struct TcpAll {
        transport: Tcp,
        mixin: Threading,
        handler: Stream,
        allow_reuse_address: true,
        allow_reuse_port: true,
        dual_stack: true,
        request_queue_size: 128,
        timeout: 5,
        stream_timeout: 0.25,
        defer_accept: 10,
        disable_nagle_algorithm: true,
        rbufsize: 1_024,
        wbufsize: 0,
        daemon_threads: true,
        block_on_close: false,
        proxy_protocol: true,
        proxy_header_timeout: 1.5,
        trusted_proxies: ["10.0.0.0/8", "::1", "unix"],
    }
}

server! {
    struct UdpAll {
        transport: Udp,
        mixin: Forking,
        handler: Datagram,
        allow_reuse_address: false,
        allow_reuse_port: false,
        dual_stack: false,
        timeout: 0.5,
        max_packet_size: 16777216,
        send_empty_reply: true,
        block_on_close: true,
        max_children: 1,
        tie_children: false,
    }
}

server! {
    struct UnixStreamAll {
        transport: UnixStream,
        mixin: Forking,
        handler: Stream,
        request_queue_size: 2147483647,
        timeout: 1e-3,
        stream_timeout: 31536000,
        rbufsize: 1,
        wbufsize: 4294967295,
        replace_stale_socket: true,
        max_children: 1048576,
        proxy_protocol: true,
    }
}

server! {
    struct TcpPoolAll {
        transport: Tcp,
        mixin: Pool,
        handler: Stream,
        pool_min: 2,
        pool_max: 65536,
        pool_idle: 0.5,
        pool_queue_size: 0,
        max_connections: 16,
        thread_stack_size: 65536,
    }
}

server! {
    struct UnixPoolFixed {
        transport: UnixStream,
        mixin: Pool,
        handler: Stream,
        pool_size: 3,
        pool_queue_size: 1048576,
        workers: 4,
    }
}

server! {
    struct TcpReusePortWorkers {
        transport: Tcp,
        mixin: Threading,
        handler: Stream,
        workers: 3,
        workers_reuse_port: true,
    }
}

server! {
    struct UnixDatagramAll {
        transport: UnixDatagram,
        handler: Datagram,
        max_packet_size: 1,
        send_empty_reply: false,
        replace_stale_socket: false,
    }
}

fn main() -> std::io::Result<()> {
    let tcp = TcpAll::config();
    assert!(tcp.allow_reuse_address && tcp.allow_reuse_port && tcp.dual_stack);
    assert_eq!(tcp.request_queue_size, 128);
    assert_eq!(tcp.timeout, Some(Duration::from_secs(5)));
    assert_eq!(tcp.stream_timeout, Some(Duration::from_millis(250)));
    assert_eq!(tcp.defer_accept, Some(Duration::from_secs(10)));
    assert!(tcp.disable_nagle_algorithm);
    assert_eq!((tcp.rbufsize, tcp.wbufsize), (1024, 0));
    assert!(tcp.daemon_threads && !tcp.block_on_close);
    assert!(tcp.proxy_protocol);
    assert_eq!(tcp.proxy_header_timeout, Some(Duration::from_millis(1500)));
    let trusted: Vec<String> = tcp.trusted_proxies.iter().map(|t| t.to_string()).collect();
    assert_eq!(trusted, ["10.0.0.0/8", "::1/128", "unix"]);

    let udp = UdpAll::config();
    assert!(!udp.allow_reuse_address && !udp.allow_reuse_port && !udp.dual_stack);
    assert_eq!(udp.timeout, Some(Duration::from_millis(500)));
    assert_eq!(udp.max_packet_size, 1 << 24);
    assert!(udp.send_empty_reply && udp.block_on_close);
    assert_eq!(udp.max_children, 1);
    assert!(!udp.tie_children);

    let unix = UnixStreamAll::config();
    assert_eq!(unix.request_queue_size, i32::MAX as u32);
    assert_eq!(unix.timeout, Some(Duration::from_millis(1)));
    assert_eq!(
        unix.stream_timeout,
        Some(Duration::from_secs(365 * 24 * 3600))
    );
    assert_eq!((unix.rbufsize, unix.wbufsize), (1, u32::MAX as usize));
    assert!(unix.replace_stale_socket && unix.proxy_protocol);
    assert!(unix.trusted_proxies.is_empty());
    assert_eq!(unix.max_children, 1 << 20);
    assert!(unix.tie_children, "children are tied by default");

    let unix_dgram = UnixDatagramAll::config();
    assert_eq!(unix_dgram.max_packet_size, 1);
    assert!(!unix_dgram.send_empty_reply && !unix_dgram.replace_stale_socket);

    let pool = TcpPoolAll::config();
    assert_eq!((pool.pool_min, pool.pool_max), (2, 1 << 16));
    assert_eq!(pool.pool_idle, Some(Duration::from_millis(500)));
    assert_eq!((pool.pool_queue_size, pool.max_connections), (0, 16));
    assert_eq!(pool.thread_stack_size, 65536);
    assert_eq!(pool.pool_bounds()?, (2, 1 << 16));
    let fixed = UnixPoolFixed::config();
    assert_eq!((fixed.pool_size, fixed.pool_queue_size), (3, 1 << 20));
    assert_eq!(fixed.pool_bounds()?, (3, 3));
    assert_eq!(fixed.workers, 4);
    assert!(!fixed.workers_reuse_port);
    let reuse_port = TcpReusePortWorkers::config();
    assert!((reuse_port.workers, reuse_port.workers_reuse_port) == (3, true));

    let server = TcpPoolAll::bind("127.0.0.1:0")?;
    assert_eq!(server.server().config(), &TcpPoolAll::config());
    assert_eq!(server.server().mixin().workers(), 2);
    server.close();

    let server = TcpAll::bind("127.0.0.1:0")?;
    assert_eq!(server.server().config(), &TcpAll::config());
    assert!(server.server_address().as_inet().is_some());
    server.close();

    let server = UdpAll::bind("127.0.0.1:0")?;
    assert_eq!(server.server().config(), &UdpAll::config());
    drop(server);
    Ok(())
}
