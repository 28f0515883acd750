#!/usr/bin/env bash
# Fetch Debian's linux-source-6.1 into a cache folder outside the repository and
# turn it into a one-commit git repository, so tests and benchmarks can use real
# kernel sources (and `git grep`) without committing any of them.
#
#   scripts/fetch-kernel-source.sh            # prints the tree path on stdout
#   KLP_CACHE=/some/dir scripts/fetch-kernel-source.sh
#
# Idempotent: a finished tree is detected by its marker and reused.
set -euo pipefail

cache="${KLP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kernel-livepatch}"
tree="$cache/linux-6.1"
marker="$tree/.klp-fetched"

if [[ -f "$marker" ]]; then
  echo "$tree"
  exit 0
fi

mkdir -p "$cache/debs"
log() { echo "fetch-kernel-source: $*" >&2; }

if ! compgen -G "$cache/debs/linux-source-6.1_*.deb" >/dev/null; then
  if ! apt-cache show linux-source-6.1 >/dev/null 2>&1; then
    log "running apt-get update (linux-source-6.1 unknown to apt)"
    apt-get update -qq >&2
  fi
  log "downloading linux-source-6.1 with apt-get download"
  (cd "$cache/debs" && apt-get download -qq linux-source-6.1 >&2)
fi
debs=("$cache"/debs/linux-source-6.1_*.deb)
deb=$(printf '%s\n' "${debs[@]}" | sort -V | tail -n1)
[[ -f "$deb" ]] || { log "apt-get download left no linux-source-6.1 .deb in $cache/debs"; exit 1; }
log "using $deb"

work="$cache/unpack.$$"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work"
tarballs=("$work"/usr/src/linux-source-6.1*.tar.*)
tarball="${tarballs[0]}"
[[ -f "$tarball" ]] || { log "$deb holds no linux-source-6.1 tarball"; exit 1; }
log "unpacking $(basename "$tarball")"
rm -rf "$tree"
mkdir -p "$tree"
tar -xaf "$tarball" -C "$tree" --strip-components=1

log "making a one-commit git repository"
git -C "$tree" init -q
git -C "$tree" add -A -f  # Debian's .gitignore ignores everything at the top level
git -C "$tree" -c user.name=kernel-livepatch -c user.email=kernel-livepatch@localhost \
  -c commit.gpgsign=false commit -q -m "Debian $(basename "$deb" .deb)"
basename "$deb" > "$marker"
echo "$tree"
