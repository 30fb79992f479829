#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine (Debian slurm-wlm + munge), for tests and demos.
#
#   scripts/slurm/start.sh [STATE_DIR]     (default /tmp/bgsub-slurm; needs root)
#
# Exit status 0: the node is idle and `sbatch` works. Exit status 77: the cluster cannot be started here
# (not root, packages missing and BGSUB_SLURM_INSTALL != 1, no apt-get, an existing Slurm configuration);
# the reason is the last line on stderr. Anything else: a real failure. Stop it with scripts/slurm/stop.sh.
# With BGSUB_SLURM_INSTALL=1 missing packages are installed with apt-get (about 30 s on a fresh Debian 12).
# What this script starts is recorded in STATE_DIR/started, so stop.sh ends only those daemons.
set -euo pipefail
STATE=${1:-/tmp/bgsub-slurm}
CONF=/etc/slurm/slurm.conf
skip() { echo "slurm cluster not started: $*" >&2; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (it starts munged, slurmctld and slurmd)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    [ "${BGSUB_SLURM_INSTALL:-0}" = 1 ] || skip "slurm-wlm/munge not installed (set BGSUB_SLURM_INSTALL=1 to apt-get them)"
    command -v apt-get >/dev/null || skip "slurm-wlm/munge not installed and no apt-get"
    echo "installing slurm-wlm and munge with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q && apt-get install -y -q --no-install-recommends slurm-wlm munge; } >"${TMPDIR:-/tmp}/bgsub-slurm-apt.log" 2>&1 \
        || skip "apt-get install slurm-wlm munge failed (see ${TMPDIR:-/tmp}/bgsub-slurm-apt.log)"
fi
if [ -e "$CONF" ] && [ "$(readlink "$CONF" || true)" != "$STATE/slurm.conf" ]; then
    skip "$CONF exists and is not ours; not touching an existing Slurm installation"
fi

mkdir -p "$STATE"/{spool,state,log}
: >"$STATE/started"
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# munge: a key, the right owners, the daemon (reused when already running)
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
if ! alive /run/munge/munged.pid; then
    runuser -u munge -- munged || skip "munged does not start"
    echo munged /run/munge/munged.pid >>"$STATE/started"
fi
munge -n | unmunge | grep -q "STATUS: *Success" || skip "munge -n | unmunge fails"

# slurm.conf: one node with this machine's cores and 90 % of its memory, one partition `main`
host=$(hostname -s)
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
cat >"$STATE/slurm.conf" <<CONFEOF
ClusterName=bgsub
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MinJobAge=300
NodeName=$host CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONFEOF
mkdir -p /etc/slurm
ln -sfn "$STATE/slurm.conf" "$CONF"
echo conf "$CONF" >>"$STATE/started"

slurmctld || skip "slurmctld does not start (see $STATE/log/slurmctld.log)"
echo slurmctld "$STATE/slurmctld.pid" >>"$STATE/started"
slurmd || skip "slurmd does not start (see $STATE/log/slurmd.log)"
echo slurmd "$STATE/slurmd.pid" >>"$STATE/started"

for _ in $(seq 60); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case "$state" in
        idle|mixed|allocated) echo "slurm cluster up: node $host ($(nproc) CPUs, ${mem_mb} MB), partition main, state in $STATE" >&2; exit 0 ;;
        down*|drain*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
done
echo "slurm node $host did not become idle (state: ${state:-none}); see $STATE/log" >&2
exit 1
