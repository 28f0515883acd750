#!/usr/bin/env bash
# Run a command in the test VM (or a shell with no arguments).
#
#   scripts/testvm/ssh.sh [--name NAME] [command...]
#
# Uses the generated ssh config and a shared connection (ControlPersist 120 s),
# so repeated calls cost ~0.15 s instead of 1-2 s of TCG guest CPU each.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${1:-}" in
--name) tvm_set_name "${2:?--name needs a value}"; shift 2 ;;
--name=*) tvm_set_name "${1#*=}"; shift ;;
esac

tvm_pid >/dev/null || die "test VM '$TVM_NAME' is not running: start it with $TESTVM_SRC_DIR/start.sh"
[[ -s "$TVM_SSH_CONFIG" ]] || die "no ssh config at $TVM_SSH_CONFIG: restart the VM with start.sh"
tvm_ssh "$@"
