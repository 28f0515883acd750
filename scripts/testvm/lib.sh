# shellcheck shell=bash
# shellcheck disable=SC2034 # the variables here are used by the scripts that source this file
# Shared paths and helpers for scripts/testvm/*.sh. Sourced, never run.
# Everything big lives in the cache dir, outside the repo.

TESTVM_SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Under sudo, keep the cache in the invoking user's home so that the
# unprivileged start.sh/ssh.sh find the image and keys built as root.
if [[ -z "${KLP_CACHE:-}" && "$(id -u)" == 0 && -n "${SUDO_USER:-}" && "${SUDO_USER}" != root ]]; then
	_klp_home="$(getent passwd "$SUDO_USER" | cut -d: -f6)"
	KLP_CACHE="${_klp_home:-$HOME}/.cache/kernel-livepatch"
fi
KLP_CACHE="${KLP_CACHE:-$HOME/.cache/kernel-livepatch}"
TVM="$KLP_CACHE/testvm"
TVM_KEYS="$TVM/keys"
TVM_IMAGE="$TVM/image"
TVM_LOGS="$TVM/logs"

log() { printf '[testvm %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	printf '[testvm] ERROR: %s\n' "$*" >&2
	exit 1
}

# A directory for control sockets that only we can enter: $XDG_RUNTIME_DIR when the
# session has one, else klp-testvm-UID under the temp dir, created 0700 and refused if
# someone else made it first (a socket at a guessable path could be swapped under us).
tvm_sock_dir() {
	local base="${XDG_RUNTIME_DIR:-}" d
	[[ -n "$base" && -d "$base" && -O "$base" ]] || base="${TMPDIR:-/tmp}"
	d="$base/klp-testvm-$(id -u)"
	mkdir -m 700 -- "$d" 2>/dev/null || true
	[[ ! -L "$d" && -d "$d" && -O "$d" ]] || die "$d is not a directory of ours: remove it, or set TMPDIR"
	[[ "$(stat -c %a -- "$d")" == 700 ]] || chmod 700 -- "$d" || die "cannot make $d private"
	printf '%s\n' "$d"
}

# Several VMs may run side by side (e.g. CI and a developer); each has a name
# and its own run dir. The default one is the ssh host alias "klp-testvm".
TVM_NAME="${KLP_TESTVM_NAME:-default}"

tvm_set_name() {
	TVM_NAME="$1"
	[[ "$TVM_NAME" =~ ^[A-Za-z0-9_.-]+$ ]] || die "bad VM name: $TVM_NAME"
	TVM_RUN="$TVM/run/$TVM_NAME"
	if [[ "$TVM_NAME" == default ]]; then TVM_HOST=klp-testvm; else TVM_HOST="klp-testvm-$TVM_NAME"; fi
	TVM_QEMU_NAME="klp-testvm-$TVM_NAME"
	TVM_SSH_CONFIG="$TVM_RUN/ssh_config"
	TVM_PIDFILE="$TVM_RUN/qemu.pid"
	# A unix socket path must stay under ~108 bytes.
	TVM_MUX="$TVM_RUN/mux"
	if ((${#TVM_MUX} > 100)); then TVM_MUX="$(tvm_sock_dir)/$TVM_NAME.mux" || exit 1; fi
}
tvm_set_name "$TVM_NAME"

# --help: the script's header comment (from line 2 to `set -euo`), without the leading "# ".
tvm_usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 0
}
now() { date +%s.%N; }
# seconds since $1 (a `now` value), one decimal
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# Append one timing row; the log survives runs so figures can be compared.
record_timing() { # step seconds [note]
	mkdir -p "$TVM_LOGS"
	printf '%s\t%s\t%s\tload1=%s\t%s\n' "$(date -Is)" "$1" "$2" "$(load1)" "${3:-}" >>"$TVM_LOGS/timings.tsv" || true
}

image_ready() {
	[[ -s "$TVM_IMAGE/base.qcow2" && -s "$TVM_IMAGE/vmlinuz" && -s "$TVM_IMAGE/initrd.img" && -s "$TVM_IMAGE/recipe.sha256" ]]
}

# The pid of this VM's QEMU, if it is alive and really ours (the pidfile may
# be stale and the pid reused by an unrelated process).
tvm_pid() {
	local pid
	[[ -s "$TVM_PIDFILE" ]] || return 1
	pid="$(<"$TVM_PIDFILE")"
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-name $TVM_QEMU_NAME" || return 1
	printf '%s\n' "$pid"
}

# CPU seconds used by a process (user+system), from /proc/PID/stat.
proc_cpu_s() {
	local hz
	hz="$(getconf CLK_TCK)"
	awk -v hz="$hz" '{ sub(/^.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo "?"
}

# ssh to the VM through a shared connection: each new ssh login costs
# 1-2 s of guest CPU under TCG, a multiplexed command ~0.15 s.
tvm_ssh() {
	ssh -F "$TVM_SSH_CONFIG" -o ControlMaster=auto -o "ControlPath=$TVM_MUX" -o ControlPersist=120 "$TVM_HOST" "$@"
}

# One bounded probe: slirp accepts the TCP connection before the guest
# listens, so an unbounded ssh can hang in the banner exchange.
tvm_ssh_probe() {
	timeout "${1:-20}" ssh -F "$TVM_SSH_CONFIG" -o ConnectTimeout=5 -o ControlMaster=no -o ControlPath=none "$TVM_HOST" true </dev/null >/dev/null 2>&1
}
