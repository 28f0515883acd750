#!/usr/bin/env bash
# Stop the test VM: poweroff over ssh, wait, then SIGTERM, then SIGKILL.
#
#   scripts/testvm/stop.sh [--name NAME] [--timeout SECONDS] [--force] [--keep-overlay]
#
# --force skips the graceful poweroff (the overlay is thrown away anyway, so
# nothing is lost). The console log stays in the run dir for post-mortems.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TIMEOUT=60
FORCE=0
KEEP_OVERLAY=0
while (($#)); do
	case "$1" in
	--name) tvm_set_name "${2:?--name needs a value}"; shift ;;
	--name=*) tvm_set_name "${1#*=}" ;;
	--timeout) TIMEOUT="${2:?}"; shift ;;
	--force) FORCE=1 ;;
	--keep-overlay) KEEP_OVERLAY=1 ;;
	-h | --help) tvm_usage ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done

close_mux() {
	[[ -S "$TVM_MUX" ]] && ssh -F "$TVM_SSH_CONFIG" -o "ControlPath=$TVM_MUX" -O exit "$TVM_HOST" >/dev/null 2>&1
	rm -f "$TVM_MUX"
}
cleanup_run() {
	close_mux || true
	rm -f "$TVM_PIDFILE" "$TVM_RUN/monitor.sock" "$TVM_RUN/started_at"
	((KEEP_OVERLAY)) || rm -f "$TVM_RUN/overlay.qcow2"
}

if ! PID="$(tvm_pid)"; then
	echo "not running ($TVM_NAME)"
	[[ -d "$TVM_RUN" ]] && cleanup_run
	exit 0
fi

wait_gone() { # seconds
	local end=$((SECONDS + $1))
	while kill -0 "$PID" 2>/dev/null; do
		((SECONDS >= end)) && return 1
		sleep 0.5
	done
}

T0="$(now)"
how=""
if ((!FORCE)); then
	# The ssh session is cut by the poweroff; its exit status means nothing.
	timeout 20 ssh -F "$TVM_SSH_CONFIG" -o ConnectTimeout=5 -o ControlPath=none "$TVM_HOST" \
		'systemctl poweroff' </dev/null >/dev/null 2>&1 || true
	wait_gone "$TIMEOUT" && how="poweroff"
fi
if [[ -z "$how" ]]; then
	kill -TERM "$PID" 2>/dev/null || true
	if wait_gone 10; then how="SIGTERM"; else
		kill -KILL "$PID" 2>/dev/null || true
		wait_gone 5 || die "QEMU pid $PID survived SIGKILL"
		how="SIGKILL"
	fi
fi
cleanup_run
S="$(since "$T0")"
record_timing stop "$S" "how=$how name=$TVM_NAME"
echo "stopped ($how) in ${S}s"
