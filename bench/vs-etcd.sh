#!/usr/bin/env bash
# Puts per second against etcd (Debian's etcd-server, the installed `etcd`) and against our service
# (`raft serve`), started the same way: 1 and 3 members on 127.0.0.1, data directories side by side
# on the same disk, the same flags where both have them, fsync on. Both are driven by the same wrk
# script (bench/vs-etcd-put.lua: POST /v3/kv/put, random 16-byte keys, 256-byte values) aimed at the
# leader, at 1, 16 and 128 connections; the rows of the two alternate so a change in the machine's
# load hits both. Prints requests/s, p50 and p99 latency and the ratio ours/etcd per row.
#
#   bench/vs-etcd.sh [--duration 10] [--rounds 1] [--members "1 3"] [--connections "1 16 128"]
#                    [--snapshot-count 10000] [--dir PARENT]
#
# --snapshot-count goes to both (default: ours, 10,000; etcd's own default is 100,000).
# With --rounds N each row is measured N times (alternating) and the median round by requests/s is shown.
# Needs etcd, wrk and curl (with root and apt-get it installs wrk and etcd-server when missing) and
# builds Shell/Cli in Release.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10
rounds=1
sizes="1 3"
connections="1 16 128"
dir=""
warmup=5
snapshot_count=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --members) sizes=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --snapshot-count) snapshot_count=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

source bench/need.sh
need etcd etcd-server
need wrk wrk
need curl curl

dotnet build Shell/Cli -c Release -v q -nologo >/dev/null
raft=$PWD/Shell/Cli/bin/Release/net10.0/raft
script=$PWD/bench/vs-etcd-put.lua

# A fresh directory for this run, under --dir (on the disk to measure) or the temp directory.
parent=${dir:-${TMPDIR:-/tmp}}
mkdir -p "$parent"
dir=$(mktemp -d "$parent/vs-etcd.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'cleanup; rm -rf "$dir"' EXIT

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}

# The same flags for both where both have them.
common=(--heartbeat-interval 100 --election-timeout 1000 --snapshot-count "$snapshot_count" --log-level warn)

# start_cluster KIND N: starts N members of etcd or raft; sets CLIENTS to their client URLs.
start_cluster() {
  local kind=$1 n=$2 i cluster=""
  local token="vs-etcd-$kind-$n-$RANDOM"
  local -a cports=() pports=()
  for ((i = 1; i <= n; i++)); do
    cports+=("$(free_port)"); pports+=("$(free_port)")
    cluster+="${cluster:+,}$kind$i=http://127.0.0.1:${pports[i - 1]}"
  done
  CLIENTS=()
  for ((i = 1; i <= n; i++)); do
    local c="http://127.0.0.1:${cports[i - 1]}" p="http://127.0.0.1:${pports[i - 1]}"
    local -a args=(--name "$kind$i" --data-dir "$dir/$kind-$n-$i" --listen-client-urls "$c" --advertise-client-urls "$c"
      --listen-peer-urls "$p" --initial-advertise-peer-urls "$p" --initial-cluster "$cluster"
      --initial-cluster-token "$token" --initial-cluster-state new "${common[@]}")
    if [ "$kind" = etcd ]; then
      etcd --logger zap "${args[@]}" >"$dir/$kind-$n-$i.log" 2>&1 &
    else
      "$raft" serve "${args[@]}" >"$dir/$kind-$n-$i.log" 2>&1 &
    fi
    pids+=($!)
    CLIENTS+=("$c")
  done
  for c in "${CLIENTS[@]}"; do
    for ((i = 0; i < 300; i++)); do
      curl -sf -m 2 "$c/health" >/dev/null 2>&1 && break
      sleep 0.1
    done
    curl -sf -m 2 "$c/health" >/dev/null || { echo "$kind member at $c did not become healthy; log in $dir" >&2; tail -20 "$dir"/*.log >&2; exit 1; }
  done
}

# leader_of URL...: the client URL of the member that leads (from /v3/maintenance/status).
leader_of() {
  local c s
  for c in "$@"; do
    s=$(curl -s -m 2 -X POST "$c/v3/maintenance/status" -d '{}')
    local id leader
    id=$(sed -n 's/.*"member_id":"\([0-9]*\)".*/\1/p' <<<"$s")
    leader=$(sed -n 's/.*"leader":"\([0-9]*\)".*/\1/p' <<<"$s")
    if [ -n "$id" ] && [ "$id" = "$leader" ]; then echo "$c"; return; fi
  done
  echo "$1"
}

# measure URL CONNECTIONS SECONDS: prints "rps p50_us p99_us errors requests".
measure() {
  local threads=2
  [ "$2" -lt 2 ] && threads=1
  wrk -t"$threads" -c"$2" -d"${3}s" --latency -s "$script" "$1" 2>/dev/null | sed -n 's/^RESULT //p'
}

ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "etcd: $(etcd --version | head -1); ours: $(git rev-parse --short HEAD 2>/dev/null || echo '?'); data under $dir ($(df -T "$dir" | awk 'NR==2 { print $2 }'))"
echo "wrk: ${duration}s per row, $rounds round(s), 256-byte values, random keys, aimed at the leader; --snapshot-count $snapshot_count"
echo
printf '%-8s %-6s | %12s %10s %10s | %12s %10s %10s | %s\n' members conns "etcd req/s" p50 p99 "ours req/s" p50 p99 "ours/etcd"
for n in $sizes; do
  start_cluster etcd "$n"; etcd_urls=("${CLIENTS[@]}")
  start_cluster raft "$n"; raft_urls=("${CLIENTS[@]}")
  etcd_url=$(leader_of "${etcd_urls[@]}")
  raft_url=$(leader_of "${raft_urls[@]}")
  # Warm both up alike (our JIT, both stores' first allocations).
  measure "$etcd_url" 16 "$warmup" >/dev/null
  measure "$raft_url" 16 "$warmup" >/dev/null
  for c in $connections; do
    results_e=(); results_r=()
    for ((r = 0; r < rounds; r++)); do
      results_e+=("$(measure "$etcd_url" "$c" "$duration")")
      results_r+=("$(measure "$raft_url" "$c" "$duration")")
    done
    median() { printf '%s\n' "$@" | sort -n -k1,1 | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }
    read -r e_rps e_p50 e_p99 e_err _ <<<"$(median "${results_e[@]}")"
    read -r r_rps r_p50 r_p99 r_err _ <<<"$(median "${results_r[@]}")"
    ratio=$(awk -v a="$r_rps" -v b="$e_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-8s %-6s | %12.0f %10s %10s | %12.0f %10s %10s | %s%s\n' "$n" "$c" "$e_rps" "$(ms "$e_p50")" "$(ms "$e_p99")" \
      "$r_rps" "$(ms "$r_p50")" "$(ms "$r_p99")" "$ratio" \
      "$([ "$e_err$r_err" = 00 ] || echo "  (errors: etcd $e_err, ours $r_err)")"
  done
  cleanup
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
