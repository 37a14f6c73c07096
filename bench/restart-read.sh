#!/usr/bin/env bash
# Restart to the first linearizable read: one member of `raft serve` (and of etcd, the installed
# `etcd`, started the same way) is loaded with N keys (256-byte values, through the JSON gateway's
# txn in batches of 128 puts), SIGKILLed, started again on its data directory, and timed from the
# start of the process to the first 200 answer of a linearizable /v3/kv/range. Prints seconds, the
# data directory's size and the member's resident memory after the load and after the restart.
#
#   bench/restart-read.sh [--keys 100000] [--only raft|etcd] [--dir PARENT] [--host 127.0.22.1]
#                         [--port 23790] [--restarts 1] [--keep] [--before PATH-TO-RAFT]
#
# --before also restarts another build of `raft serve` (an older commit's) on raft's data directory,
# in each round beside this one (as "raft-before").
# --keep leaves the loaded data directories in PARENT (KIND.KEYS.data) and a later run with the same
# PARENT and --keys restarts from them without loading again.
set -euo pipefail
cd "$(dirname "$0")/.."
keys=100000
only=""
parent=""
host=127.0.22.1
port=23790
restarts=1
keep=""
before=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) keys=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --dir) parent=$2; shift 2 ;;
    --host) host=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --restarts) restarts=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --before) before=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$keep" ] && [ -z "$parent" ] && { echo "--keep needs --dir" >&2; exit 2; }
dotnet build Shell/Cli -c Release -v q -nologo >/dev/null
raft=$PWD/Shell/Cli/bin/Release/net10.0/raft
work=$(mktemp -d ${parent:+"$parent/"}restart-read.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start() { # KIND DATADIR
  local client=http://$host:$port peer=http://$host:$((port + 1))
  local flags=(--name m1 --data-dir "$2" --listen-client-urls "$client" --advertise-client-urls "$client"
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "m1=$peer" --snapshot-count 10000)
  if [ "$1" = raft ]; then "$raft" serve "${flags[@]}" --log-level error >"$work/$1.log" 2>&1 &
  elif [ "$1" = raft-before ]; then "$before" serve "${flags[@]}" --log-level error >"$work/$1.log" 2>&1 &
  else etcd "${flags[@]}" --log-level error --quota-backend-bytes 8589934592 >"$work/$1.log" 2>&1 & fi
  pid=$!
}

# Resident memory, and of it the process's own (anonymous) pages and the mapped files' pages (the
# database's pages the member has touched, which the kernel can drop).
rss() { awk '/VmRSS/ { t = $2 } /RssAnon/ { a = $2 } /RssFile/ { f = $2 }
  END { printf "%.0f MiB (anonymous %.0f, file %.0f)", t / 1024, a / 1024, f / 1024 }' "/proc/$pid/status"; }

# Seconds from now until a linearizable range answers 200.
first_read() {
  python3 - "$host" "$port" <<'PY'
import http.client, json, sys, time
host, port = sys.argv[1], int(sys.argv[2]); t0 = time.monotonic()
while True:
    try:
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("POST", "/v3/kv/range", json.dumps({"key": "a2V5MDAwMDAwMDA="}))
        r = c.getresponse(); r.read()
        if r.status == 200: break
    except OSError: pass
    time.sleep(0.005)
print(f"{time.monotonic() - t0:.3f}")
PY
}

load() {
  python3 - "$host" "$port" "$keys" <<'PY'
import base64, http.client, json, os, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = http.client.HTTPConnection(host, port, timeout=60)
value = base64.b64encode(os.urandom(256)).decode()  # a 256-byte value
b64 = lambda s: base64.b64encode(s.encode()).decode()
for start in range(0, n, 128):
    ops = [{"request_put": {"key": b64(f"key{i:08d}"), "value": value}} for i in range(start, min(n, start + 128))]
    c.request("POST", "/v3/kv/txn", json.dumps({"success": ops}))
    r = c.getresponse(); body = r.read()
    if r.status != 200: sys.exit(f"txn failed: {r.status} {body[:200]}")
PY
}

# CPU seconds the member has used (user and system), which the machine's other load disturbs less
# than the wall-clock time does.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$pid/stat"; }

kinds=()
for kind in raft etcd; do
  [ -n "$only" ] && [ "$only" != "$kind" ] && continue
  kinds+=("$kind")
  if [ -n "$keep" ]; then data=$parent/$kind.$keys.data; else data=$work/$kind.data; fi
  if [ ! -d "$data" ]; then
    start "$kind" "$data"
    first_read >/dev/null
    load
    echo "$kind: $keys keys loaded, resident memory $(rss)"
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  fi
done
[ -n "$before" ] && [ "${kinds[0]}" = raft ] && kinds=(raft raft-before "${kinds[@]:1}")
# The kinds alternate, so that a change in the machine's load touches all.
for round in $(seq "$restarts"); do
  for kind in "${kinds[@]}"; do
    dir_kind=${kind%-before}
    if [ -n "$keep" ]; then data=$parent/$dir_kind.$keys.data; else data=$work/$dir_kind.data; fi
    start "$kind" "$data"
    t=$(first_read)
    c=$(cpu)
    size=$(du -sh "$data" | cut -f1)
    echo "$kind: $keys keys, data dir $size, restart (SIGKILL) to first linearizable read: $t s ($c s of CPU), resident memory $(rss), load average $(cut -d' ' -f1 /proc/loadavg)"
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  done
done
