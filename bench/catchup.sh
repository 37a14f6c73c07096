#!/usr/bin/env bash
# A lagging follower's catch-up by snapshot: three members of `raft serve` (and of etcd, the installed
# `etcd`, started the same way) on NET.1-3 (--net, default 127.0.22); one follower is SIGKILLed, N keys (256-byte values,
# txns of --batch puts, so that the leader's log is compacted past the follower: etcd 3.4 keeps 5,000
# entries behind a snapshot) are written through the leader, and the follower is started again.
# Prints the seconds from that start until the follower's serializable read answers the leader's
# revision, the CPU seconds the follower used by then, and whether its log shows a received snapshot.
#
#   bench/catchup.sh [--keys 100000] [--batch 10] [--only raft|etcd] [--dir PARENT] [--port 23810] [--rounds 1]
#                 [--net 127.0.22]
set -euo pipefail
cd "$(dirname "$0")/.."
keys=100000
batch=10
only=""
parent=""
port=23810
rounds=1
net=127.0.22
while [ $# -gt 0 ]; do
  case "$1" in
    --keys) keys=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --dir) parent=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --net) net=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
export BENCH_NET=$net
dotnet build Shell/Cli -c Release -v q -nologo >/dev/null
raft=$PWD/Shell/Cli/bin/Release/net10.0/raft
work=$(mktemp -d ${parent:+"$parent/"}catchup.XXXXXX)
pids=("" "" "")
cleanup() { for p in "${pids[@]}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT

client() { echo "http://$net.$1:$port"; }
peer() { echo "http://$net.$1:$((port + 1))"; }

start() { # KIND MEMBER(1-3) CLUSTER-STATE
  local i=$2 cluster="m1=$(peer 1),m2=$(peer 2),m3=$(peer 3)"
  local flags=(--name "m$i" --data-dir "$work/$1.m$i" --listen-client-urls "$(client "$i")" --advertise-client-urls "$(client "$i")"
    --listen-peer-urls "$(peer "$i")" --initial-advertise-peer-urls "$(peer "$i")" --initial-cluster "$cluster"
    --initial-cluster-state "$3" --initial-cluster-token "catchup-$1" --snapshot-count 1000)
  if [ "$1" = raft ]; then "$raft" serve "${flags[@]}" --log-level info >>"$work/$1.m$i.log" 2>&1 &
  else etcd "${flags[@]}" --log-level info --quota-backend-bytes 8589934592 >>"$work/$1.m$i.log" 2>&1 & fi
  pids[$((i - 1))]=$!
}

# The member (1-3) that leads, by its /v3/maintenance/status.
leader() {
  python3 - "$port" <<'PY'
import http.client, json, os, sys, time
port = int(sys.argv[1]); deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    for i in (1, 2, 3):
        try:
            c = http.client.HTTPConnection(f"{os.environ['BENCH_NET']}.{i}", port, timeout=2)
            c.request("POST", "/v3/maintenance/status", "{}"); s = json.loads(c.getresponse().read())
            if s.get("leader") and s["leader"] == s["header"]["member_id"]: print(i); sys.exit(0)
        except (OSError, ValueError, KeyError): pass
    time.sleep(0.1)
sys.exit("no leader")
PY
}

load() { # LEADER
  python3 - "$1" "$port" "$keys" "$batch" <<'PY'
import base64, http.client, json, os, sys
i, port, n, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = http.client.HTTPConnection(f"{os.environ['BENCH_NET']}.{i}", port, timeout=60)
value = base64.b64encode(os.urandom(256)).decode()
b64 = lambda s: base64.b64encode(s.encode()).decode()
rev = 0
for start in range(0, n, batch):
    ops = [{"request_put": {"key": b64(f"key{k:08d}"), "value": value}} for k in range(start, min(n, start + batch))]
    c.request("POST", "/v3/kv/txn", json.dumps({"success": ops}))
    r = c.getresponse(); body = r.read()
    if r.status != 200: sys.exit(f"txn failed: {r.status} {body[:200]}")
    rev = int(json.loads(body)["header"]["revision"])
print(rev)
PY
}

# Seconds from now until member I's serializable read answers revision REV or later.
caught_up() { # I REV
  python3 - "$1" "$port" "$2" <<'PY'
import http.client, json, os, sys, time
i, port, rev = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]); t0 = time.monotonic()
body = json.dumps({"key": "a2V5MDAwMDAwMDA=", "serializable": True})
while True:
    try:
        c = http.client.HTTPConnection(f"{os.environ['BENCH_NET']}.{i}", port, timeout=5)
        c.request("POST", "/v3/kv/range", body); r = c.getresponse(); b = r.read()
        if r.status == 200 and int(json.loads(b)["header"]["revision"]) >= rev: break
    except (OSError, ValueError, KeyError): pass
    time.sleep(0.01)
print(f"{time.monotonic() - t0:.3f}")
PY
}

cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }

for round in $(seq "$rounds"); do
  for kind in raft etcd; do
    [ -n "$only" ] && [ "$only" != "$kind" ] && continue
    rm -rf "$work/$kind".m*
    for i in 1 2 3; do start "$kind" "$i" new; done
    l=$(leader)
    f=$(( l % 3 + 1 ))
    kill -9 "${pids[$((f - 1))]}"; wait "${pids[$((f - 1))]}" 2>/dev/null || true
    rev=$(load "$l")
    start "$kind" "$f" existing
    t=$(caught_up "$f" "$rev")
    c=$(cpu "${pids[$((f - 1))]}")
    snap=$(grep -ciE "applied incoming raft snapshot|applied snapshot|installed the checkpoint|applying snapshot" "$work/$kind.m$f.log" || true)
    echo "$kind: $keys keys in txns of $batch (revision $rev) while a follower was down; restart to serving the leader's revision: $t s ($c s of CPU), snapshot lines in its log: $snap, data dir $(du -sh "$work/$kind.m$f" | cut -f1), load average $(cut -d' ' -f1 /proc/loadavg)"
    for p in "${pids[@]}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null || true
    pids=("" "" "")
  done
done
