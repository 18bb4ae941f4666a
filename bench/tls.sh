#!/usr/bin/env bash
# The TLS benchmark: echo over TLS from four servers in one run, with ratios against the
# hand-written rustls server of that same run:
#   ours   target/release/examples/echo --mixin threading --tls-cert CERT --tls-key KEY
#   hand   tls_servers hand: blocking rustls, a thread per connection (the zero-overhead
#          baseline of ours' concurrency model)
#   tokio  tls_servers tokio: tokio-rustls on the multi-threaded runtime, a task per connection
#   nginx  nginx's stream module terminating TLS, proxy_pass to a plain
#          `echo --mixin threading` (its CPU counted apart from nginx's)
# three loads (loadgen --tls, rustls with ring, TLS 1.3 unless --tls12, no resumption):
#   rt     round trips of 64 B on an open connection, 1 connection
#   conn   full connections: connect, handshake, one 64 B echo, close_notify and close;
#          1 client (and 2 clients, for the rate only)
#   bulk   64 KiB writes echoed back on 1 connection (a writer and a reader), MB/s
# and prints a Markdown report on stdout (progress on stderr):
#
#     bench/tls.sh [--tls12] [--callgrind] [SECONDS per measurement, default 3] > report.md
#
# ECHO_BIN=PATH runs another build of the echo example as ours (and as nginx's backend).
#
# Measured as bench/src/driver does it: rates unpinned; server CPU per operation in a second
# pass with fresh servers and loadgen all pinned to CPU 0 (`taskset -c 0`), from
# /proc/PID/stat (utime + stime + cutime + cstime); both passes 3 repetitions, the servers
# alternating (A B C D A B C D ...); system calls per operation with `strace -f -c -p`,
# the difference between two run lengths. `--callgrind` adds where the user-space
# instructions of a connection go, for hand and ours, under valgrind.
#
# Needs openssl, nginx and libnginx-mod-stream, strace, python3 (and valgrind for
# --callgrind). Certificates (a CA and a P-256 server certificate for localhost and
# 127.0.0.1) are made in a temporary directory and removed with it.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=3 tls12=() callgrind=false args="$*"
for arg; do
    case $arg in
        --tls12) tls12=(--tls12) ;;
        --callgrind) callgrind=true ;;
        *) secs=$arg ;;
    esac
done
note() { echo "tls.sh: $*" >&2; }
notes=() # lines for the report's notes

echo_bin=${ECHO_BIN:-target/release/examples/echo}
if ! cargo build --quiet --release --examples --features tls; then
    [ -x "$echo_bin" ] || exit 1
    note "building the examples failed; using the existing $echo_bin"
    notes+=("Building the examples failed (work in progress in the tree): the existing $echo_bin ran.")
fi
cargo build --quiet --release -p socketserver-bench --features tls --bin loadgen --bin tls_servers
loadgen=target/release/loadgen
tls_servers=target/release/tls_servers
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)

# The CA and the server certificate, EC P-256 keys.
certificates() {
    local ssl=(openssl)
    "${ssl[@]}" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca.key"
    "${ssl[@]}" req -x509 -new -key "$dir/ca.key" -sha256 -days 1 -subj /CN=tls.sh-ca -out "$dir/ca.pem"
    "${ssl[@]}" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/server.key"
    "${ssl[@]}" req -new -key "$dir/server.key" -subj /CN=localhost -out "$dir/server.csr"
    printf '%s\n' 'subjectAltName=DNS:localhost,IP:127.0.0.1' 'basicConstraints=critical,CA:FALSE' \
        'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' > "$dir/server.ext"
    "${ssl[@]}" x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 1 -sha256 -extfile "$dir/server.ext" -out "$dir/server.pem"
}
certificates 2> "$dir/openssl.log" || { cat "$dir/openssl.log" >&2; exit 1; }
cert=$dir/server.pem key=$dir/server.key

