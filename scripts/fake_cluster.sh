#!/usr/bin/env bash
# A cluster of N hosts on one Linux machine, for testing multi-node launches without a cluster.
#
#   scripts/fake_cluster.sh up N            # bring up N hosts; prints the node file's path
#   scripts/fake_cluster.sh down            # tear everything down (safe to repeat)
#   scripts/fake_cluster.sh exec HOST CMD   # run CMD on HOST, keeping this environment
#   scripts/fake_cluster.sh ssh [OPTS] HOST CMD  # what `ssh HOST CMD` would do (a login env)
#   scripts/fake_cluster.sh throttle HOST PERCENT|off   # cap HOST's CPU time (a slow node)
#   scripts/fake_cluster_ssh ...            # the ssh stand-in for MPICH's Hydra (= ssh above)
#
# Each host NAME-hI is a network namespace with its own address 10.77.0.I/24 on eth0, joined
# to the others by a bridge that has no address, so hosts reach each other and nothing else
# (no route leaves the namespaces, and the machine's own network cannot reach them). Every
# process started on a host also gets
#   - the host name NAME-hI (its own UTS namespace), so socket.gethostname() names the host;
#   - /etc/hosts listing every host (`ip netns exec` binds /etc/netns/NS/hosts over it);
#   - node-local storage: STATE/node-local is that host's own STATE/disks/NAME-hI, as a
#     compute node's local SSD is the same path with different contents on every node;
#   - a CPU cgroup (where cgroup v1's cpu controller is writable), for `throttle`; it is
#     bound at STATE/cgroup so that a process on one host (mpiexec) can start processes in
#     another host's cgroup (`ip netns exec` hides /sys/fs/cgroup).
# The file system is otherwise shared, as a parallel file system is on a real cluster.
#
# The node file (PBS style, one host per line) is STATE/nodefile, with STATE =
# ${FAKE_CLUSTER_STATE:-/tmp/fake-cluster}/NAME and NAME = ${FAKE_CLUSTER_NAME:-agpt}; several
# clusters with different names coexist. MPICH's Hydra launches its proxies on the hosts with
#   HYDRA_LAUNCHER=ssh HYDRA_LAUNCHER_EXEC=scripts/fake_cluster_ssh
# from a process on the first host (as a PBS job script runs on the job's first node):
#   scripts/fake_cluster.sh exec agpt-h1 auroragpt launch --machine mpich -- CMD
#
# Needs root, `ip` (iproute2) and `unshare` (util-linux); exits 77 with the reason when the
# machine cannot do this. A failed `up` tears down what it built.
set -Eeuo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
NAME=${FAKE_CLUSTER_NAME:-agpt}
STATE_ROOT=${FAKE_CLUSTER_STATE:-/tmp/fake-cluster}
SUBNET=10.77.0  # private; used only inside the cluster's own namespaces
CGROUP_ROOT=/sys/fs/cgroup/cpu
CGROUP_PERIOD_US=100000
EX_UNSUPPORTED=77

die() { echo "fake_cluster.sh: $*" >&2; exit 1; }
unsupported() { echo "fake_cluster.sh: $*" >&2; exit "$EX_UNSUPPORTED"; }

check_name() {
    # Interface names are limited to 15 characters: NAME-h999-v must fit.
    [[ $1 =~ ^[a-z][a-z0-9]{0,5}$ ]] ||
        die "cluster name '$1': expected a lower-case letter then up to 5 letters or digits"
}

state_dir() { echo "$STATE_ROOT/$1"; }
cgroup_dir() { echo "$CGROUP_ROOT/fake-cluster-$1"; }

# Namespaces of cluster $1 that exist now (from `ip`, so `down` works without the state dir).
cluster_hosts() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$1-h[0-9]+\$" || true
}

preflight() {
    [[ $(id -u) == 0 ]] || unsupported "needs root (network namespaces, a bridge, veth pairs)"
    command -v ip >/dev/null || unsupported "needs 'ip' (iproute2)"
    command -v unshare >/dev/null || unsupported "needs 'unshare' (util-linux)"
    unshare --net --uts true 2>/dev/null ||
        unsupported "cannot create network/UTS namespaces here (needs CAP_SYS_ADMIN)"
}

