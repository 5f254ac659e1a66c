#!/usr/bin/env bash
# Start a one-node SLURM cluster on 127.0.0.1 for tests/test_slurm.py (and .ci/run).
#
#   tests/slurm/start_slurm.sh          # idempotent: does nothing if the node is already up
#   source <(tests/slurm/start_slurm.sh --print-env)   # SLURM_CONF for this shell
#   tests/slurm/stop_slurm.sh
#
# Needs root and the Debian packages slurm-wlm + munge (apt-get install slurm-wlm munge).
# Everything the cluster writes (state, spool, logs, the job-completion log) lives under
# $VITCONCEPTS_SLURM_DIR (default /tmp/vitconcepts-slurm). The config is written there and
# linked to /etc/slurm/slurm.conf when that file is absent (or is our own link), so plain
# `sinfo`/`sbatch` work without SLURM_CONF; otherwise export SLURM_CONF=$DIR/slurm.conf.
#
# Design choices (see docs/cluster.md):
#  * No slurmdbd: accounting_storage/none. `sacct` then has no data, so the snakemake slurm
#    plugin must query job status with `squeue` (--slurm-status-command squeue, as the
#    tests do). That is reliable only while finished jobs stay in slurmctld's memory, hence
#    MinJobAge=3600 (the plugin itself checks MinJobAge before trusting squeue).
#  * jobcomp/filetxt writes one line per finished job (JobId, JobName, State, ...) to
#    $DIR/jobcomp.log: the evidence that jobs went through sbatch.
#  * proctrack/linuxproc + task/none: no cgroups needed (works in containers/gVisor).
set -euo pipefail

DIR="${VITCONCEPTS_SLURM_DIR:-/tmp/vitconcepts-slurm}"
CONF="$DIR/slurm.conf"
ETC_CONF=/etc/slurm/slurm.conf

if [[ "${1:-}" == "--print-env" ]]; then
    echo "export SLURM_CONF=$CONF"
    exit 0
fi

log() { echo "start_slurm: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (slurmd needs it)"
missing=()
for b in munged slurmctld slurmd sinfo scontrol sbatch squeue; do
    command -v "$b" >/dev/null || missing+=("$b")
done
if ((${#missing[@]})); then
    # a fresh machine (CI) has no SLURM: install Debian's packages
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install slurm-wlm and munge"
    log "missing ${missing[*]}: apt-get install slurm-wlm munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >&2
fi

mkdir -p "$DIR"/{state,spool,log,run}
chmod 755 "$DIR"

# ---------------------------------------------------------------- munge
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        mkdir -p /etc/munge
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    fi
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
    chmod 755 /run/munge
    log "starting munged"
    if id munge >/dev/null 2>&1; then
        runuser -u munge -- munged --force || munged --force
    else
        munged --force
    fi
    for _ in $(seq 1 50); do munge_ok && break; sleep 0.2; done
    munge_ok || die "munged did not come up (see /var/log/munge/munged.log)"
fi

# ---------------------------------------------------------------- slurm.conf
HOST=$(hostname -s)
CPUS=$(nproc)
TOTAL_MB=$(free -m | awk '/^Mem:/ {print $2}')
# leave room for the OS, slurmctld/slurmd and the submitting snakemake
MARGIN_MB=$(( TOTAL_MB / 10 > 1024 ? TOTAL_MB / 10 : 1024 ))
REAL_MB=$(( TOTAL_MB - MARGIN_MB ))

NEW_CONF=$(cat <<EOF
# written by tests/slurm/start_slurm.sh (vitconcepts test cluster) -- do not edit
ClusterName=vitconcepts
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
ReturnToService=2
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmdSpoolDir=$DIR/spool
StateSaveLocation=$DIR/state
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
# keep finished jobs visible to squeue (the plugin's status command without slurmdbd)
MinJobAge=3600
InactiveLimit=0
KillWait=10
Waittime=0
# no database: accounting off, one line per finished job in a text file as evidence
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
NodeName=localhost NodeHostname=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MB State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
)

running() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

node_state() { sinfo -h -N -n localhost -o '%T' 2>/dev/null | head -1 || true; }

export SLURM_CONF="$CONF"

if [[ -f "$CONF" ]] && [[ "$(cat "$CONF")" == "$NEW_CONF" ]] \
    && running "$DIR/run/slurmctld.pid" && running "$DIR/run/slurmd.pid"; then
    state=$(node_state)
    if [[ "$state" == idle* || "$state" == mixed* || "$state" == allocated* ]]; then
        log "already running (node localhost: $state, conf $CONF)"
        exit 0
    fi
fi

# config changed or a daemon is missing: (re)start both
for d in slurmd slurmctld; do
    if running "$DIR/run/$d.pid"; then
        log "stopping stale $d"
        kill "$(cat "$DIR/run/$d.pid")" || true
        for _ in $(seq 1 50); do running "$DIR/run/$d.pid" || break; sleep 0.2; done
    fi
done
printf '%s\n' "$NEW_CONF" > "$CONF"
touch "$DIR/jobcomp.log"

if [[ ! -e $ETC_CONF ]] || [[ -L $ETC_CONF && "$(readlink "$ETC_CONF")" == "$CONF" ]]; then
    mkdir -p /etc/slurm
    ln -sfn "$CONF" "$ETC_CONF"
elif [[ "$(readlink -f "$ETC_CONF")" != "$CONF" ]]; then
    log "NOTE: $ETC_CONF exists and is not ours; export SLURM_CONF=$CONF to use this cluster"
fi

log "starting slurmctld"
slurmctld -f "$CONF"
for _ in $(seq 1 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
scontrol ping | grep -q UP || die "slurmctld not responding (see $DIR/log/slurmctld.log)"

log "starting slurmd"
slurmd -f "$CONF" -N localhost

for _ in $(seq 1 150); do
    state=$(node_state)
    case "$state" in
        idle*|mixed*|allocated*) break ;;
        down*|drain*|fail*) scontrol update NodeName=localhost State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.2
done
state=$(node_state)
[[ "$state" == idle* || "$state" == mixed* || "$state" == allocated* ]] \
    || die "node localhost is '$state', not idle (see $DIR/log/slurmd.log, $DIR/log/slurmctld.log)"
log "up: node localhost $state, CPUs=$CPUS RealMemory=${REAL_MB}MB, partition debug; conf $CONF"