# Ours runs only once the echo example takes the TLS flags.
servers=(hand tokio nginx) skipped=
# (No `grep -q` in a pipe here: under pipefail, the writer's SIGPIPE would fail it.)
if "$echo_bin" --help 2>&1 | grep -- --tls-cert > /dev/null; then
    servers=(ours "${servers[@]}")
else
    note "skipping ours: $echo_bin --help lists no --tls-cert"
    skipped="**ours skipped**: \`examples/echo --help\` lists no \`--tls-cert\` yet."
fi

pin=() # the prefix of server and loadgen commands: () or (taskset -c 0)

# Starts "$@" (under $pin), waits for its `listening on ADDR`; sets $pid and $port. Fails
# if it exits first, its first line of stderr in $start_error.
start() {
    local out="$dir/out.$RANDOM"
    "${pin[@]}" "$@" > "$out" 2> "$out.err" &
    pid=$!
    pids+=("$pid")
    until grep -q "listening on" "$out" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { start_error=$(head -1 "$out.err"); return 1; }
        sleep 0.01
    done
    port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$out")
}

# A free TCP port (bound to 0 and released).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts nginx terminating TLS on a free port in front of a plain echo; sets $port, $pid
# (nginx's worker) and $backend (the echo).
start_nginx() {
    start "$echo_bin" --mixin threading --bind 127.0.0.1:0
    backend=$pid
    local listen
    listen=$(free_port)
    cat > "$dir/nginx.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
events {}
stream {
    server {
        listen 127.0.0.1:$listen ssl;
        ssl_certificate $cert;
        ssl_certificate_key $key;
        ssl_protocols TLSv1.2 TLSv1.3;
        proxy_pass 127.0.0.1:$port;
        proxy_half_close on;
    }
}
EOF
    "${pin[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -g "daemon off; pid $dir/nginx.pid; error_log stderr;" 2> "$dir/nginx.err" &
    local master=$!
    pids+=("$master")
    until (exec 3<>"/dev/tcp/127.0.0.1/$listen") 2>/dev/null; do
        kill -0 "$master" 2>/dev/null || { cat "$dir/nginx.err" >&2; return 1; }
        sleep 0.01
    done
    # The master listens before it forks its worker.
    until pid=$(cat "/proc/$master/task/$master/children") && [ -n "$pid" ]; do sleep 0.01; done
    pid=${pid% }
    port=$listen
}

declare -A addr cpu_pid backend_pid tls_line
# Starts every server of $servers (under $pin), and a short warm-up load on each.
start_servers() {
    local s started=()
    for s in "${servers[@]}"; do
        backend=
        case $s in
            ours) start "$echo_bin" --mixin threading --bind 127.0.0.1:0 --tls-cert "$cert" --tls-key "$key" || {
                note "skipping ours: echo --tls-cert did not start"
                skipped="**ours skipped**: \`examples/echo --tls-cert\` exited before listening: $start_error"
                continue
            } ;;
            hand | tokio) start "$tls_servers" "$s" --cert "$cert" --key "$key" --bind 127.0.0.1:0 ;;
            nginx) start_nginx ;;
        esac
        started+=("$s")
        addr[$s]=127.0.0.1:$port cpu_pid[$s]=$pid backend_pid[$s]=$backend
        tls_line[$s]=$(run "$s" --scenario churn --ops 50 | sed -n 's/^TLS //p')
        complaints "$s"
    done
    servers=("${started[@]}")
}

# Stops the servers $start_servers started.
stop_servers() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}

# Runs loadgen (under $pin) over TLS against server $1 with the rest of the arguments; its
# stderr goes to $dir/loadgen.err, for `complaints`.
run() {
    local s=$1; shift
    "${pin[@]}" "$loadgen" --addr "${addr[$s]}" --tls "$dir/ca.pem" "${tls12[@]}" --timeout-ms 5000 "$@" 2> "$dir/loadgen.err" || true
}

# Notes what the last loadgen run against server $1 said on stderr, if anything.
complaints() { if [ -s "$dir/loadgen.err" ]; then notes+=("$1: $(head -1 "$dir/loadgen.err")"); fi; }