cmd_up() {
    local count=${1:-}
    [[ $count =~ ^[1-9][0-9]{0,2}$ && $count -le 200 ]] ||
        die "up: expected a host count from 1 to 200, got '${count}'"
    preflight
    local state bridge
    state=$(state_dir "$NAME")
    bridge=$NAME-br
    if [[ -e $state || -n $(cluster_hosts "$NAME") ]] || ip link show "$bridge" &>/dev/null; then
        die "cluster '$NAME' is already up (state in $state): run 'fake_cluster.sh down' first," \
            "or set FAKE_CLUSTER_NAME to start another"
    fi
    # From here on, any failure (or interruption) tears down whatever was built.
    trap 'status=$?; trap - ERR INT TERM; echo "fake_cluster.sh: up failed (status $status)" \
          "at line $LINENO: $BASH_COMMAND; tearing down" >&2; teardown "$NAME"; exit 1' ERR
    trap 'trap - ERR INT TERM; teardown "$NAME"; exit 130' INT TERM
    mkdir -p "$state/disks" "$state/node-local"

    ip link add "$bridge" type bridge
    disable_ipv6 "$bridge"
    ip link set "$bridge" up

    local hosts=() i host
    for ((i = 1; i <= count; i++)); do
        hosts+=("$NAME-h$i")
    done
    local hosts_file="$state/hosts"
    {
        echo "127.0.0.1 localhost"
        for ((i = 1; i <= count; i++)); do echo "$SUBNET.$i ${hosts[i - 1]}"; done
    } >"$hosts_file"
    for ((i = 1; i <= count; i++)); do
        host=${hosts[i - 1]}
        ip netns add "$host"
        ip link add "$host-v" type veth peer name eth0 netns "$host"
        disable_ipv6 "$host-v"
        ip link set "$host-v" master "$bridge" up
        ip -n "$host" link set lo up
        ip -n "$host" addr add "$SUBNET.$i/24" dev eth0
        ip -n "$host" link set eth0 up
        mkdir -p "/etc/netns/$host" "$state/disks/$host"
        cp "$hosts_file" "/etc/netns/$host/hosts"
        : >"/etc/netns/$host/resolv.conf"  # no name servers: nothing to ask outside
        if [[ -w $CGROUP_ROOT ]]; then
            mkdir -p "$(cgroup_dir "$NAME")/$host"
        fi
    done
    if [[ -d $(cgroup_dir "$NAME") ]]; then
        mkdir -p "$state/cgroup"
        mount --bind "$(cgroup_dir "$NAME")" "$state/cgroup"
    fi
    printf '%s\n' "${hosts[@]}" >"$state/nodefile.tmp"
    mv "$state/nodefile.tmp" "$state/nodefile"
    trap - ERR INT TERM
    echo "fake_cluster.sh: $count host(s) up: ${hosts[*]} on bridge $bridge ($SUBNET.0/24);" \
         "node-local storage at $state/node-local" >&2
    echo "$state/nodefile"
}

disable_ipv6() {
    # Quiet links: no IPv6 autoconfiguration chatter (it would stay on the bridge anyway).
    local knob=/proc/sys/net/ipv6/conf/$1/disable_ipv6
    if [[ -w $knob ]]; then echo 1 >"$knob"; fi
}

cmd_down() {
    [[ $(id -u) == 0 ]] || unsupported "needs root to tear down namespaces"
    teardown "$NAME"
}

# Kill every process on the cluster's hosts, then remove hosts, bridge, cgroups and state.
# Idempotent: each step skips what is already gone.
teardown() {
    local name=$1 host pids cg state
    cg=$(cgroup_dir "$name")
    state=$(state_dir "$name")
    local hosts
    hosts=$(cluster_hosts "$name")
    for host in $hosts; do
        pids=$(ip netns pids "$host" 2>/dev/null || true)
        if [[ -n $pids ]]; then kill -KILL $pids 2>/dev/null || true; fi
    done
    if [[ -d $cg ]]; then
        for host in "$cg"/*/; do
            [[ -f $host/cgroup.procs ]] || continue
            pids=$(cat "$host/cgroup.procs")
            if [[ -n $pids ]]; then kill -KILL $pids 2>/dev/null || true; fi
        done
    fi
    # Before anything under STATE is removed: never delete through the cgroup file system.
    if mountpoint -q "$state/cgroup" 2>/dev/null; then umount -l "$state/cgroup"; fi
    for host in $hosts; do
        ip netns del "$host" 2>/dev/null || true
    done
    ip link del "$name-br" 2>/dev/null || true
    rm -rf /etc/netns/"$name"-h[0-9]*
    if [[ -d $cg ]]; then
        local tries
        for host in "$cg"/*/; do
            [[ -d $host ]] || continue
            # A killed process leaves its cgroup a moment after the signal.
            for ((tries = 0; tries < 50; tries++)); do
                rmdir "$host" 2>/dev/null && break
                sleep 0.1
            done
        done
        rmdir "$cg" 2>/dev/null || echo "fake_cluster.sh: could not remove $cg" >&2
    fi
    if mountpoint -q "$state/cgroup" 2>/dev/null; then
        echo "fake_cluster.sh: $state/cgroup is still mounted; leaving $state" >&2
    else
        rm -rf "$state"
    fi
}

