#!/usr/bin/env bash
# Stop the one-node test SLURM started by tests/slurm/start_slurm.sh (idempotent).
#   tests/slurm/stop_slurm.sh           # stop slurmd + slurmctld, keep logs/state
#   tests/slurm/stop_slurm.sh --purge   # also remove $VITCONCEPTS_SLURM_DIR and our /etc link
# munged is left running (other software may use it); it is harmless.
set -euo pipefail

DIR="${VITCONCEPTS_SLURM_DIR:-/tmp/vitconcepts-slurm}"
CONF="$DIR/slurm.conf"

stop() {
    local pidfile="$DIR/run/$1.pid"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        local pid
        pid=$(cat "$pidfile")
        echo "stop_slurm: stopping $1 (pid $pid)" >&2
        kill "$pid" || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" || true; fi
    fi
    rm -f "$pidfile"
}

# cancel our jobs first so slurmstepd processes do not linger
if [[ -f "$CONF" ]] && command -v scancel >/dev/null; then
    SLURM_CONF="$CONF" scancel --full --partition=debug 2>/dev/null || true
fi
stop slurmd
stop slurmctld

if [[ "${1:-}" == "--purge" ]]; then
    if [[ -L /etc/slurm/slurm.conf && "$(readlink /etc/slurm/slurm.conf)" == "$CONF" ]]; then
        rm -f /etc/slurm/slurm.conf
    fi
    rm -rf "$DIR"
fi