# The loadgen arguments of each load.
declare -A load=(
    [rt]="--scenario pingpong --conns 1 --size 64"
    [conn]="--scenario churn --conns 1 --size 64"
    [conn2]="--scenario churn --conns 2 --size 64"
    [bulk]="--scenario stream --conns 1 --size 65536"
)

# Clock ticks of CPU process $1 has used (0 for none).
ticks() { if [ -n "$1" ]; then awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; else echo 0; fi; }

# Sums, keyed `PASS/LOAD/SERVER`: operations, seconds, bytes, errors, and the server's (and
# the backend's) clock ticks.
declare -A ops time bytes errors cpu backend_cpu
measured=0 while_compiling=0
# Runs load $2 on server $3 for $secs, adding to the sums of pass $1.
measure() {
    local k=$1/$2/$3 s=$3 out o t e b a0 b0
    measured=$((measured + 1))
    if ps -eo comm= | grep -xE 'rustc|cc1|cc1plus|ld|clippy-driver' > /dev/null; then while_compiling=$((while_compiling + 1)); fi
    a0=$(ticks "${cpu_pid[$s]}") b0=$(ticks "${backend_pid[$s]}")
    # shellcheck disable=SC2086
    out=$(run "$s" ${load[$2]} --duration "$secs")
    complaints "$s"
    sleep 0.05 # the last connection's end
    read -r o t e b < <(sed -n 's/^RESULT ops=\([0-9]*\) secs=\([0-9.]*\) errors=\([0-9]*\) bytes=\([0-9]*\).*/\1 \2 \3 \4/p' <<< "$out") ||
        { o=0 t=0 e=1 b=0; notes+=("$s, $2: loadgen gave no result"); }
    ops[$k]=$(( ${ops[$k]:-0} + o )) bytes[$k]=$(( ${bytes[$k]:-0} + b )) errors[$k]=$(( ${errors[$k]:-0} + e ))
    time[$k]=$(awk -v a="${time[$k]:-0}" -v b="$t" 'BEGIN { print a + b }')
    cpu[$k]=$(( ${cpu[$k]:-0} + $(ticks "${cpu_pid[$s]}") - a0 ))
    backend_cpu[$k]=$(( ${backend_cpu[$k]:-0} + $(ticks "${backend_pid[$s]}") - b0 ))
    note "$1 $2 $s: $o ops in ${t}s, $e errors"
}

# Runs every load of $2 on every server, 3 repetitions, servers alternating, in pass $1.
alternate() {
    local rep l s
    for l in $2; do
        for rep in 1 2 3; do
            for s in "${servers[@]}"; do measure "$1" "$l" "$s"; done
        done
    done
}

# The system calls process $1 makes while loadgen runs the rest of the arguments.
traced_calls() {
    local p=$1 s=$2; shift 2
    strace -f -c -p "$p" -o "$dir/strace.out" 2> "$dir/strace.err" &
    local tracer=$! waited=0
    until grep -q "attached" "$dir/strace.err" 2>/dev/null || [ $waited -ge 1000 ]; do sleep 0.01; waited=$((waited + 1)); done
    sleep 0.3 # every thread attached
    run "$s" "$@" > /dev/null
    kill -INT "$tracer"
    wait "$tracer" 2>/dev/null || true
    awk '$NF == "total" { print $4 }' "$dir/strace.out"
}

declare -A syscalls
# Calls per operation of load $1 (short and long run lengths $2 and $3) on server $4.
syscalls_per_op() {
    local short long
    # shellcheck disable=SC2086
    short=$(traced_calls "${cpu_pid[$4]}" "$4" ${load[$1]} --ops "$2" --limit 60)
    # shellcheck disable=SC2086
    long=$(traced_calls "${cpu_pid[$4]}" "$4" ${load[$1]} --ops "$3" --limit 60)
    syscalls[$1/$4]=$(awk -v a="$short" -v b="$long" -v n=$(($3 - $2)) 'BEGIN { printf "%.2f", (b - a) / n }')
    note "syscalls $1 $4: ${syscalls[$1/$4]} per operation"
}

