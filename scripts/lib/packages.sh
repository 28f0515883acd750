# shellcheck shell=bash
# Debian package detection and installation shared by .ci/run and the scripts it
# calls (scripts/ci/install-test-deps.sh, scripts/e2e/install-code-server.sh,
# scripts/testvm/build-image.sh --host-tools).
#
# Every probe can be pointed at another root, so a test can prove what a fresh
# machine would do without uninstalling anything:
#   KLP_SYSROOT=DIR          look for /usr/src/linux-headers-* and dpkg's database under DIR
#   KLP_INSTALL_DRY_RUN=1    print "would install: PKG..." on stdout instead of running apt-get

klp_sysroot() { printf '%s' "${KLP_SYSROOT:-}"; }

# True when dpkg records PKG as installed (in KLP_SYSROOT's database, if set).
klp_pkg_installed() {
	local status
	status="$(dpkg-query --admindir="$(klp_sysroot)/var/lib/dpkg" -W -f='${Status}' "$1" 2>/dev/null)" || return 1
	[[ "$status" == "install ok installed" ]]
}

# Prints, one per line, the packages of "$@" that are not installed.
klp_missing_packages() {
	local p
	for p in "$@"; do
		klp_pkg_installed "$p" || printf '%s\n' "$p"
	done
}

# The newest linux-headers-6.1.0-N-amd64 unpacked under /usr/src, or nothing.
# (A glob, not ls: no match is an empty answer, not an error under pipefail.)
klp_installed_headers() {
	local d best="" n bestn=-1
	for d in "$(klp_sysroot)"/usr/src/linux-headers-6.1.0-*-amd64; do
		[[ -d "$d" ]] || continue
		n="${d##*/linux-headers-6.1.0-}"
		n="${n%-amd64}"
		[[ "$n" =~ ^[0-9]+$ ]] || continue
		((n > bestn)) && { bestn=$n; best="${d##*/}"; }
	done
	printf '%s' "$best"
}

# The newest linux-headers-6.1.0-N-amd64 that apt's lists know, or nothing
# (before the first apt-get update a fresh machine's lists are empty).
klp_available_headers() {
	apt-cache search --names-only '^linux-headers-6\.1\.0-[0-9]+-amd64$' 2>/dev/null | cut -d' ' -f1 | sort -V | tail -n1 || true
}

klp_apt_updated=""
klp_apt_update() {
	[[ -n "$klp_apt_updated" ]] && return 0
	apt-get update -qq >&2
	klp_apt_updated=1
}

# Installs the packages of "$@" that are missing; prints what it would install under
# KLP_INSTALL_DRY_RUN=1. WHO prefixes the log line ("ci", "install-code-server"...).
klp_ensure_packages() {
	local who="$1"
	shift
	local missing=()
	mapfile -t missing < <(klp_missing_packages "$@")
	((${#missing[@]})) || return 0
	if [[ -n "${KLP_INSTALL_DRY_RUN:-}" ]]; then
		echo "would install: ${missing[*]}"
		return 0
	fi
	[[ "$(id -u)" == 0 ]] || { echo "$who: missing Debian packages (${missing[*]}): run as root or apt-get install them" >&2; return 1; }
	echo "$who: apt-get install ${missing[*]}" >&2
	klp_apt_update
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
