#!/usr/bin/env bash
# Is the test VM running and reachable?
#
#   scripts/testvm/status.sh [--name NAME] [--json] [--no-ssh]
#
# Exit status: 0 running and ssh answers, 1 running but ssh does not answer
# (still booting, or hung), 3 not running.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

JSON=0
PROBE=1
while (($#)); do
	case "$1" in
	--name) tvm_set_name "${2:?--name needs a value}"; shift ;;
	--name=*) tvm_set_name "${1#*=}" ;;
	--json) JSON=1 ;;
	--no-ssh) PROBE=0 ;;
	-h | --help) tvm_usage ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done

running=false pid="" port="" uptime_s="" cpu_s="" ssh=unknown ssh_s="" rc=3
if pid="$(tvm_pid)"; then
	running=true
	rc=0
	port="$(cat "$TVM_RUN/port" 2>/dev/null || true)"
	started="$(cat "$TVM_RUN/started_at" 2>/dev/null || true)"
	[[ -n "$started" ]] && uptime_s=$(($(date +%s) - started))
	cpu_s="$(proc_cpu_s "$pid")"
	if ((PROBE)); then
		t0="$(now)"
		if tvm_ssh_probe 20; then ssh=yes; else ssh=no; rc=1; fi
		ssh_s="$(since "$t0")"
	fi
else
	pid=""
fi
image=false
image_ready && image=true

if ((JSON)); then
	js() { [[ -n "$1" ]] && printf '%s' "$1" || printf 'null'; }
	jq_str() { local s="${1//\\/\\\\}"; printf '"%s"' "${s//\"/\\\"}"; }
	printf '{"name":%s,"running":%s,"pid":%s,"port":%s,"uptime_s":%s,"qemu_cpu_s":%s,"ssh":%s,"ssh_probe_s":%s,"host":%s,"ssh_config":%s,"image":%s}\n' \
		"$(jq_str "$TVM_NAME")" "$running" "$(js "$pid")" "$(js "$port")" "$(js "$uptime_s")" \
		"$(js "$( [[ "$cpu_s" == '?' ]] || echo "$cpu_s")")" "$(jq_str "$ssh")" "$(js "$ssh_s")" \
		"$(jq_str "$TVM_HOST")" "$(jq_str "$TVM_SSH_CONFIG")" "$image"
else
	echo "name:       $TVM_NAME (ssh host $TVM_HOST)"
	echo "image:      $([[ "$image" == true ]] && echo "$TVM_IMAGE ($(sed -n 's/^kver=//p' "$TVM_IMAGE/manifest" 2>/dev/null))" || echo "missing: run build-image.sh")"
	if [[ "$running" == true ]]; then
		echo "running:    yes, pid $pid"
		echo "port:       127.0.0.1:$port"
		echo "uptime:     ${uptime_s:-?} s (QEMU CPU ${cpu_s} s)"
		echo "ssh:        $ssh${ssh_s:+ (probe ${ssh_s} s)}"
		echo "ssh config: $TVM_SSH_CONFIG"
	else
		echo "running:    no"
	fi
fi
exit "$rc"
