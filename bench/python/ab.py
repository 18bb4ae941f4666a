"""Two builds of the echo example served at once, to compare them with each other.

    python3 bench/python/ab.py A B [--mixin forking] [--transport tcp|udp] [--reps 21]

A and B are paths to echo binaries. Each repetition starts both pinned to CPU 0, loads each
with its own `loadgen` (also pinned to CPU 0) for 1.5 s at once, and reads each server's CPU
time (its own and its reaped children's, from /proc) over the load; the order in which they
are started swaps every other repetition. Prints each build's median CPU per operation and
the median of B/A over the repetitions. Build `loadgen` first
(`cargo build --release -p socketserver-bench --bins`).

Compare builds the same way they were written: a file the linker wrote sits in the page
cache in small folios, a copy (`cp`) in large ones, and a forked child's page faults cost
less on large ones (see BENCHMARKS.md).
"""

import argparse
import os
import statistics
import subprocess
import time
from pathlib import Path

LOADGEN = Path(__file__).resolve().parents[2] / "target" / "release" / "loadgen"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime + cutime + cstime of `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICK


def start(path, mixin, transport):
    server = subprocess.Popen(
        ["taskset", "-c", "0", path, "--mixin", mixin, "--transport", transport,
         "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if not line.startswith("listening on "):
        raise SystemExit(f"{path}: no `listening on` line: {line!r}")
    return server, line.split()[-1]


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("a")
    args.add_argument("b")
    args.add_argument("--mixin", default="forking")
    args.add_argument("--transport", default="tcp", choices=["tcp", "udp"])
    args.add_argument("--reps", type=int, default=21)
    opts = args.parse_args()
    scenario = "churn" if opts.transport == "tcp" else "datagram"
    per_op = {opts.a: [], opts.b: []}
    ratios = []
    for rep in range(opts.reps):
        order = [opts.a, opts.b] if rep % 2 == 0 else [opts.b, opts.a]
        servers = {path: start(path, opts.mixin, opts.transport) for path in order}
        time.sleep(0.2)
        before = {path: cpu_seconds(servers[path][0].pid) for path in order}
        loads = {
            path: subprocess.Popen(
                ["taskset", "-c", "0", str(LOADGEN), "--scenario", scenario,
                 "--transport", opts.transport, "--addr", servers[path][1],
                 "--duration", "1.5", "--conns", "1"],
                stdout=subprocess.PIPE, text=True)
            for path in order
        }
        ops = {}
        for path, load in loads.items():
            out = load.communicate(timeout=60)[0]
            ops[path] = int(next(w for w in out.split() if w.startswith("ops="))[4:])
        time.sleep(0.15)  # the last children end and are reaped
        for path in order:
            server = servers[path][0]
            per_op[path].append((cpu_seconds(server.pid) - before[path]) * 1e6 / ops[path])
            server.kill()
            server.wait()
        ratios.append(per_op[opts.b][-1] / per_op[opts.a][-1])
    print(f"{opts.transport} {scenario}, {opts.mixin}, {opts.reps} repetitions: "
          f"A {statistics.median(per_op[opts.a]):.0f} us/op, "
          f"B {statistics.median(per_op[opts.b]):.0f} us/op, "
          f"B/A {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
