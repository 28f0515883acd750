#!/usr/bin/env bash
# Build (or confirm up to date) the cached Debian bookworm livepatch test VM image.
#
#   scripts/testvm/build-image.sh [--force] [--check] [--print-hash] [--host-tools]
#   (--host-tools: only install the missing host packages, then exit)
#
# Result, under ${KLP_CACHE:-~/.cache/kernel-livepatch}/testvm:
#   image/base.qcow2 (read-only base, mode 444), image/vmlinuz, image/initrd.img,
#   image/config (kernel .config), image/manifest, image/recipe.sha256
#   keys/id_ed25519{,.pub} (client key), keys/ssh_host_ed25519_key{,.pub} (fixed host key)
#   rootfs/ (the unpacked guest tree; also usable as a native build chroot)
#   debs/ (debootstrap and apt .deb caches), logs/timings.tsv
#
# The image is rebuilt only when the recipe hash changes: this script, the
# KLP_TESTVM_* pins below and the keys (lib.sh only holds paths and helpers). Needs root (debootstrap, chroot,
# mounts); installs its host tools with apt-get if missing:
#   qemu-system-x86 qemu-utils debootstrap e2fsprogs openssh-client
#
# Environment:
#   KLP_TESTVM_KVER=6.1.0-56-amd64   pin the guest kernel ABI (default: newest 6.1.0-*-amd64)
#   KLP_TESTVM_EXTRA_PACKAGES="..."  more guest packages
#   KLP_TESTVM_MIRROR / KLP_TESTVM_SECURITY_MIRROR  override the mirrors read from apt's config
#   KLP_TESTVM_KEEP_ROOTFS=0          drop rootfs/ after imaging (saves ~1 GB)
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=../lib/packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/packages.sh"

SUITE=bookworm
FORCE=0
CHECK_ONLY=0
PRINT_HASH=0
HOST_TOOLS_ONLY=0
for arg in "$@"; do
	case "$arg" in
	--force) FORCE=1 ;;
	--check) CHECK_ONLY=1 ;;
	--print-hash) PRINT_HASH=1 ;;
	--host-tools) HOST_TOOLS_ONLY=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument: $arg (try --help)" ;;
	esac
done

# Guest packages. The kernel and its headers are added once the ABI is known.
GUEST_BASE_PACKAGES=(systemd-sysv udev dbus openssh-server openssh-sftp-server kmod iproute2 procps
	gcc make libc6-dev e2fsprogs less zstd initramfs-tools)
# shellcheck disable=SC2206 # word splitting of the extra list is intended
GUEST_EXTRA_PACKAGES=(${KLP_TESTVM_EXTRA_PACKAGES:-})
# Modules the initrd needs to mount the virtio root disk; nothing else (small, fast to load).
INITRD_MODULES=(virtio_pci virtio_blk ext4 crc32c_generic)
HOST_PACKAGES=(qemu-system-x86 qemu-utils debootstrap e2fsprogs openssh-client)

# --- keys -------------------------------------------------------------------
# Project-owned keys, generated once and kept across image rebuilds; never in git.
ensure_keys() {
	mkdir -p "$TVM_KEYS"
	chmod 700 "$TVM_KEYS"
	[[ -s "$TVM_KEYS/id_ed25519" ]] ||
		ssh-keygen -q -t ed25519 -N '' -C "klp-testvm-user" -f "$TVM_KEYS/id_ed25519"
	[[ -s "$TVM_KEYS/ssh_host_ed25519_key" ]] ||
		ssh-keygen -q -t ed25519 -N '' -C "klp-testvm-host" -f "$TVM_KEYS/ssh_host_ed25519_key"
}

recipe_hash() {
	{
		cat "$TESTVM_SRC_DIR/build-image.sh"
		printf 'KVER=%s\nEXTRA=%s\n' "${KLP_TESTVM_KVER:-}" "${KLP_TESTVM_EXTRA_PACKAGES:-}"
		cat "$TVM_KEYS/id_ed25519.pub" "$TVM_KEYS/ssh_host_ed25519_key.pub" 2>/dev/null || true
	} | sha256sum | cut -c1-64
}

