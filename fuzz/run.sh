#!/usr/bin/env bash
# Coverage-guided fuzzing of one decoder with AFL++ and SharpFuzz.
#   fuzz/run.sh TARGET [MINUTES]      e.g. fuzz/run.sh kv-command 10
# Needs afl-fuzz (Debian: apt-get install afl++) and the sharpfuzz tool (installed here into
# .fuzz-tools). Targets: wal snap peer-hello peer-frames raftpb-entry raftpb-snapshot
# raftpb-confchange kv-command kv-snapshot grpc-requests gateway-json gateway-watch go-base64
# peer-url client-url cli-flags.
# Findings land in $OUT/default/crashes and hangs; replay one with `Raft.Fuzz TARGET < file`.
set -euo pipefail
target=${1:?usage: fuzz/run.sh TARGET [MINUTES]}
minutes=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${FUZZ_WORK:-/tmp/raft-fuzz-$target}
out=$work/out
tools=$root/.fuzz-tools
command -v afl-fuzz >/dev/null || { echo "afl-fuzz missing: apt-get install afl++" >&2; exit 2; }
[ -x "$tools/sharpfuzz" ] || dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools"
rm -rf "$work/bin" && mkdir -p "$work"
dotnet publish "$root/Tests/Fuzz/Fuzz.csproj" -c Release -o "$work/bin" --nologo -v q
# The seeds come from our encoders, run before instrumenting (instrumented code needs afl-fuzz around it).
rm -rf "$work/in" && "$work/bin/Raft.Fuzz" --seeds "$target" "$work/in"
# Instrument the assemblies that hold the decoders (not the fuzzer nor the framework).
for dll in Raft.Interop.dll Raft.Shell.dll Raft.Kv.dll raft.dll Google.Protobuf.dll; do
  [ -f "$work/bin/$dll" ] && "$tools/sharpfuzz" "$work/bin/$dll"
done
export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
timeout --preserve-status $((minutes * 60)) afl-fuzz -i "$work/in" -o "$out" -t 10000 -m none \
  -- "$work/bin/Raft.Fuzz" "$target" || true
stats=$out/default/fuzzer_stats
grep -E '^(execs_done|execs_per_sec|corpus_count|saved_crashes|saved_hangs|edges_found|total_edges|run_time) ' "$stats"
