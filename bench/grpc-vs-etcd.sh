#!/usr/bin/env bash
# Throughput and latency through etcd's v3 gRPC API: etcd 3.4 (Debian's `etcd`) beside `raft serve`,
# in one run, driven by the same load generator: etcd's own `benchmark` tool (tools/benchmark of etcd
# v3.4.23, built outside this repository by bench/build-etcd-benchmark.sh; pass its path).
#
#   bench/grpc-vs-etcd.sh [--tool PATH] [--members "1 3"] [--clients "1 16 128"] [--scale 1]
#                         [--no-tls] [--no-watch] [--no-million] [--million-keys 1000000] [--dir PARENT]
#                         [--net 127.0.21]
#
# The tool's path also comes from $ETCD_BENCHMARK. Every member listens on loopback NET.x only (--net,
# default 127.0.21):
# etcd's members on 127.0.21.1-3, ours on 127.0.21.11-13, the TLS pair on 127.0.21.21 and .22, client
# port 2379 and peer port 2380 as etcd's defaults. Data directories are fresh under a new temp
# directory, removed at the end; every process started is SIGKILLed at the end.
#
# Prints, for 1 and 3 members, put (random keys of 16 bytes, 256-byte values), linearizable range and
# serializable range (one key, 256-byte value) at each client count: requests/s, p50 and p99 of both
# and ours/etcd, and the CPU time per request of the server (utime+stime from /proc/PID/stat of every
# member, summed) and of the tool (/usr/bin/time), for both. Under the table: the rate the tool's own
# CPU per request allows any server at the largest client count (cores / tool CPU per request), next
# to three times etcd's rate there. Then, on one member: the same rows over TLS beside plaintext (the cost of TLS); watch
# fan-out (1,000 watchers of one key on 10 streams, events per second delivered); and the resident
# memory and data directory size after a million puts of distinct keys with 256-byte values.
# Each client has its own gRPC connection (--conns = --clients), aimed at the leader (--target-leader).
# The rows of the two servers alternate, so a change in the machine's load hits both. Before the rows
# both servers get the same warm-up: every op at 1 and at 16 clients (.NET's tiered JIT keeps
# recompiling hot methods for a while; a put-only warm-up left a following 1-client round at twice its
# CPU per put); the watch fan-out's fresh members likewise get four runs of it before the measured one.
set -euo pipefail
cd "$(dirname "$0")/.."

tool=${ETCD_BENCHMARK:-}
sizes="1 3"
clients_list="1 16 128"
scale=1
tls=1
watch=1
million=1
million_keys=1000000
parent=${TMPDIR:-/tmp}
net=127.0.21
while [ $# -gt 0 ]; do
  case "$1" in
    --tool) tool=$2; shift 2 ;;
    --members) sizes=$2; shift 2 ;;
    --clients) clients_list=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --no-tls) tls=0; shift ;;
    --no-watch) watch=0; shift ;;
    --no-million) million=0; shift ;;
    --million-keys) million_keys=$2; shift 2 ;;
    --dir) parent=$2; shift 2 ;;
    --net) net=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

source bench/need.sh
need etcd etcd-server
need etcdctl etcd-client
need curl curl
need openssl openssl
need /usr/bin/time time

dotnet build Shell/Cli -c Release -v q -nologo >/dev/null
raft=$PWD/Shell/Cli/bin/Release/net10.0/raft
[ -n "$tool" ] && [ -x "$tool" ] ||
  { echo "give etcd's benchmark tool: --tool PATH or ETCD_BENCHMARK (build it with bench/build-etcd-benchmark.sh)" >&2; exit 2; }
tool_name="etcd's tools/benchmark v3.4.23 ($tool)"

mkdir -p "$parent"
dir=$(mktemp -d "$parent/grpc-vs-etcd.XXXXXX")
pids=()
declare -A MEMBERS_OF=()   # endpoint list -> its members' pids, for their CPU time
stop_all() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$dir"' EXIT

# The same flags for both where both have them.
common=(--heartbeat-interval 100 --election-timeout 1000 --snapshot-count 10000 --log-level warn)

