#!/usr/bin/env bash
# Installs the Debian packages that `npm test` needs, only the missing ones, and
# prints the kernel headers package it chose (linux-headers-6.1.0-N-amd64, the
# newest Debian 6.1 ABI: its name moves with security updates).
#   openssh-server, openssh-client, sudo, procps: the transport tests' real sshd on loopback
#   linux-headers-6.1.0-N-amd64, gcc, make, binutils: compiling and reading generated modules (and the stand-in kernel's .ko)
#   git, xz-utils: scripts/fetch-kernel-source.sh
#   the linter of shell scripts (package shellcheck), for the test of every script
# KLP_SYSROOT and KLP_INSTALL_DRY_RUN work as in scripts/lib/packages.sh.
set -euo pipefail
# shellcheck source=../lib/packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/packages.sh"

headers="$(klp_installed_headers)"
if [[ -z "$headers" ]]; then
	# A machine's lists may be older than its mirror: they would name an ABI older than
	# the one the test VM image takes from fresh lists, so refresh them before choosing.
	[[ -n "${KLP_INSTALL_DRY_RUN:-}" ]] || klp_apt_update
	headers="$(klp_available_headers)"
	if [[ -z "$headers" && -n "${KLP_INSTALL_DRY_RUN:-}" ]]; then
		echo "would install: the newest linux-headers-6.1.0-N-amd64 once apt-get update has run"
	fi
	[[ -n "$headers" || -n "${KLP_INSTALL_DRY_RUN:-}" ]] || { echo "install-test-deps: no linux-headers-6.1.0-*-amd64 package in the apt sources" >&2; exit 1; }
fi
pkgs=(openssh-server openssh-client sudo procps binutils gcc git make xz-utils shellcheck)
[[ -n "$headers" ]] && pkgs+=("$headers")
klp_ensure_packages install-test-deps "${pkgs[@]}"
echo "headers: ${headers:-unknown}"
