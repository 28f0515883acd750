#!/usr/bin/env bash
# End-to-end smoke test of the test VM: build a livepatch in the guest with
# kbuild, load it, check its sysfs state and effect, disable it, unload it.
#
#   scripts/testvm/smoke.sh [--port N|auto] [--name NAME] [--keep] [--boot-timeout S]
#
# Builds the image if it is missing or stale (needs root), starts the VM unless
# it is already running (then reuses it), and stops it at the end if it started
# it (--keep leaves it running). Prints each step's time and the sysfs tree;
# reports land in the run dir (smoke-*.txt). Ends with "N passed, N failed".
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

START_ARGS=()
KEEP=0
while (($#)); do
	case "$1" in
	--port) START_ARGS+=(--port "${2:?--port needs a value}"); shift ;;
	--port=*) START_ARGS+=(--port "${1#*=}") ;;
	--name) tvm_set_name "${2:?--name needs a value}"; shift ;;
	--name=*) tvm_set_name "${1#*=}" ;;
	--boot-timeout) START_ARGS+=(--timeout "${2:?}"); shift ;;
	--keep) KEEP=1 ;;
	-h | --help) tvm_usage ;;
	*) die "unknown argument: $1 (try --help)" ;;
	esac
	shift
done

MOD=klp_smoke
MARKER="klp-smoke: cmdline_proc_show is livepatched"
GUEST_DIR=/root/klp-smoke
LP="/sys/kernel/livepatch/$MOD"

PASS=0
FAIL=0
STARTED=0
TIMINGS=()
check() { # description, then a command that must succeed
	local what="$1"
	shift
	if "$@"; then
		PASS=$((PASS + 1))
		echo "  ok   $what"
	else
		FAIL=$((FAIL + 1))
		echo "  FAIL $what"
	fi
}
timing() { # step seconds
	TIMINGS+=("$(printf '%-28s %8s s' "$1" "$2")")
	record_timing "smoke:$1" "$2" "name=$TVM_NAME"
	echo "  time $1: $2 s (host load $(load1))"
}
abort() {
	FAIL=$((FAIL + 1))
	echo "  FAIL $*"
	exit 1
}
finish() {
	local rc=$?
	set +e
	if ((STARTED && !KEEP)); then
		local t0
		t0="$(now)"
		"$TESTVM_SRC_DIR/stop.sh" --name "$TVM_NAME" >/dev/null 2>&1
		TIMINGS+=("$(printf '%-28s %8s s' "stop (graceful)" "$(since "$t0")")")
	fi
	echo
	echo "== timings (host load now $(load1), $(nproc) cores)"
	printf '  %s\n' "${TIMINGS[@]}"
	if [[ -d "$TVM_RUN" ]]; then
		printf '%s\n' "${TIMINGS[@]}" >"$TVM_RUN/smoke-timings.txt"
		echo "  reports: $TVM_RUN/smoke-{timings,sysfs,build,dmesg}.txt"
	fi
	((KEEP && STARTED)) && echo "  VM left running: ssh -F '$TVM_SSH_CONFIG' $TVM_HOST"
	echo "$PASS passed, $FAIL failed"
	((rc == 0 && FAIL > 0)) && rc=1
	exit "$rc"
}
trap finish EXIT

echo "== image"
if "$TESTVM_SRC_DIR/build-image.sh" --check >/dev/null 2>&1; then
	echo "  cached: $TVM_IMAGE ($(sed -n 's/^kver=//p' "$TVM_IMAGE/manifest"))"
else
	[[ "$(id -u)" == 0 ]] || abort "image missing or stale: run 'sudo $TESTVM_SRC_DIR/build-image.sh' first"
	# "cold" = no .deb cache either; otherwise the recipe changed and only the debs are reused.
	kind="recipe changed, debs cached"
	compgen -G "$TVM/debs/apt/*.deb" >/dev/null || kind="cold cache"
	t0="$(now)"
	"$TESTVM_SRC_DIR/build-image.sh" || abort "build-image.sh failed"
	timing "image build ($kind)" "$(since "$t0")"
fi

echo "== boot"
if "$TESTVM_SRC_DIR/status.sh" --name "$TVM_NAME" >/dev/null 2>&1; then
	echo "  reusing the running VM ($TVM_HOST)"
else
	tvm_pid >/dev/null && abort "the VM is running but ssh does not answer: wait, or stop it with stop.sh --name $TVM_NAME"
	t0="$(now)"
	"$TESTVM_SRC_DIR/start.sh" --name "$TVM_NAME" "${START_ARGS[@]}" || abort "start.sh failed"
	STARTED=1
	timing "boot -> ssh" "$(since "$t0")"
fi

t0="$(now)"
KREL="$(tvm_ssh uname -r)" || abort "ssh into the VM failed"
timing "first ssh (opens the mux)" "$(since "$t0")"
echo "  guest kernel $KREL"

# A reused VM may hold the patch from an aborted run: take it out first.
tvm_ssh "if [ -d $LP ]; then echo 0 > $LP/enabled; for i in \$(seq 300); do [ -d $LP ] || break; sleep 0.1; done; fi
	if [ -d /sys/module/$MOD ]; then rmmod $MOD; fi" || abort "could not clean up a previous $MOD"

