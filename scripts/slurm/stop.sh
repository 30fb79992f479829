#!/usr/bin/env bash
# Stop what scripts/slurm/start.sh started (recorded in STATE_DIR/started), by pid file, newest first.
#   scripts/slurm/stop.sh [STATE_DIR]     (default /tmp/bgsub-slurm)
set -uo pipefail
STATE=${1:-/tmp/bgsub-slurm}
[ -f "$STATE/started" ] || exit 0
tac "$STATE/started" | while read -r what path; do
    if [ "$what" = conf ]; then
        [ "$(readlink "$path" || true)" = "$STATE/slurm.conf" ] && rm -f "$path"
        continue
    fi
    [ -s "$path" ] || continue
    pid=$(cat "$path")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    echo "stopped $what (pid $pid)" >&2
done
rm -f "$STATE/started"
