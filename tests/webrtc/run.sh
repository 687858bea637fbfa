#!/usr/bin/env bash
# Runs tests/webrtc/test.js inside a new network namespace that has only lo
# (unshare -n, ip link set lo up): ICE, DTLS and signalling stay on
# 127.0.0.1 and nothing reaches another interface.
# Usage: run.sh RMEDIA SOURCE_DIR WORK_DIR [SCRIPT [ARGS...]]
# (SCRIPT defaults to test.js; scripts/bench runs bench/webrtc/bench.js so;
# a .py SCRIPT runs with /usr/bin/python3, e.g. whip_client.py.)
set -euo pipefail
rmedia=$1 src=$2 work=$3
here=$(cd "$(dirname "$0")" && pwd)
script=${4:-$here/test.js}
shift $(($# < 4 ? $# : 4))
if [[ ! -d $here/node_modules/playwright-core ]]; then
  echo "tests/webrtc: playwright-core is not installed (scripts/bootstrap runs npm ci there)" >&2
  exit 1
fi
if ! unshare -n true 2>/tmp/rm-webrtc-unshare.$$; then
  echo "tests/webrtc: cannot create a network namespace (unshare -n): $(cat /tmp/rm-webrtc-unshare.$$)" >&2
  echo "tests/webrtc: the WebRTC tests need one (run as root, or allow unprivileged user namespaces)" >&2
  rm -f /tmp/rm-webrtc-unshare.$$
  exit 1
fi
rm -f /tmp/rm-webrtc-unshare.$$
# GLib's quark table: see lsan.supp
export LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
rm -rf "$work"
mkdir -p "$work"
case $script in *.py) runner=/usr/bin/python3 ;; *) runner=node ;; esac
exec unshare -n bash -c 'ip link set lo up && exec "$0" "$@"' "$runner" "$script" "$rmedia" "$src" "$work" "$@"