echo "== build in the VM (kbuild, /lib/modules/\$(uname -r)/build)"
t0="$(now)"
tar -C "$TESTVM_SRC_DIR/smoke" -cf - Kbuild Makefile klp_smoke.c |
	tvm_ssh "rm -rf $GUEST_DIR && mkdir -p $GUEST_DIR && tar -C $GUEST_DIR -xf -" || abort "copying the sources failed"
timing "copy sources" "$(since "$t0")"
t0="$(now)"
if ! tvm_ssh "cd $GUEST_DIR && timeout 1800 make -C /lib/modules/\$(uname -r)/build M=\$PWD modules" \
	>"$TVM_RUN/smoke-build.txt" 2>&1; then
	tail -n 30 "$TVM_RUN/smoke-build.txt"
	abort "module build failed (log: $TVM_RUN/smoke-build.txt)"
fi
timing "module build (make in VM)" "$(since "$t0")"
INFO="$(tvm_ssh "modinfo -F livepatch $GUEST_DIR/$MOD.ko; modinfo -F vermagic $GUEST_DIR/$MOD.ko")"
check "$MOD.ko has MODULE_INFO livepatch=Y" test "$(sed -n 1p <<<"$INFO")" == Y
check "vermagic matches the running kernel ($KREL)" grep -q "^$KREL " <<<"$(sed -n 2p <<<"$INFO")"

echo "== load"
t0="$(now)"
tvm_ssh "insmod $GUEST_DIR/$MOD.ko && for i in \$(seq 600); do [ \"\$(cat $LP/transition)\" = 0 ] && exit 0; sleep 0.1; done; echo 'transition still running after 60 s' >&2; exit 1" ||
	abort "insmod or the patching transition failed"
timing "insmod + transition" "$(since "$t0")"

STATE="$(tvm_ssh "echo enabled=\$(cat $LP/enabled)
	echo transition=\$(cat $LP/transition)
	echo patched=\$(cat $LP/vmlinux/patched)
	echo funcdir=\$([ -d '$LP/vmlinux/cmdline_proc_show,1' ] && echo yes || echo no)
	echo cmdline=\$(cat /proc/cmdline)
	echo tainted=\$(cat /proc/sys/kernel/tainted)
	echo modtaint=\$(cat /sys/module/$MOD/taint)")"
val() { sed -n "s/^$1=//p" <<<"$STATE"; }
check "$LP/enabled = 1" test "$(val enabled)" == 1
check "$LP/transition = 0" test "$(val transition)" == 0
check "vmlinux/patched = 1" test "$(val patched)" == 1
check "function dir vmlinux/cmdline_proc_show,1 exists" test "$(val funcdir)" == yes
check "/proc/cmdline shows the marker" test "$(val cmdline)" == "$MARKER"
tainted="$(val tainted)"
check "taint has bit 15 (K, livepatch): tainted=$tainted" test $((${tainted:-0} >> 15 & 1)) == 1
check "/sys/module/$MOD/taint has K ($(val modtaint))" grep -q K <<<"$(val modtaint)"

echo "== sysfs tree (find /sys/kernel/livepatch)"
tvm_ssh "find /sys/kernel/livepatch | sort | while read -r p; do
		if [ -f \"\$p\" ] && [ -n \"\$(find \"\$p\" -perm -u=r)\" ]; then v=\" = \$(cat \"\$p\")\"; else v=''; fi
		printf '%s %s%s\n' \"\$(stat -c %A \"\$p\")\" \"\$p\" \"\$v\"
	done" >"$TVM_RUN/smoke-sysfs.txt" || abort "could not list /sys/kernel/livepatch"
sed 's/^/  /' "$TVM_RUN/smoke-sysfs.txt"

echo "== unload"
t0="$(now)"
AFTER="$(tvm_ssh "echo 0 > $LP/enabled && echo \"right after disable: enabled=\$(cat $LP/enabled 2>/dev/null) transition=\$(cat $LP/transition 2>/dev/null)\"
	for i in \$(seq 600); do [ -d $LP ] || exit 0; sleep 0.1; done; echo 'unpatching still running after 60 s' >&2; exit 1")" ||
	abort "disable or the unpatching transition failed"
timing "disable + transition" "$(since "$t0")"
echo "  $AFTER"
t0="$(now)"
tvm_ssh "rmmod $MOD" || abort "rmmod $MOD failed"
timing "rmmod" "$(since "$t0")"
STATE="$(tvm_ssh "echo lpdir=\$([ -e $LP ] && echo yes || echo no)
	echo moddir=\$([ -e /sys/module/$MOD ] && echo yes || echo no)
	echo cmdline=\$(cat /proc/cmdline)
	echo tainted=\$(cat /proc/sys/kernel/tainted)")"
check "$LP is gone" test "$(val lpdir)" == no
check "/sys/module/$MOD is gone" test "$(val moddir)" == no
check "/proc/cmdline is the boot command line again" grep -q 'root=/dev/vda' <<<"$(val cmdline)"
tvm_ssh "dmesg | grep -E 'livepatch|$MOD'" >"$TVM_RUN/smoke-dmesg.txt" 2>&1 || true
echo "  dmesg:"
sed 's/^/    /' "$TVM_RUN/smoke-dmesg.txt"