# Certificates for the TLS rows: a CA and one server certificate for every address used.
make_certs() {
  local c=$dir/certs
  mkdir -p "$c"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$c/ca-key.pem" -out "$c/ca.pem" -subj "/CN=bench CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$c/server-key.pem" -out "$c/server.csr" -subj "/CN=server" 2>/dev/null
  printf 'subjectAltName=IP:%s.21,IP:%s.22\nextendedKeyUsage=serverAuth,clientAuth\n' "$net" "$net" >"$c/server.ext"
  openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca-key.pem" -CAcreateserial -days 2 \
    -extfile "$c/server.ext" -out "$c/server.pem" 2>/dev/null
}

# start_cluster KIND N FIRST_HOST SCHEME: N members of KIND (etcd or raft) on 127.0.21.FIRST_HOST...;
# sets ENDPOINTS (host:port list for the tool), CLIENT_URLS and MEMBER_PIDS.
start_cluster() {
  local kind=$1 n=$2 first=$3 scheme=$4 i cluster="" name
  local token="grpc-vs-etcd-$kind-$n-$scheme-$RANDOM"
  for ((i = 0; i < n; i++)); do
    cluster+="${cluster:+,}$kind$((first + i))=http://$net.$((first + i)):2380"
  done
  ENDPOINTS="" CLIENT_URLS=() MEMBER_PIDS=()
  for ((i = 0; i < n; i++)); do
    local host=$net.$((first + i))
    local c="$scheme://$host:2379" p="http://$host:2380"
    name=$kind$((first + i))
    local -a args=(--name "$name" --data-dir "$dir/$name.data" --listen-client-urls "$c" --advertise-client-urls "$c"
      --listen-peer-urls "$p" --initial-advertise-peer-urls "$p" --initial-cluster "$cluster"
      --initial-cluster-token "$token" --initial-cluster-state new "${common[@]}")
    [ "$scheme" = https ] && args+=(--cert-file "$dir/certs/server.pem" --key-file "$dir/certs/server-key.pem")
    if [ "$kind" = etcd ]; then
      etcd --logger zap "${args[@]}" >"$dir/$name.log" 2>&1 &
    else
      "$raft" serve "${args[@]}" >"$dir/$name.log" 2>&1 &
    fi
    pids+=($!); MEMBER_PIDS+=($!)
    CLIENT_URLS+=("$c")
    ENDPOINTS+="${ENDPOINTS:+,}$host:2379"
  done
  local u; local -a cacert=()
  [ "$scheme" = https ] && cacert=(--cacert "$dir/certs/ca.pem")
  for u in "${CLIENT_URLS[@]}"; do
    for ((i = 0; i < 300; i++)); do
      curl -sf -m 2 "${cacert[@]}" "$u/health" >/dev/null 2>&1 && break
      sleep 0.1
    done
    curl -sf -m 2 "${cacert[@]}" "$u/health" >/dev/null 2>&1 ||
      { echo "$kind member at $u did not become healthy; log:" >&2; tail -20 "$dir"/*.log >&2; exit 1; }
  done
  MEMBERS_OF[$ENDPOINTS]="${MEMBER_PIDS[*]}"
}

# cpu_ticks PID...: utime+stime of the processes, in clock ticks.
cpu_ticks() {
  local p t=0
  for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
  echo "$t"
}
hz=$(getconf CLK_TCK)

# The tool's TLS flags for an endpoint list (the TLS pair's addresses, 127.0.21.21 and .22).
tls_flags() { case "$1" in "$net".2[12]:*) echo "--cacert $dir/certs/ca.pem" ;; esac; }

# seed_range_key ENDPOINTS: a 256-byte value under the key the range rows read.
seed_range_key() {
  local -a flags=(--endpoints "http://${1%%,*}")
  case "$1" in "$net".2[12]:*) flags=(--endpoints "https://$1" --cacert "$dir/certs/ca.pem") ;; esac
  ETCDCTL_API=3 etcdctl "${flags[@]}" \
    put bench-range "$(head -c 256 /dev/zero | tr '\0' v)" >/dev/null
}

# run_tool ENDPOINTS OP CLIENTS [TOTAL]: prints "rps p50_ms p99_ms errors server_us tool_us", the
# last two CPU time per request (server: all members of ENDPOINTS; tool: its user+system time).
run_tool() {
  local eps=$1 op=$2 c=$3 total=${4:-}
  # Requests per row: a few seconds of each at the rates of this machine (2 shared cores).
  [ -n "$total" ] ||
    total=$(awk -v c="$c" -v s="$scale" 'BEGIN { t = c == 1 ? 3000 : c <= 16 ? 30000 : 80000; printf "%d", t * s < c ? c : t * s }')
  local -a args=(--endpoints "$eps" --target-leader --clients "$c" --conns "$c" --precise $(tls_flags "$eps"))
  case "$op" in
    put) args+=(put --total "$total" --key-size 16 --val-size 256 --key-space-size 100000) ;;
    range-l) args+=(range bench-range --total "$total" --consistency l) ;;
    range-s) args+=(range bench-range --total "$total" --consistency s) ;;
  esac
  local -a members; read -r -a members <<<"${MEMBERS_OF[$eps]}"
  local s0 s1
  s0=$(cpu_ticks "${members[@]}")
  /usr/bin/time -f "%U %S" -o "$dir/tool.time" "$tool" "${args[@]}" >"$dir/tool.out" 2>&1 || true
  s1=$(cpu_ticks "${members[@]}")
  echo "$(parse_report <"$dir/tool.out") $(awk -v a="$s0" -v b="$s1" -v hz="$hz" -v n="$total" \
    '{ u = $1; s = $2 } END { printf "%.1f %.1f", (b - a) / hz * 1e6 / n, (u + s) * 1e6 / n }' "$dir/tool.time")"
}

# parse_report: the tool's summary -> "rps p50_ms p99_ms errors".
parse_report() {
  awk '/Requests\/sec:/ { rps = $2 }
       /^ *50% in/ { p50 = $3 * 1000 } /^ *99% in/ { p99 = $3 * 1000 }
       /^Error distribution:/ { inerr = 1; next } inerr && /^ *\[[0-9]+\]/ { gsub(/[\[\]]/, "", $1); err += $1 }
       END { printf "%.0f %.2f %.2f %d\n", rps, p50, p99, err }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
row() { printf '%-7s %-8s %-7s | %9s %8s %8s %8s %8s | %9s %8s %8s %8s %8s | %s\n' "$@"; }

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); load average at start: $(load)"
echo "etcd: $(etcd --version | head -1); ours: $(git rev-parse --short HEAD 2>/dev/null || echo '?'); load generator: $tool_name"
echo "data under $dir ($(df -T "$dir" | awk 'NR==2 { print $2 }')); --snapshot-count 10000 for both; one gRPC connection per client"
echo "srv us, tool us: CPU time (user+system) per request of the server (all members) and of the tool"
echo
[ "$tls" = 1 ] && make_certs
declare -A tls_results=() bounds=()
max_clients=$(tr ' ' '\n' <<<"$clients_list" | sort -n | tail -1)
row members op clients "etcd req/s" "p50 ms" "p99 ms" "srv us" "tool us" "ours req/s" "p50 ms" "p99 ms" "srv us" "tool us" "ours/etcd"
for n in $sizes; do
  start_cluster etcd "$n" 1 http; etcd_eps=$ENDPOINTS
  start_cluster raft "$n" 11 http; raft_eps=$ENDPOINTS
  with_tls=0
  if [ "$tls" = 1 ] && [ "$n" = 1 ]; then
    start_cluster etcd 1 21 https; etcd_tls_eps=$ENDPOINTS
    start_cluster raft 1 22 https; raft_tls_eps=$ENDPOINTS
    with_tls=1
  fi
  for eps in $etcd_eps $raft_eps ${etcd_tls_eps:-} ${raft_tls_eps:-}; do seed_range_key "$eps"; done
  # Warm-up, the same for both: every op at 1 and 16 clients (our tiered JIT's recompilations and
  # both stores' first allocations), the servers alternating.
  for op in put range-l range-s; do
    for c in 1 16; do
      for eps in $etcd_eps $raft_eps ${etcd_tls_eps:-} ${raft_tls_eps:-}; do
        run_tool "$eps" "$op" "$c" $((c == 1 ? 2000 : 20000)) >/dev/null
      done
    done
  done
  for op in put range-l range-s; do
    for c in $clients_list; do
      read -r e_rps e_p50 e_p99 e_err e_srv e_tool <<<"$(run_tool "$etcd_eps" "$op" "$c")"
      read -r r_rps r_p50 r_p99 r_err r_srv r_tool <<<"$(run_tool "$raft_eps" "$op" "$c")"
      row "$n" "$op" "$c" "$e_rps" "$e_p50" "$e_p99" "$e_srv" "$e_tool" "$r_rps" "$r_p50" "$r_p99" "$r_srv" "$r_tool" \
        "$(ratio "$r_rps" "$e_rps")$([ "$e_err$r_err" = 00 ] || echo "  (errors: etcd $e_err, ours $r_err)")"
      [ "$c" = "$max_clients" ] && bounds[$n/$op]="$e_rps $e_srv $e_tool $r_tool"
      if [ "$with_tls" = 1 ]; then
        tls_results[$op/$c]="$e_rps $e_p99 $e_srv $r_rps $r_p99 $r_srv $(run_tool "$etcd_tls_eps" "$op" "$c") $(run_tool "$raft_tls_eps" "$op" "$c")"
      fi
    done
  done
  stop_all
  unset etcd_tls_eps raft_tls_eps
done
echo "load average: $(load)"
echo
# The tool and the server share the machine's cores: with the tool at T µs of CPU per request, no
# server can be driven past cores/T requests/s, even one that costs nothing; with etcd's own cost S
# beside it, cores/(T+S) is what etcd could reach with the cores to itself.
cores=$(nproc)
echo "What the tool's own CPU allows at $max_clients clients on $cores cores, beside 3x etcd's rate:"
printf '%-7s %-8s | %9s %9s | %10s %14s | %10s\n' members op "tool us" "etcd srv" "3x etcd" "cores/tool" "cores/(tool+etcd srv)"
for n in $sizes; do
  for op in put range-l range-s; do
    [ -n "${bounds[$n/$op]:-}" ] || continue
    read -r e_rps e_srv e_tool r_tool <<<"${bounds[$n/$op]}"
    printf '%-7s %-8s | %9s %9s | %10.0f %14s | %10s\n' "$n" "$op" "$e_tool" "$e_srv" "$(awk -v r="$e_rps" 'BEGIN { print 3 * r }')" \
      "$(awk -v c="$cores" -v t="$e_tool" 'BEGIN { if (t > 0) printf "%.0f", c * 1e6 / t; else print "-" }')" \
      "$(awk -v c="$cores" -v t="$e_tool" -v s="$e_srv" 'BEGIN { if (t + s > 0) printf "%.0f", c * 1e6 / (t + s); else print "-" }')"
  done
done
echo "(tool us: the tool's CPU per request in etcd's row; ours' row: see the table)"

if [ "$tls" = 1 ]; then
  echo
  echo "TLS on the client port (1 member; server certificate, ECDSA P-256; plaintext measured in the same turn):"
  echo "(srv us: server CPU per request, plaintext -> TLS)"
  printf '%-8s %-7s | %9s %9s %7s %8s %13s | %9s %9s %7s %8s %13s | %s\n' op clients "etcd" "etcd TLS" "cost" "TLS p99" "srv us" "ours" "ours TLS" "cost" "TLS p99" "srv us" "ours/etcd TLS"
  for op in put range-l range-s; do
    for c in $clients_list; do
      read -r e_rps e_p99 e_srv r_rps r_p99 r_srv et_rps et_p50 et_p99 et_err et_srv et_tool rt_rps rt_p50 rt_p99 rt_err rt_srv rt_tool <<<"${tls_results[$op/$c]}"
      cost() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.0f%%", (1 - b / a) * 100; else print "-" }'; }
      printf '%-8s %-7s | %9s %9s %7s %8s %13s | %9s %9s %7s %8s %13s | %s\n' "$op" "$c" "$e_rps" "$et_rps" "$(cost "$e_rps" "$et_rps")" "$et_p99" "$e_srv -> $et_srv" \
        "$r_rps" "$rt_rps" "$(cost "$r_rps" "$rt_rps")" "$rt_p99" "$r_srv -> $rt_srv" "$(ratio "$rt_rps" "$et_rps")$([ "$et_err$rt_err" = 00 ] || echo "  (errors: etcd $et_err, ours $rt_err)")"
    done
  done
  echo "load average: $(load)"
fi

if [ "$watch" = 1 ]; then
  echo
  echo "Watch fan-out (1 member): 1,000 watchers of one key (10 streams of 100, 10 connections); 500 puts of it"
  echo "from 10 clients, 500,000 events to deliver:"
  printf '%-6s | %12s %9s %9s %9s\n' server "events/s" "p50 ms" "p99 ms" "srv us"
  start_cluster etcd 1 1 http; etcd_eps=$ENDPOINTS
  start_cluster raft 1 11 http; raft_eps=$ENDPOINTS
  # fan_out ENDPOINTS: one run of the tool's watch fan-out; prints its summary of events received.
  fan_out() {
    "$tool" --endpoints "$1" --clients 10 --conns 10 --precise watch --streams 10 \
      --watch-per-stream 100 --watched-key-total 1 --put-total 500 --put-rate 100000 2>&1 |
      sed -n '/^Watch events received summary/,$p'
  }
  # Warm-up, the same for both, the servers alternating: four runs of the fan-out. A fresh member of
  # ours compiled 1,100 to 3,100 methods in each of its first five runs and tens to hundreds after.
  for ((i = 0; i < 4; i++)); do
    for eps in $etcd_eps $raft_eps; do fan_out "$eps" >/dev/null; done
  done
  for k in etcd raft; do
    [ $k = etcd ] && eps=$etcd_eps || eps=$raft_eps
    s0=$(cpu_ticks ${MEMBERS_OF[$eps]})
    read -r w_rps w_p50 w_p99 w_err <<<"$(fan_out "$eps" | parse_report)"
    s1=$(cpu_ticks ${MEMBERS_OF[$eps]})
    printf '%-6s | %12s %9s %9s %9s\n' "$([ $k = etcd ] && echo etcd || echo ours)" "$w_rps" "$w_p50" "$w_p99" \
      "$(awk -v a="$s0" -v b="$s1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz * 1e6 / 500000 }')"
    [ $k = etcd ] && w_etcd=$w_rps
  done
  echo "ours/etcd: $(ratio "$w_rps" "$w_etcd")"
  stop_all
  echo "(p50/p99: from a watch response's arrival to each of its events taken by the tool, not end to end;"
  echo " srv us: the server's CPU time per delivered event)"
  echo "load average: $(load)"
fi

if [ "$million" = 1 ]; then
  echo
  echo "$million_keys puts of distinct keys (16 bytes) with 256-byte values, 1 member, 128 clients:"
  printf '%-6s | %10s | %10s %10s | %s\n' server "puts/s" "RSS MiB" "disk MiB" "RSS bytes/key"
  start_cluster etcd 1 1 http; etcd_eps=$ENDPOINTS; etcd_pid=${MEMBER_PIDS[0]}
  start_cluster raft 1 11 http; raft_eps=$ENDPOINTS; raft_pid=${MEMBER_PIDS[0]}
  for k in etcd raft; do
    if [ $k = etcd ]; then eps=$etcd_eps pid=$etcd_pid data=$dir/etcd1.data; else eps=$raft_eps pid=$raft_pid data=$dir/raft11.data; fi
    read -r m_rps _ _ m_err <<<"$("$tool" --endpoints "$eps" --clients 128 --conns 128 --precise put --total "$million_keys" \
      --key-size 16 --val-size 256 --key-space-size "$million_keys" --sequential-keys 2>&1 | parse_report)"
    sleep 2
    rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    disk_b=$(du -sb "$data" | cut -f1)
    printf '%-6s | %10s | %10.0f %10.0f | %.0f%s\n' "$([ $k = etcd ] && echo etcd || echo ours)" "$m_rps" \
      "$(awk -v k="$rss_kb" 'BEGIN { print k / 1024 }')" "$(awk -v b="$disk_b" 'BEGIN { print b / 1048576 }')" \
      "$(awk -v k="$rss_kb" -v n="$million_keys" 'BEGIN { print k * 1024 / n }')" \
      "$([ "$m_err" = 0 ] || echo "  (errors: $m_err)")"
  done
  stop_all
  echo "load average at end: $(load)"
fi