load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)

# Pass 1: rates (unpinned), then system calls.
note "rate pass: servers ${servers[*]}"
start_servers
alternate rate "rt conn conn2 bulk"
for s in "${servers[@]}"; do
    [ "$s" = nginx ] && continue
    syscalls_per_op rt 1000 3000 "$s"
    syscalls_per_op conn 200 600 "$s"
done
stop_servers

# Pass 2: server CPU, servers and loadgen on CPU 0.
note "cpu pass (taskset -c 0)"
pin=(taskset -c 0)
start_servers
alternate cpu "rt conn bulk"
stop_servers
pin=()

# --- The report -----------------------------------------------------------------------
# Rate of load $1 on server $2: operations/s, or MB/s for bulk.
rate() {
    local k=rate/$1/$2
    if [ "$1" = bulk ]; then
        awk -v b="${bytes[$k]}" -v t="${time[$k]}" 'BEGIN { if (t > 0) printf "%.0f", b / t / 1e6; else print 0 }'
    else
        awk -v o="${ops[$k]}" -v t="${time[$k]}" 'BEGIN { if (t > 0) printf "%.0f", o / t; else print 0 }'
    fi
}
# Server CPU microseconds per operation of load $1 on server $2 (the backend's with $3 =
# backend, both with $3 = total).
cpu_us() {
    local k=cpu/$1/$2 c
    case ${3:-server} in
        server) c=${cpu[$k]} ;;
        backend) c=${backend_cpu[$k]} ;;
        total) c=$(( ${cpu[$k]} + ${backend_cpu[$k]} )) ;;
    esac
    awk -v c="$c" -v hz="$hz" -v o="${ops[$k]}" 'BEGIN { if (o > 0) printf "%.2f", c / hz / o * 1e6; else print "nan" }'
}
# $1 / $2 as a ratio.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
# Operations per second of one core from microseconds per operation $1.
per_core() { awk -v u="$1" 'BEGIN { if (u > 0) printf "%.0f", 1e6 / u; else print "-" }'; }
# MB/s of one core of server CPU for bulk on server $1 (with $2 = total: nginx and echo).
mb_per_core() {
    local k=cpu/bulk/$1 c=${cpu[cpu/bulk/$1]}
    [ "${2:-}" = total ] && c=$(( c + ${backend_cpu[$k]} ))
    awk -v b="${bytes[$k]}" -v c="$c" -v hz="$hz" 'BEGIN { if (c > 0) printf "%.0f", b / 1e6 / (c / hz); else print "-" }'
}
# The server CPU cell of load $1 on server $2: total, and for nginx the two parts.
cpu_cell() {
    if [ "$2" = nginx ]; then
        echo "$(cpu_us "$1" nginx total) us (nginx $(cpu_us "$1" nginx) + echo $(cpu_us "$1" nginx backend))"
    else
        echo "$(cpu_us "$1" "$2") us"
    fi
}
# Errors of load $1 on server $2 in both passes, as a suffix.
errs() { local n=$(( ${errors[rate/$1/$2]:-0} + ${errors[cpu/$1/$2]:-0} )); [ "$n" -gt 0 ] && echo " ($n errors)"; true; }
declare -A label=(
    [ours]="ours: echo --mixin threading"
    [hand]="hand: rustls StreamOwned, thread per connection"
    [tokio]="tokio: tokio-rustls, task per connection"
    [nginx]="nginx stream (TLS) -> plain echo --mixin threading"
)

