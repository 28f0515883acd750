#!/usr/bin/env bash
# Installs what the VS Code end-to-end test (test/vscode/) needs, idempotently:
#   - Debian packages: chromium (the browser playwright-core drives), ripgrep (code-server's file
#     search), libkrb5-dev (headers for code-server's `kerberos` native addon); only missing ones.
#   - code-server from the npm registry into a cache directory outside the repository.
# Prints the path of the code-server executable on stdout (everything else goes to stderr).
# KLP_SYSROOT and KLP_INSTALL_DRY_RUN (scripts/lib/packages.sh) make it say what it would install.
#
#   scripts/e2e/install-code-server.sh            # default dir ~/.cache/kernel-livepatch/code-server-<version>
#   CS_VERSION=4.100.3 CS_DIR=/some/dir scripts/e2e/install-code-server.sh
#
# 4.100.3 embeds VS Code 1.100.3 and is the newest code-server that runs on Node 20.
set -euo pipefail

CS_VERSION="${CS_VERSION:-4.100.3}"
CACHE="${KLP_CACHE:-$HOME/.cache/kernel-livepatch}"
CS_DIR="${CS_DIR:-$CACHE/code-server-$CS_VERSION}"
BIN="$CS_DIR/node_modules/.bin/code-server"
log() { echo "install-code-server: $*" >&2; }

# --- Debian packages ------------------------------------------------------------------------
# node-gyp builds code-server's native addons from source: python3, make, g++.
# shellcheck source=../lib/packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/packages.sh"
klp_ensure_packages install-code-server chromium ripgrep libkrb5-dev python3 make g++ >&2

# --- code-server ----------------------------------------------------------------------------
if [[ -x "$BIN" && -f "$CS_DIR/.complete" ]] && [[ "$(cat "$CS_DIR/.complete")" == "$CS_VERSION" ]]; then
  echo "$BIN"
  exit 0
fi

if [[ -n "${KLP_INSTALL_DRY_RUN:-}" ]]; then
  log "would install: code-server $CS_VERSION into $CS_DIR"
  exit 0
fi
log "installing code-server $CS_VERSION into $CS_DIR (a few minutes: native addons are built from source)"
t0=$(date +%s)
rm -rf "$CS_DIR"
mkdir -p "$CS_DIR"
cd "$CS_DIR"
printf '{"name":"klp-code-server","private":true}\n' > package.json

# @vscode/ripgrep's postinstall downloads rg from GitHub, which is unreachable here. Seed its
# download cache ($TMPDIR/vscode-ripgrep-cache-<its version>/<asset>) with a tarball of Debian's rg
# (the same 13.0.0 release). code-server 4.100.3's lib/vscode/npm-shrinkwrap.json pins 1.15.11.
RG_PKG_VERSION="${RG_PKG_VERSION:-1.15.11}"
rgtar=ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz
export TMPDIR="$CS_DIR/.tmp"
mkdir -p "$TMPDIR/vscode-ripgrep-cache-$RG_PKG_VERSION"
tar -czf "$TMPDIR/vscode-ripgrep-cache-$RG_PKG_VERSION/$rgtar" -C /usr/bin rg

# - npm_config_yes: node-pty's postinstall runs `npx node-gyp`, which otherwise aborts without a TTY.
# - npm_config_unsafe_perm: code-server's postinstall refuses to run as root without it.
# - no package-lock / audit / fund: a throwaway install dir.
# - npm_config_nodedir: node-gyp otherwise downloads Node's headers from nodejs.org; Debian's
#   nodejs ships them in /usr/include/node.
nodedir=()
[[ -f /usr/include/node/common.gypi && -z "${npm_config_nodedir:-}" ]] && nodedir=(npm_config_nodedir=/usr)
env "${nodedir[@]}" npm_config_yes=true npm_config_unsafe_perm=true \
  npm install --no-audit --no-fund --no-package-lock --loglevel=error "code-server@$CS_VERSION" >&2

"$BIN" --version --config /dev/null >/dev/null 2>&1 || { log "code-server does not start"; exit 1; }
rm -rf "$TMPDIR"
echo "$CS_VERSION" > "$CS_DIR/.complete"
log "installed in $(( $(date +%s) - t0 )) s"
echo "$BIN"
