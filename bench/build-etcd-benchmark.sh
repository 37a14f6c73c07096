#!/usr/bin/env bash
# Builds etcd's load generator (tools/benchmark of etcd v3.4.23) outside this repository, offline,
# with Debian's Go and the etcd 3.4.23 source and dependencies of Debian's golang-etcd-server-dev, in
# GOPATH mode. etcd's own source is not part of this repository: give a git directory of etcd's
# repository (a clone; it needs the tag v3.4.23), from which tools/benchmark and pkg/report are taken.
#
#   bench/build-etcd-benchmark.sh ETCD_GIT_DIR [OUT_DIR]      # OUT_DIR defaults to ../tools
#
# Prints the path of the built tool (OUT_DIR/benchmark); pass it to bench/grpc-vs-etcd.sh --tool.
set -euo pipefail
src=${1:?usage: $0 ETCD_GIT_DIR [OUT_DIR]}
out=$(mkdir -p "${2:-$(dirname "$0")/../../tools}" && cd "${2:-$(dirname "$0")/../../tools}" && pwd)

source "$(dirname "$0")/need.sh"
need go golang-go
if [ ! -d /usr/share/gocode/src/go.etcd.io/etcd/clientv3 ]; then
  [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-etcd-server-dev >/dev/null
  [ -d /usr/share/gocode/src/go.etcd.io/etcd/clientv3 ] || { echo "etcd's Go source missing (apt-get install golang-etcd-server-dev)" >&2; exit 1; }
fi

gopath=$out/gopath
mkdir -p "$gopath/src/go.etcd.io/etcd"
git --git-dir="$src" archive v3.4.23 tools/benchmark pkg/report | tar -x -C "$gopath/src/go.etcd.io/etcd"
# The first GOPATH entry holds only the two folders; everything else comes from Debian's tree.
GOPATH=$gopath:/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE=$out/gocache \
  go build -o "$out/benchmark" go.etcd.io/etcd/tools/benchmark
echo "$out/benchmark"