version=TLSv1.3; [ ${#tls12[@]} -gt 0 ] && version=TLSv1.2
rustls_version=$(awk '/^name = "rustls"$/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)
echo "# TLS: echo over rustls (ours, hand-written), tokio-rustls and nginx"
echo
echo "Command: \`bench/tls.sh${args:+ }$args\`; $(nproc) CPUs; rustls $rustls_version (ring); $(nginx -v 2>&1 | cut -d' ' -f3), $(openssl version | cut -d' ' -f1-2); $(date -u +%F)."
echo "Load average $load_at_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end; $while_compiling of $measured measurements started while a compiler ran."
echo "Client: loadgen --tls ($version requested, no session resumption: every connection a full handshake); negotiated:"
for s in "${servers[@]}"; do echo "${s}: \`${tls_line[$s]:-?}\`;"; done | paste -sd' ' | sed 's/;$/./'
echo
if [ -n "$skipped" ]; then echo "$skipped"; echo; fi

echo "## Round trips on an open TLS connection (64 B echo, 1 connection)"
echo
echo "| server | round trips/s | vs hand | server CPU per round trip | vs hand | syscalls per round trip |"
echo "|---|---:|---:|---:|---:|---:|"
for s in "${servers[@]}"; do
    echo "| ${label[$s]} | $(rate rt "$s")$(errs rt "$s") | $(ratio "$(rate rt "$s")" "$(rate rt hand)") | $(cpu_cell rt "$s") | $(ratio "$(cpu_us rt "$s" total)" "$(cpu_us rt hand)") | ${syscalls[rt/$s]:--} |"
done
echo

echo "## Full TLS connections (connect, handshake, one 64 B echo, close)"
echo
echo "| server | connections/s, 1 client | vs hand | connections/s, 2 clients | vs hand | server CPU per connection | vs hand | handshakes/s per core | syscalls per connection |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in "${servers[@]}"; do
    per=$(per_core "$(cpu_us conn "$s" total)")
    [ "$s" = nginx ] && per="$per (nginx alone $(per_core "$(cpu_us conn nginx)"))"
    echo "| ${label[$s]} | $(rate conn "$s")$(errs conn "$s") | $(ratio "$(rate conn "$s")" "$(rate conn hand)") | $(rate conn2 "$s")$(errs conn2 "$s") | $(ratio "$(rate conn2 "$s")" "$(rate conn2 hand)") | $(cpu_cell conn "$s") | $(ratio "$(cpu_us conn "$s" total)" "$(cpu_us conn hand)") | $per | ${syscalls[conn/$s]:--} |"
done
echo

echo "## Bulk TLS (64 KiB writes echoed back, 1 connection)"
echo
echo "| server | MB/s | vs hand | server CPU per 64 KiB | vs hand | MB/s per core |"
echo "|---|---:|---:|---:|---:|---:|"
for s in "${servers[@]}"; do
    per=$(mb_per_core "$s" total)
    [ "$s" = nginx ] && per="$per (nginx alone $(mb_per_core nginx))"
    echo "| ${label[$s]} | $(rate bulk "$s")$(errs bulk "$s") | $(ratio "$(rate bulk "$s")" "$(rate bulk hand)") | $(cpu_cell bulk "$s") | $(ratio "$(cpu_us bulk "$s" total)" "$(cpu_us bulk hand)") | $per |"
done
echo

echo "## How it measures"
echo
echo "- Rates: unpinned, 3 repetitions of $secs s per server and load, the servers alternating; total operations (bytes) over total seconds."
echo "- Server CPU: a second pass, fresh servers and loadgen all on CPU 0 (\`taskset -c 0\`, as bench/src/driver pins), 3 repetitions of $secs s; utime + stime (+ children) of /proc/PID/stat before and after each load, over the operations. nginx: its worker, and the echo backend apart. Per core: 1 / CPU per operation (nginx: worker and backend together; the worker alone in parentheses)."
echo "- System calls: \`strace -f -c -p\` on the server during 1000 and 3000 round trips (one connection, opened in both runs), and 200 and 600 connections; the difference over the difference in operations."
echo "- hand and tokio set TCP_NODELAY (nginx's stream module does by default): after the TLS 1.3 handshake a server sends its session tickets, then the first echo, which Nagle holds until the client's delayed ACK of the tickets, 40 ms per connection."

# --callgrind: where a connection's user-space instructions go, hand and ours.
# The callgrind_annotate list of profile $1 (with $2: --inclusive=yes) as rows of the top $3
# functions: instructions per connection ($4 connections), share, name. Cycles ('2), frames
# at 100% or more, and the thread's start-up frames are left out.
top_functions() {
    callgrind_annotate "$2" "$1" 2> /dev/null |
        awk '/^-+$/ { d++; next } d >= 5 && /%\)/' |
        sed -e 's/^ *\([0-9,]*\) *( *\([0-9.]*\)%) *[^:]*:\(.*\)$/\1 \2 \3/' -e 's/ \[[^]]*\]$//' |
        awk -v n="$3" -v conns="$4" '
            $2 >= 100 || $0 ~ ("\047" "[0-9]+$") || $3 ~ /^<cycle/ { next }
            $3 ~ /start_thread|thread_start|FnOnce::call_once|__rust_begin_short_backtrace/ { next }
            { gsub(/,/, "", $1); name = substr($0, index($0, $3)); if (length(name) > 110) name = substr(name, 1, 107) "...";
              if (shown++ < n) printf "| %.0f | %s%% | `%s` |\n", $1 / conns, $2, name }'
}
# Profiles server $1 (the command after it) over $cg_conns full connections, after a warm-up;
# prints its section.
callgrind_server() {
    local s=$1 out=$dir/callgrind.$1 total; shift
    start valgrind --tool=callgrind --callgrind-out-file="$out" "$@" || { echo "$s did not start under valgrind: $start_error"; return; }
    addr[$s]=127.0.0.1:$port
    run "$s" --scenario churn --ops 20 --timeout-ms 30000 > /dev/null
    callgrind_control -z "$pid" > /dev/null 2>&1
    run "$s" --scenario churn --ops "$cg_conns" --timeout-ms 30000 --limit 600 > "$dir/cg.result"
    callgrind_control -d "$pid" > /dev/null 2>&1
    stop_servers
    total=$(callgrind_annotate "$out.1" 2> /dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    cg_total[$s]=$total
    echo "### $s: $(awk -v t="$total" -v n="$cg_conns" 'BEGIN { printf "%.0f", t / n }') instructions per connection"
    echo
    sed -n 's/^RESULT ops=\([0-9]*\) secs=\([0-9.]*\) errors=\([0-9]*\).*/loadgen: \1 connections in \2 s, \3 errors./p' "$dir/cg.result"
    echo
    echo "| inclusive, per connection | share | function |"
    echo "|---:|---:|---|"
    top_functions "$out.1" --inclusive=yes 15 "$cg_conns"
    echo
    echo "| self, per connection | share | function |"
    echo "|---:|---:|---|"
    top_functions "$out.1" --inclusive=no 10 "$cg_conns"
    echo
}
if $callgrind; then
    cg_conns=300
    declare -A cg_total
    note "callgrind"
    echo
    echo "## Where a connection's instructions go (valgrind --tool=callgrind)"
    echo
    echo "Each server alone under callgrind: 20 connections to warm up, counters zeroed (\`callgrind_control -z\`), $cg_conns full connections (as in \`conn\`), dumped. User-space instructions only: the kernel's share of a connection (its system calls) is not counted."
    echo
    callgrind_server hand "$tls_servers" hand --cert "$cert" --key "$key" --bind 127.0.0.1:0
    if [ "${servers[0]}" = ours ]; then
        callgrind_server ours "$echo_bin" --mixin threading --bind 127.0.0.1:0 --tls-cert "$cert" --tls-key "$key"
        echo "ours / hand: $(ratio "${cg_total[ours]}" "${cg_total[hand]}") the instructions per connection."
        echo
    fi
fi
if [ ${#notes[@]} -gt 0 ]; then
    echo
    echo "Notes:"
    echo
    printf '%s\n' "${notes[@]}" | sort | uniq -c | sed 's/^ *\([0-9]*\) \(.*\)/- \2 (x\1)/'
fi
