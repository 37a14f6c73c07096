#!/usr/bin/env bash
# The chaos comparison profile (SIGKILL of the leader, SIGSTOP of the leader, the leader cut off by
# iptables; Tests/Shell.Tests/Chaos/ChaosComparisonTests) run by the same harness against etcd
# (Debian's etcd-server, the installed `etcd`) and against `raft serve`, with the same seeds: run i
# uses seed SEED+i for both, so both get the same schedule of faults and the same client choices.
# The two alternate (etcd first on even runs, ours first on odd ones) so a change in the machine's
# load hits both. Both run with heartbeat 100 ms, election 1000 ms, pre-vote on, snapshot count
# 10,000 (MemberFlavour.SharedFlags). Every history is checked for linearizability by our checker.
#
#   bench/chaos-vs-etcd.sh [--runs 3] [--seconds 60] [--seed N] [--results DIR]
#
# --seconds is RAFT_CHAOS_SECONDS (faults per run); a run takes that plus ~15 s. Prints, per system:
# runs passed, operations checked, acknowledged writes and how many were lost, faults per kind,
# election time after each leader fault (median and p99 over every fault of every run, nearest
# rank), the longest window without a successful write after each kind (median and max over runs).
# Each run's JSON (and the logs of a failing run) stay in the results directory.
# Needs root (iptables), etcd, jq; set RAFT_CHAOS_NET/RAFT_CHAOS_CHAIN to keep clear of other runs.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
seconds=60
seed=$((RANDOM * 32768 + RANDOM))
results=""
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --results) results=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

source bench/need.sh
need etcd etcd-server
need jq jq
need iptables iptables
[ "$(id -u)" = 0 ] || { echo "the partitions need iptables: run as root" >&2; exit 1; }

results=${results:-$PWD/TestResults/chaos-vs-etcd-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$results"
results=$(cd "$results" && pwd)
dotnet build Tests/Shell.Tests -c Release -v q -nologo >/dev/null

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A test=([etcd]=Etcd34UnderTheComparisonProfile [raft]=RaftServeUnderTheComparisonProfile)
declare -A passed=([etcd]=0 [raft]=0)

run_one() { # SYSTEM SEED
  local log="$results/$1-seed$2.log"
  if RAFT_TEST_SEED=$2 RAFT_CHAOS_SECONDS=$seconds RAFT_CHAOS_RUNS=1 RAFT_CHAOS_RESULTS=$results \
    dotnet test Tests/Shell.Tests -c Release --no-build --filter "FullyQualifiedName~ChaosComparisonTests.${test[$1]}" \
    --logger "console;verbosity=detailed" >"$log" 2>&1; then
    passed[$1]=$((passed[$1] + 1))
    echo "  $1 seed $2: passed"
  else
    echo "  $1 seed $2: FAILED (log: $log)"
  fi
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); load average at start: $load_start"
echo "etcd: $(etcd --version | head -1); ours: $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $runs run(s) each of ${seconds}s of faults, seeds $seed..$((seed + runs - 1)); results in $results"
for ((i = 0; i < runs; i++)); do
  s=$((seed + i))
  if ((i % 2 == 0)); then run_one etcd "$s"; run_one raft "$s"; else run_one raft "$s"; run_one etcd "$s"; fi
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# figures SYSTEM: one JSON object summarising every run's figures of SYSTEM (the files the test
# saves, Tests/Shell.Tests/Chaos/RunFigures.cs: compare-SYSTEM-SEED.json, one per run).
figures() {
  local files=("$results"/chaos-figures/compare-"$1"-*.json)
  [ -e "${files[0]}" ] || { echo '{}'; return; }
  jq -s '
    def pct(p): sort as $a | ($a | length) as $n | if $n == 0 then null else $a[([((p / 100 * $n) | ceil) - 1, 0] | max)] end;
    def median: sort as $a | ($a | length) as $n | if $n == 0 then null
      elif $n % 2 == 1 then $a[($n - 1) / 2] else ($a[$n / 2 - 1] + $a[$n / 2]) / 2 end;
    map(select(.runs == 1)) as $runs
    | ([$runs[] | .faults | keys[]] | unique) as $kinds
    | {
        runs: ($runs | length),
        ops: ([$runs[].operationsChecked] | add),
        unknown: ([$runs[].unknownOutcomes] | add),
        acked: ([$runs[].acknowledgedWrites] | add),
        lost: ([$runs[].acknowledgedWritesLost] | add),
        regressions: ([$runs[].revisionRegressions] | add),
        faults: ($kinds | map({key: ., value: ([$runs[].faults[.] // 0] | add)}) | from_entries),
        election: ($kinds | map(. as $k | {key: $k, value: ([$runs[].electionMs[$k].samples // [] | .[]]
                     | {n: length, median: median, p99: pct(99)})}) | from_entries),
        gap: ($kinds | map(. as $k | {key: $k, value: ([$runs[].longestWindowWithoutWriteMs[$k] // empty]
                     | {median: median, max: max})}) | from_entries)
      }' "${files[@]}"
}
e=$(figures etcd)
r=$(figures raft)

row() { printf '%-50s | %-22s | %-22s\n' "$1" "$2" "$3"; }
get() { jq -r "$2 // \"-\"" <<<"$1"; }
ms() { jq -r "($2) as \$v | if \$v == null then \"-\" else (\$v | round | tostring) end" <<<"$1"; }
echo
row "" "etcd $(etcd --version | sed -n 's/^etcd Version: //p' | head -1)" "raft serve $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
row "runs passed" "${passed[etcd]}/$runs" "${passed[raft]}/$runs"
row "operations checked (unknown outcome)" "$(get "$e" .ops) ($(get "$e" .unknown))" "$(get "$r" .ops) ($(get "$r" .unknown))"
row "acknowledged writes / lost" "$(get "$e" .acked) / $(get "$e" .lost)" "$(get "$r" .acked) / $(get "$r" .lost)"
row "revision regressions" "$(get "$e" .regressions)" "$(get "$r" .regressions)"
for k in KillLeader PauseLeader IsolateLeader; do
  row "$k: faults" "$(get "$e" ".faults.$k")" "$(get "$r" ".faults.$k")"
  row "$k: election ms, median / p99" "$(ms "$e" ".election.$k.median") / $(ms "$e" ".election.$k.p99")" \
    "$(ms "$r" ".election.$k.median") / $(ms "$r" ".election.$k.p99")"
  row "$k: longest write gap ms, median / max" "$(ms "$e" ".gap.$k.median") / $(ms "$e" ".gap.$k.max")" \
    "$(ms "$r" ".gap.$k.median") / $(ms "$r" ".gap.$k.max")"
done
echo
echo "load average at end: $load_end"
[ "${passed[etcd]}" = "$runs" ] && [ "${passed[raft]}" = "$runs" ]
