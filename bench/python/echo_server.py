#!/usr/bin/env python3
"""Python's socketserver echo: the reference the Rust servers are compared with.

    python3 echo_server.py [--transport tcp|unix|udp|unix-dgram]
                           [--mixin sync|threading|forking] [--bind ADDR]
    python3 echo_server.py --shutdown-latency N

Serves echo until killed, after printing `listening on ADDR` (host:port, or the socket
path). The classes are the standard library's: TCPServer, ThreadingTCPServer,
ForkingTCPServer, UDPServer, ThreadingUDPServer, ... with allow_reuse_address and a
SOMAXCONN backlog (CPython 3.15's default; before 3.15 it is 5, which drops connections
under a burst of 128 clients and would measure SYN retries, not the server).

--shutdown-latency N measures N times how long serve_forever takes to return after
shutdown() is called (the poll_interval of 0.5 s bounds it), and prints the samples in
microseconds on one `SHUTDOWN_US ...` line.
"""

import argparse
import socket
import socketserver
import sys
import threading
import time


class StreamEcho(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        while True:
            data = sock.recv(8192)
            if not data:
                return
            sock.sendall(data)


class DatagramEcho(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


BASES = {
    "tcp": socketserver.TCPServer,
    "unix": socketserver.UnixStreamServer,
    "udp": socketserver.UDPServer,
    "unix-dgram": socketserver.UnixDatagramServer,
}
MIXINS = {
    "sync": None,
    "threading": socketserver.ThreadingMixIn,
    "forking": socketserver.ForkingMixIn,
}


def server_class(transport, mixin):
    base = BASES[transport]
    bases = (MIXINS[mixin], base) if MIXINS[mixin] else (base,)
    attrs = {"allow_reuse_address": True, "request_queue_size": socket.SOMAXCONN}
    return type(f"{mixin.capitalize()}{base.__name__}", bases, attrs)


def serve(transport, mixin, bind):
    handler = StreamEcho if transport in ("tcp", "unix") else DatagramEcho
    if transport in ("tcp", "udp"):
        host, _, port = (bind or "127.0.0.1:0").rpartition(":")
        address = (host, int(port))
    elif bind:
        address = bind
    else:
        sys.exit("echo_server.py: unix transports need --bind PATH")
    with server_class(transport, mixin)(address, handler) as server:
        where = server.server_address
        if isinstance(where, tuple):
            where = f"{where[0]}:{where[1]}"
        print(f"listening on {where}", flush=True)
        server.serve_forever()


def shutdown_latency(samples):
    with server_class("tcp", "sync")(("127.0.0.1", 0), StreamEcho) as server:
        latencies = []
        for _ in range(samples):
            returned = []

            def run():
                server.serve_forever()
                returned.append(time.perf_counter())

            thread = threading.Thread(target=run)
            thread.start()
            time.sleep(0.002)
            start = time.perf_counter()
            server.shutdown()
            thread.join()
            latencies.append((returned[0] - start) * 1e6)
    print("SHUTDOWN_US " + " ".join(f"{us:.1f}" for us in latencies), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", default="tcp", choices=sorted(BASES))
    parser.add_argument("--mixin", default="sync", choices=sorted(MIXINS))
    parser.add_argument("--bind")
    parser.add_argument("--shutdown-latency", type=int, metavar="N")
    args = parser.parse_args()
    if args.shutdown_latency:
        shutdown_latency(args.shutdown_latency)
    else:
        serve(args.transport, args.mixin, args.bind)


if __name__ == "__main__":
    main()
