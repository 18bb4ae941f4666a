# A TLS client for the tests, on Python's ssl module (OpenSSL): connects, shakes hands, reads
# the server's first line (unless silent=1), echoes `echo` bytes of every value in 16 KiB steps, and closes
# with close_notify both ways. Prints `key=value` lines: what was negotiated, what the
# server said, and `error=...` at the first failure.
#
#     python3 tls_client.py 'family=inet' 'address=127.0.0.1:PORT' 'ca=ca.pem' ...
#
# Keys: family (inet|unix), address, ca, cert, key, hostname (default localhost), max=1.2,
# min=1.3, alpn (comma-separated), echo (bytes), preface (hex, sent in the same segment as
# the ClientHello: a PROXY header), hold (seconds to wait after the first line), silent=1
# (a server that sends no first line: echo).
import socket
import ssl
import sys
import time

spec = dict(arg.split("=", 1) for arg in sys.argv[1:])
said = {}


def report():
    for key, value in said.items():
        print(f"{key}={value}")


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(spec["ca"])
if "cert" in spec:
    ctx.load_cert_chain(spec["cert"], spec["key"])
if spec.get("max") == "1.2":
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
if spec.get("min") == "1.3":
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
if "alpn" in spec:
    ctx.set_alpn_protocols(spec["alpn"].split(","))

if spec["family"] == "unix":
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(spec["address"])
else:
    host, port = spec["address"].rsplit(":", 1)
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname=spec.get("hostname", "localhost"))
preface = bytes.fromhex(spec.get("preface", ""))


def pump(op):
    """Runs `op` on the TLS object, moving bytes between it and the socket until it is done."""
    global preface
    ended = False
    while True:
        try:
            result, more = op(), False
        except ssl.SSLWantReadError:
            result, more = None, True
        data = outgoing.read()
        if data or preface:
            sock.sendall(preface + data)
            preface = b""
        if not more:
            return result
        if ended:
            raise ConnectionError("the server closed without close_notify")
        got = sock.recv(65536)
        if got:
            incoming.write(got)
        else:
            incoming.write_eof()
            ended = True


def read(n):
    try:
        return pump(lambda: tls.read(n))
    except ssl.SSLZeroReturnError:
        return b""


def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = read(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def read_line():
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = read(1)
        if not chunk:
            break
        buf += chunk
    return buf.decode().strip()


try:
    pump(tls.do_handshake)
    said["version"] = tls.version()
    said["cipher"] = tls.cipher()[0]
    said["alpn"] = tls.selected_alpn_protocol() or "-"
    subject = dict(pair for rdn in tls.getpeercert()["subject"] for pair in rdn)
    said["server_cn"] = subject.get("commonName", "-")
    said["server_o"] = subject.get("organizationName", "-")
    if spec.get("silent") != "1":
        said["told"] = read_line()
    time.sleep(float(spec.get("hold", "0")))
    size = int(spec.get("echo", "0"))
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    same = True
    for start in range(0, size, 16384):
        part = data[start : start + 16384]
        pump(lambda: tls.write(part))
        same = same and read_exact(len(part)) == part
    said["echoed"] = "yes" if same else "no"
    pump(tls.unwrap)
    said["closed"] = "clean"
except Exception as e:
    said["error"] = f"{type(e).__name__}: {e}".replace("\n", " ")
report()
