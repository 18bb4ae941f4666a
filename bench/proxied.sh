#!/usr/bin/env bash
# The deployment benchmark: what the PROXY protocol costs a backend, and echo through HAProxy
# and nginx's stream module with one and two backends, against echo reached directly, all
# in one run (ratios against that run's own baselines). It runs the binaries users run:
# target/release/examples/echo (--mixin pool) and the bench's loadgen.
#
#     bench/proxied.sh [SECONDS per measurement, default 3] > report.md
#
# Needs haproxy, nginx and libnginx-mod-stream (.ci/run installs them), and strace.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
cargo build --quiet --release --examples
cargo build --quiet --release -p socketserver-bench --bin loadgen
echo_bin=target/release/examples/echo
loadgen=target/release/loadgen
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT

# Starts echo (pool) with extra flags; sets $port and $pid.
start_echo() {
    local out="$dir/echo.$RANDOM"
    "$echo_bin" --mixin pool --bind 127.0.0.1:0 "$@" > "$out" &
    pid=$!
    pids+=("$pid")
    until grep -q "listening on" "$out" 2>/dev/null; do sleep 0.01; done
    port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$out")
}

# The CPU seconds (user + system) process $1 has used.
cpu() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; }

# Runs loadgen against $1 with the rest of the arguments; prints its rate (ops/s).
rate() {
    local addr=$1; shift
    "$loadgen" --addr "$addr" --duration "$secs" "$@" |
        sed -n 's/^RESULT ops=\([0-9]*\) secs=\([0-9.]*\) errors=\([0-9]*\).*/\1 \2 \3/p' |
        awk '{ if ($3 > 0) print "ERR" $3; else printf "%.0f\n", $1 / $2 }'
}

# A free TCP port (bound to 0 and released).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "# PROXY protocol and load balancers"
echo
echo "Command: \`bench/proxied.sh $secs\`; $(nproc) CPUs; $(haproxy -v | head -1 | cut -d' ' -f1-3); $(nginx -v 2>&1 | cut -d' ' -f3); $(date -u +%F)"
echo

# 1. The backend's cost of a PROXY v2 header: churn (a connection per request, the header in
#    the first segment) against a plain echo and a --proxy-protocol one, alternating, 3 each.
start_echo; plain_port=$port; plain_pid=$pid
start_echo --proxy-protocol --trusted-proxy 127.0.0.1; proxied_port=$port; proxied_pid=$pid
declare -A ops cpus
for rep in 1 2 3; do
    for which in plain proxied; do
        p=${which}_port; q=${which}_pid
        flag=(); [ "$which" = proxied ] && flag=(--proxy-header)
        before=$(cpu "${!q}")
        out=$("$loadgen" --scenario churn --addr "127.0.0.1:${!p}" --conns 2 --duration "$secs" "${flag[@]}")
        after=$(cpu "${!q}")
        n=$(sed -n 's/^RESULT ops=\([0-9]*\).*/\1/p' <<< "$out")
        ops[$which]=$(( ${ops[$which]:-0} + n ))
        cpus[$which]=$(awk -v a="${cpus[$which]:-0}" -v b="$before" -v c="$after" 'BEGIN { print a + c - b }')
    done
done
per_conn() { awk -v c="${cpus[$1]}" -v n="${ops[$1]}" 'BEGIN { printf "%.2f", c / n * 1e6 }'; }
# System calls per connection, 2000 connections under strace -f -c.
syscalls() {
    local pid=$1 port=$2; shift 2
    strace -f -c -p "$pid" -o "$dir/strace" & local tracer=$!
    sleep 0.5
    "$loadgen" --scenario churn --addr "127.0.0.1:$port" --conns 1 --ops 2000 "$@" > /dev/null
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    awk '/total/ { printf "%.2f", $4 / 2000 }' "$dir/strace"
}
echo "## A PROXY v2 header's cost to the backend (echo --mixin pool, churn, 2 connectors)"
echo
echo "| backend | connections/s | server CPU per connection | ratio | syscalls per connection |"
echo "|---|---:|---:|---:|---:|"
plain_sys=$(syscalls "$plain_pid" "$plain_port")
proxied_sys=$(syscalls "$proxied_pid" "$proxied_port" --proxy-header)
for which in plain proxied; do
    ratio=$(awk -v a="$(per_conn "$which")" -v b="$(per_conn plain)" 'BEGIN { printf "%.3fx", a / b }')
    sys=${which}_sys
    echo "| $which | $(( ${ops[$which]} / (3 * secs) )) | $(per_conn "$which") us | $ratio | ${!sys} |"