up_to_date() {
	image_ready && [[ "$(<"$TVM_IMAGE/recipe.sha256")" == "$1" ]]
}

if ((CHECK_ONLY || PRINT_HASH)); then
	# Read-only questions: do not create keys or install anything.
	h="$(recipe_hash)"
	((PRINT_HASH)) && echo "$h"
	if ((CHECK_ONLY)); then
		if [[ -s "$TVM_KEYS/id_ed25519.pub" ]] && up_to_date "$h"; then
			echo "up to date: $TVM_IMAGE"
			exit 0
		fi
		echo "needs build: $TVM_IMAGE"
		exit 1
	fi
	exit 0
fi

# --- host tools -------------------------------------------------------------
# Detection and install through scripts/lib/packages.sh, so a test can run it against
# an empty root (KLP_SYSROOT, KLP_INSTALL_DRY_RUN: `build-image.sh --host-tools`).
ensure_host_tools() {
	local t0 missing
	missing="$(klp_missing_packages "${HOST_PACKAGES[@]}")"
	[[ -n "$missing" ]] || return 0
	t0="$(now)"
	klp_ensure_packages build-image "${HOST_PACKAGES[@]}"
	[[ -n "${KLP_INSTALL_DRY_RUN:-}" ]] || record_timing host-apt-install "$(since "$t0")" "${missing//$'\n'/ }"
}
if ((HOST_TOOLS_ONLY)); then
	ensure_host_tools
	exit 0
fi
[[ "$(id -u)" == 0 ]] || die "building the image needs root (debootstrap, chroot, mounts): run 'sudo $0'"
ensure_host_tools
ensure_keys

mkdir -p "$TVM" "$TVM_LOGS"
# One build at a time (CI and the extension may both ask).
exec 9>"$TVM/build.lock"
flock -w 3600 9 || die "another build-image.sh holds $TVM/build.lock"

HASH="$(recipe_hash)"
if ((!FORCE)) && up_to_date "$HASH"; then
	echo "image up to date: $TVM_IMAGE (recipe $(cut -c1-12 <<<"$HASH"))"
	exit 0
fi

BUILD="$TVM/build"
ROOT="$BUILD/rootfs"
DEBS="$TVM/debs"
mkdir -p "$DEBS/debootstrap" "$DEBS/apt/partial"