# enter LOGIN HOST CMD...: run CMD on HOST (LOGIN=1: with a fresh login environment, as ssh).
cmd_enter() {
    local login=$1 host=${2:-}
    shift 2 || die "expected a host and a command"
    [[ $# -gt 0 ]] || die "no command to run on '$host' (interactive logins are not supported)"
    local name=${host%-h*}
    [[ $host =~ ^[a-z][a-z0-9]{0,5}-h[0-9]+$ ]] && ip netns list | awk '{print $1}' |
        grep -qx "$host" || die "unknown host '$host': not a host of a running fake cluster"
    local state
    state=$(state_dir "$name")
    # Through STATE/cgroup: called from inside a host (mpiexec), /sys/fs/cgroup is hidden.
    if [[ -d $state/cgroup/$host ]]; then echo $$ >"$state/cgroup/$host/cgroup.procs"; fi
    local env_prefix=()
    if [[ $login == 1 ]]; then
        env_prefix=(env -i "HOME=${HOME:-/root}" "USER=$(id -un)" "LOGNAME=$(id -un)"
                    "SHELL=/bin/bash" "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    fi
    # `ip netns exec` gives the command a mount namespace of its own; the bind mount of the
    # host's disk over node-local happens in it and is invisible elsewhere.
    exec ip netns exec "$host" unshare --uts -- /bin/sh -c \
        'hostname "$1" && mount --bind "$2" "$3" && shift 3 && exec "$@"' \
        sh "$host" "$state/disks/$host" "$state/node-local" "${env_prefix[@]}" "$@"
}

# ssh [OPTIONS] [USER@]HOST COMMAND...: ssh's calling convention, ssh's semantics (the words
# of COMMAND joined by spaces and run by the remote shell, in a login environment).
cmd_ssh() {
    while [[ $# -gt 0 && $1 == -* ]]; do
        case $1 in
            -[bcDEeFIiJLlmOopQRSWw]) shift 2 ;;  # options that take a value
            *) shift ;;
        esac
    done
    [[ $# -ge 1 ]] || die "ssh: no host given"
    local host=${1#*@}
    shift
    cmd_enter 1 "$host" /bin/bash -c "$*"
}

cmd_throttle() {
    local host=${1:-} percent=${2:-}
    [[ -n $host && -n $percent ]] || die "throttle: expected HOST and PERCENT (1-100) or off"
    local cg
    cg=$(state_dir "${host%-h*}")/cgroup/$host
    [[ $host =~ -h[0-9]+$ && -d $cg ]] || unsupported "throttle: no CPU cgroup for '$host'" \
        "(not a host of a running cluster, or no writable cgroup v1 cpu controller at" \
        "$CGROUP_ROOT)"
    if [[ $percent == off ]]; then
        echo -1 >"$cg/cpu.cfs_quota_us"
    elif [[ $percent =~ ^[1-9][0-9]?$|^100$ ]]; then
        echo "$CGROUP_PERIOD_US" >"$cg/cpu.cfs_period_us"
        echo $((CGROUP_PERIOD_US * percent / 100)) >"$cg/cpu.cfs_quota_us"
    else
        die "throttle: PERCENT must be 1-100 or off, got '$percent'"
    fi
}

usage() {
    echo "usage:" >&2
    sed -n '4,9p' "$SCRIPT" | sed 's/^#/ /' >&2
    exit 2
}

check_name "$NAME"
case ${1:-} in
    up) shift; cmd_up "$@" ;;
    down) shift; cmd_down ;;
    exec) shift; cmd_enter 0 "$@" ;;
    ssh) shift; cmd_ssh "$@" ;;
    throttle) shift; cmd_throttle "$@" ;;
    *) usage ;;
esac
