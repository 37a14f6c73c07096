# Sourced by the bench scripts. need COMMAND PACKAGE: COMMAND must be on PATH; as root with apt-get,
# PACKAGE (Debian's) is installed when it is missing. Exits with a message when it is still missing.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null || true
  fi
  command -v "$1" >/dev/null 2>&1 || { echo "$1 not found (apt-get install $2)" >&2; exit 1; }
}