# --- mount safety -----------------------------------------------------------
# The chroot has /proc, /sys, /dev bind-mounted; deleting it with those still
# mounted would wipe the host's /dev. Always unmount first, then delete
# without crossing filesystems.
unmount_under() {
	local dir="$1" m
	[[ -d "$dir" ]] || return 0
	dir="$(realpath "$dir")"
	for _ in 1 2 3; do
		mapfile -t mounts < <(awk -v d="$dir/" 'index($2 "/", d) == 1 { print $2 }' /proc/self/mounts | sort -r)
		((${#mounts[@]} == 0)) && return 0
		for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	done
	awk -v d="$dir/" 'index($2 "/", d) == 1 { found = 1 } END { exit !found }' /proc/self/mounts &&
		die "could not unmount everything under $dir; not deleting it"
	return 0
}
safe_rm() {
	local dir="$1"
	[[ -e "$dir" ]] || return 0
	unmount_under "$dir"
	rm -rf --one-file-system -- "$dir"
}
cleanup() {
	unmount_under "$BUILD" || true
}
trap cleanup EXIT

# --- mirrors ----------------------------------------------------------------
# Read the mirrors from apt's own configuration (works for deb822 and one-line
# sources); nothing hard-codes a host.
detect_mirror() { # suite
	# shellcheck disable=SC2016 # apt's own $(FIELD) placeholders, not shell
	apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
		awk -v s="$1" '$2 == s { print $1; exit }'
}
MIRROR="${KLP_TESTVM_MIRROR:-$(detect_mirror "$SUITE")}"
SEC_MIRROR="${KLP_TESTVM_SECURITY_MIRROR:-$(detect_mirror "$SUITE-security")}"
if [[ -z "$MIRROR" ]]; then
	# apt's index lists may be empty on a fresh machine: fetch them once.
	apt-get update -qq || true
	MIRROR="${KLP_TESTVM_MIRROR:-$(detect_mirror "$SUITE")}"
	SEC_MIRROR="${KLP_TESTVM_SECURITY_MIRROR:-$(detect_mirror "$SUITE-security")}"
fi
[[ -n "$MIRROR" ]] || die "no '$SUITE' source in apt's configuration; set KLP_TESTVM_MIRROR"
[[ -n "$SEC_MIRROR" ]] || log "warning: no $SUITE-security source found (the newest 6.1 kernels live there)"

T_TOTAL="$(now)"
log "building image (recipe $(cut -c1-12 <<<"$HASH")) in $TVM, mirror $MIRROR"

# --- 1. debootstrap ---------------------------------------------------------
safe_rm "$BUILD"
mkdir -p "$BUILD"
t0="$(now)"
log "debootstrap --variant=minbase $SUITE"
debootstrap --variant=minbase --cache-dir="$DEBS/debootstrap" "$SUITE" "$ROOT" "$MIRROR" \
	>"$BUILD/debootstrap.log" 2>&1 || {
	tail -n 30 "$BUILD/debootstrap.log" >&2
	die "debootstrap failed (full log: $BUILD/debootstrap.log)"
}
T_DEBOOTSTRAP="$(since "$t0")"
log "debootstrap done in ${T_DEBOOTSTRAP}s"

# --- 2. apt inside the chroot -----------------------------------------------
# The newest 6.1 ABI lives only in bookworm-security, which debootstrap cannot
# pull in (different URI path), so the kernel comes from apt in the chroot.
{
	echo "deb $MIRROR $SUITE main"
	echo "deb $MIRROR $SUITE-updates main"
	[[ -n "$SEC_MIRROR" ]] && echo "deb $SEC_MIRROR $SUITE-security main"
} >"$ROOT/etc/apt/sources.list"
cat >"$ROOT/etc/apt/apt.conf.d/90klp-testvm" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
# Copy the host's freshness and proxy settings, or the chroot's apt-get update
# can reject a mirror the host accepts.
apt-config dump 2>/dev/null |
	grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' \
		>>"$ROOT/etc/apt/apt.conf.d/90klp-testvm" || true
# No docs, man pages or translations in the guest.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/90klp-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
# Package scripts must not start services on the host.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 755 "$ROOT/usr/sbin/policy-rc.d"

mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
mkdir -p "$ROOT/var/cache/apt/archives"
mount --bind "$DEBS/apt" "$ROOT/var/cache/apt/archives"

in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
	LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }
apt_in_root() {
	in_root apt-get -y -o Dpkg::Options::=--force-confold "$@" >>"$BUILD/apt.log" 2>&1 || {
		tail -n 30 "$BUILD/apt.log" >&2
		die "apt-get $* failed in the chroot (full log: $BUILD/apt.log)"
	}
}

t0="$(now)"
apt_in_root update
T_APT_UPDATE="$(since "$t0")"

KVER="${KLP_TESTVM_KVER:-}"
if [[ -z "$KVER" ]]; then
	KVER="$(in_root apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' |
		awk '{ sub(/^linux-image-/, "", $1); print $1 }' | sort -V | tail -n 1)"
fi
[[ "$KVER" =~ ^6\.1\.0-[0-9]+-amd64$ ]] || die "could not find a linux-image-6.1.0-*-amd64 package (got '$KVER')"
log "guest kernel: $KVER"

t0="$(now)"
log "apt-get install (base + toolchain)"
apt_in_root install "${GUEST_BASE_PACKAGES[@]}" "${GUEST_EXTRA_PACKAGES[@]}"
# Small initrd with just the virtio disk drivers; written before the kernel is
# installed so its postinst builds the initrd once, with this config.
cat >"$ROOT/etc/initramfs-tools/conf.d/90-klp-testvm.conf" <<'EOF'
MODULES=list
COMPRESS=zstd
EOF
printf '%s\n' "${INITRD_MODULES[@]}" >>"$ROOT/etc/initramfs-tools/modules"
log "apt-get install linux-image-$KVER linux-headers-$KVER"
apt_in_root install "linux-image-$KVER" "linux-headers-$KVER"
T_APT_INSTALL="$(since "$t0")"
log "apt done: update ${T_APT_UPDATE}s, install ${T_APT_INSTALL}s"

# --- 3. check the kernel is fit for livepatch work --------------------------
[[ -s "$ROOT/boot/vmlinuz-$KVER" && -s "$ROOT/boot/initrd.img-$KVER" ]] || die "kernel or initrd missing in $ROOT/boot"
for opt in CONFIG_LIVEPATCH=y CONFIG_HAVE_RELIABLE_STACKTRACE=y CONFIG_DYNAMIC_FTRACE=y; do
	grep -qx "$opt" "$ROOT/boot/config-$KVER" || die "guest kernel lacks $opt"
done
in_root test -f "/lib/modules/$KVER/build/Makefile" ||
	die "/lib/modules/$KVER/build is not a usable kbuild tree (linux-headers-$KVER)"

# Compile the smoke livepatch natively in the chroot: proves the headers and
# compiler work before we spend minutes booting (about 3-5 s here, ~15x that in the VM).
t0="$(now)"
rm -rf "$ROOT/tmp/klp-smoke"
cp -r "$TESTVM_SRC_DIR/smoke" "$ROOT/tmp/klp-smoke"
if in_root make -C "/lib/modules/$KVER/build" M=/tmp/klp-smoke modules >"$BUILD/native-smoke.log" 2>&1 &&
	in_root modinfo -F livepatch /tmp/klp-smoke/klp_smoke.ko | grep -qx Y; then
	T_NATIVE="$(since "$t0")"
	log "native kbuild check passed in ${T_NATIVE}s"
else
	cat "$BUILD/native-smoke.log" >&2
	die "building the smoke livepatch against linux-headers-$KVER failed in the chroot"
fi
rm -rf "$ROOT/tmp/klp-smoke"

# shellcheck disable=SC2016 # dpkg-query's own ${field} placeholders, not shell
in_root dpkg-query -W -f '${Package} ${Version}\n' >"$BUILD/packages.txt"
unmount_under "$ROOT"
rm -f "$ROOT/usr/sbin/policy-rc.d"
# The guest has no route out; its package lists are dead weight.
rm -rf "$ROOT/var/lib/apt/lists/"* "$ROOT/var/cache/apt/"*.bin

# --- 4. guest configuration -------------------------------------------------
t0="$(now)"
echo testvm >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\ttestvm\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$ROOT/etc/fstab"
# A fixed machine-id: every boot starts from the same read-only base, so
# systemd must not treat each one as a first boot.
echo 6b6c7074657374766d00000000000001 >"$ROOT/etc/machine-id"

mkdir -p "$ROOT/etc/systemd/network"
cat >"$ROOT/etc/systemd/network/10-klp-dhcp.network" <<'EOF'
[Match]
Type=ether

[Network]
DHCP=ipv4
EOF
in_root systemctl enable systemd-networkd.service >/dev/null 2>&1
# Nothing that waits for the network or wakes up to do maintenance.
for unit in systemd-networkd-wait-online.service systemd-timesyncd.service apt-daily.timer \
	apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
	ln -sfn /dev/null "$ROOT/etc/systemd/system/$unit"
done
mkdir -p "$ROOT/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$ROOT/etc/systemd/journald.conf.d/90-klp-testvm.conf"

# SSH: only the fixed host key; root by key only. UsePAM no saves ~0.5 s
# of guest CPU per login under TCG.
rm -f "$ROOT"/etc/ssh/ssh_host_*
install -m 600 "$TVM_KEYS/ssh_host_ed25519_key" "$ROOT/etc/ssh/ssh_host_ed25519_key"
install -m 644 "$TVM_KEYS/ssh_host_ed25519_key.pub" "$ROOT/etc/ssh/ssh_host_ed25519_key.pub"
cat >"$ROOT/etc/ssh/sshd_config.d/10-klp-testvm.conf" <<'EOF'
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
EOF
# The guest has no locales: do not accept the client's LANG/LC_*.
sed -i 's/^AcceptEnv/#AcceptEnv/' "$ROOT/etc/ssh/sshd_config"
install -d -m 700 "$ROOT/root/.ssh"
install -m 600 "$TVM_KEYS/id_ed25519.pub" "$ROOT/root/.ssh/authorized_keys"
T_CONFIGURE="$(since "$t0")"

# --- 5. image ---------------------------------------------------------------
# mkfs.ext4 -d fills the filesystem from the directory: no loop mount needed.
t0="$(now)"
NEW="$TVM/image.new"
safe_rm "$NEW"
mkdir -p "$NEW"
used_mb=$(($(du -sxm "$ROOT" | cut -f1)))
size_mb=$((used_mb * 12 / 10 + 1024)) # +20% and 1 GiB free for module builds
truncate -s "${size_mb}M" "$NEW/root.raw"
mkfs.ext4 -q -F -L klp-testvm -d "$ROOT" "$NEW/root.raw"
qemu-img convert -f raw -O qcow2 "$NEW/root.raw" "$NEW/base.qcow2"
rm -f "$NEW/root.raw"
chmod 444 "$NEW/base.qcow2"
cp "$ROOT/boot/vmlinuz-$KVER" "$NEW/vmlinuz"
cp "$ROOT/boot/initrd.img-$KVER" "$NEW/initrd.img"
cp "$ROOT/boot/config-$KVER" "$NEW/config"
cp "$BUILD/packages.txt" "$NEW/packages.txt"
T_IMAGE="$(since "$t0")"

T_READY="$(since "$T_TOTAL")"
cat >"$NEW/manifest" <<EOF
recipe=$HASH
kver=$KVER
suite=$SUITE
mirror=$MIRROR
security_mirror=$SEC_MIRROR
built=$(date -Is)
rootfs_mb=$used_mb
disk_mb=$size_mb
packages=$(wc -l <"$NEW/packages.txt")
seconds_to_image=$T_READY
seconds_debootstrap=$T_DEBOOTSTRAP
seconds_apt_update=$T_APT_UPDATE
seconds_apt_install=$T_APT_INSTALL
seconds_native_kbuild_check=$T_NATIVE
seconds_configure=$T_CONFIGURE
seconds_mkfs_convert=$T_IMAGE
EOF
echo "$HASH" >"$NEW/recipe.sha256"

# Swap in atomically; a VM running on the old base keeps its open file.
safe_rm "$TVM/image.old"
[[ -e "$TVM_IMAGE" ]] && mv "$TVM_IMAGE" "$TVM/image.old"
mv "$NEW" "$TVM_IMAGE"
safe_rm "$TVM/image.old"
if [[ "${KLP_TESTVM_KEEP_ROOTFS:-1}" == 1 ]]; then
	safe_rm "$TVM/rootfs"
	mv "$ROOT" "$TVM/rootfs"
fi
safe_rm "$BUILD"

# Built with sudo for a user: hand the cache back to them.
if [[ -n "${SUDO_USER:-}" && "$SUDO_USER" != root ]]; then
	chown -R "$SUDO_USER:" "$TVM_KEYS" "$TVM_IMAGE" "$TVM_LOGS" "$TVM/build.lock" 2>/dev/null || true
fi

T_ALL="$(since "$T_TOTAL")" # includes deleting the previous rootfs
record_timing image-build "$T_ALL" "debootstrap=$T_DEBOOTSTRAP apt_update=$T_APT_UPDATE apt_install=$T_APT_INSTALL native_check=$T_NATIVE configure=$T_CONFIGURE mkfs_convert=$T_IMAGE kver=$KVER"
log "image built in ${T_ALL}s: debootstrap ${T_DEBOOTSTRAP}s, apt update ${T_APT_UPDATE}s, apt install ${T_APT_INSTALL}s, native kbuild check ${T_NATIVE}s, configure ${T_CONFIGURE}s, mkfs+convert ${T_IMAGE}s"
echo "image ready: $TVM_IMAGE (kernel $KVER, recipe $(cut -c1-12 <<<"$HASH"))"