done
echo

# 2. Through the balancers: two --proxy-protocol backends, HAProxy (send-proxy-v2) and nginx
#    (proxy_protocol on, v1) in front of one and of both.
start_echo --proxy-protocol --trusted-proxy 127.0.0.1; b1=$port
start_echo --proxy-protocol --trusted-proxy 127.0.0.1; b2=$port
haproxy_cfg() { # listen port, backend ports...
    local listen=$1; shift
    printf 'defaults\n    mode tcp\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\nfrontend f\n    bind 127.0.0.1:%s\n    default_backend b\nbackend b\n    balance roundrobin\n' "$listen"
    local i=0; for b in "$@"; do i=$((i + 1)); printf '    server s%s 127.0.0.1:%s send-proxy-v2\n' "$i" "$b"; done
}
nginx_cfg() { # listen port, backend ports...
    local listen=$1; shift
    printf 'load_module /usr/lib/nginx/modules/ngx_stream_module.so;\nworker_processes 1;\nevents {}\nstream {\n    upstream b {\n'
    for b in "$@"; do printf '        server 127.0.0.1:%s;\n' "$b"; done
    printf '    }\n    server {\n        listen 127.0.0.1:%s;\n        proxy_pass b;\n        proxy_protocol on;\n    }\n}\n' "$listen"
}
echo "## Echo through a balancer (backends: echo --mixin pool --proxy-protocol)"
echo
echo "| path | round trips/s (16 connections) | ratio | connections/s (churn, 4) | ratio |"
echo "|---|---:|---:|---:|---:|"
direct_pp=$(rate "127.0.0.1:$plain_port" --scenario pingpong --conns 16)
direct_churn=$(rate "127.0.0.1:$plain_port" --scenario churn --conns 4)
echo "| direct to echo (no header) | $direct_pp | 1.00x | $direct_churn | 1.00x |"
row() { # label, address
    local pp churn
    pp=$(rate "$2" --scenario pingpong --conns 16)
    churn=$(rate "$2" --scenario churn --conns 4)
    echo "| $1 | $pp | $(awk -v a="$pp" -v b="$direct_pp" 'BEGIN { printf "%.2fx", a / b }') | $churn | $(awk -v a="$churn" -v b="$direct_churn" 'BEGIN { printf "%.2fx", a / b }') |"
}
for backends in "$b1" "$b1 $b2"; do
    n=$(wc -w <<< "$backends")
    listen=$(free_port)
    # shellcheck disable=SC2086
    haproxy_cfg "$listen" $backends > "$dir/haproxy.cfg"
    haproxy -f "$dir/haproxy.cfg" -db > /dev/null 2>&1 & hp=$!; pids+=("$hp")
    until (exec 3<>"/dev/tcp/127.0.0.1/$listen") 2>/dev/null; do sleep 0.01; done
    row "HAProxy 2.6, $n backend(s), PROXY v2" "127.0.0.1:$listen"
    kill "$hp"; wait "$hp" 2>/dev/null || true
    listen=$(free_port)
    # shellcheck disable=SC2086
    nginx_cfg "$listen" $backends > "$dir/nginx.conf"
    nginx -p "$dir" -c "$dir/nginx.conf" -g "daemon off; pid $dir/nginx.pid; error_log stderr;" 2> /dev/null & ng=$!; pids+=("$ng")
    until (exec 3<>"/dev/tcp/127.0.0.1/$listen") 2>/dev/null; do sleep 0.01; done
    row "nginx 1.22 stream, $n backend(s), PROXY v1" "127.0.0.1:$listen"
    kill "$ng"; wait "$ng" 2>/dev/null || true
done
