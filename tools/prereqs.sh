#!/usr/bin/env bash
# What `make test` needs that pip cannot install: checked at once, each missing piece named with the
# exact command that provides it (`.ci/run` installs them on a fresh Debian/Ubuntu machine).
set -uo pipefail

missing=()
apt=()
command -v git >/dev/null || apt+=(git)
command -v node >/dev/null || apt+=(nodejs)
command -v npm >/dev/null || apt+=(npm)      # `make agents` installs the real agent CLIs the tests run
[ -x /usr/bin/chromium ] || apt+=(chromium)  # the dashboard's browser tests drive Debian's Chromium
command -v bwrap >/dev/null || apt+=(bubblewrap)  # Codex's default sandbox runs its tools through it
if ((${#apt[@]})); then
    missing+=("system packages: sudo apt-get install -y ${apt[*]}   (or run .ci/run, which installs them)")
fi

pg="${QUARTERDECK_TEST_POSTGRES:-postgresql://postgres@127.0.0.1:5432/test}"
if ! python3 - "$pg" <<'PY' 2>/dev/null; then
import socket, sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=2).close()
PY
    missing+=("PostgreSQL at $pg (trust auth, database \`test\`): start it, or point QUARTERDECK_TEST_POSTGRES at one")
fi
if ! python3 -c 'import socket; socket.create_connection(("127.0.0.1", 6379), timeout=2).close()' 2>/dev/null; then
    missing+=("Redis at 127.0.0.1:6379: start it (e.g. sudo apt-get install -y redis-server && sudo service redis-server start)")
fi

if ((${#missing[@]})); then
    echo "make test cannot run yet; missing:" >&2
    for m in "${missing[@]}"; do echo "  - $m" >&2; done
    exit 1
fi
