#!/usr/bin/env bash
# Fetch the target facts of a Debian kernel release without a VM: Debian's
# linux-image-<release> and linux-headers-<release> packages, downloaded with
# apt-get download into a cache folder outside the repository, and unpacked
# into the per-release folder that the deploy path already uses for kallsyms.
# The image package's System.map is a stub; the real one is in
# linux-image-<release>-dbg (860 MB for 6.1), from which only System.map is
# extracted (that package is deleted afterwards; KLP_KEEP_DBG=1 keeps it).
#
#   <cache>/targets/<release>/System.map       vmlinux symbols (static ones too)
#   <cache>/targets/<release>/Module.symvers   exports: CRC, exporting object, namespace
#   <cache>/targets/<release>/config           the release's .config
#   <cache>/targets/<release>/modules/         the image's .ko files (they keep their symbol tables)
#   <cache>/targets/<release>/.klp-facts       marker: the package versions used
#
#   scripts/fetch-target-facts.sh [RELEASE]     # default 6.1.0-57-amd64; prints the folder
#   livepatch-check --kallsyms DIR/System.map --symvers DIR/Module.symvers \
#                   --config DIR/config --modules-dir DIR/modules ...
#
# The <cache>/targets/<release>/kallsyms that a deploy reads from a live target is
# left alone: both describe the same release, kallsyms the running one.
# Idempotent: a finished folder is detected by its marker and reused.
set -euo pipefail

release="${1:-6.1.0-57-amd64}"
if [[ ! "$release" =~ ^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$ ]]; then
  echo "fetch-target-facts: '$release' is not a kernel release" >&2
  exit 2
fi
cache="${KLP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kernel-livepatch}"
dir="$cache/targets/$release"
marker="$dir/.klp-facts"
log() { echo "fetch-target-facts: $*" >&2; }

if [[ -f "$marker" ]]; then
  echo "$dir"
  exit 0
fi

debs="$cache/debs"
mkdir -p "$debs"
fetch() {
  local pkg="$1"
  if ! compgen -G "$debs/${pkg}_*.deb" >/dev/null; then
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
      log "running apt-get update ($pkg unknown to apt)"
      apt-get update -qq >&2
    fi
    log "downloading $pkg with apt-get download"
    (cd "$debs" && apt-get download -qq "$pkg" >&2)
  fi
  local found=("$debs/${pkg}"_*.deb)
  printf '%s\n' "${found[@]}" | sort -V | tail -n1
}
image=$(fetch "linux-image-$release")
headers=$(fetch "linux-headers-$release")
dbg=""
if [[ ! -s "$dir/System.map" ]] || ! grep -q ' [tT] ' "$dir/System.map"; then
  dbg=$(fetch "linux-image-$release-dbg")
fi
for d in "$image" "$headers" ${dbg:+"$dbg"}; do
  [[ -f "$d" ]] || { log "apt-get download left no package for $release in $debs"; exit 1; }
done
log "using $(basename "$image") and $(basename "$headers")"

work="$cache/targets/.unpack.$$"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$image" "$work/image"
dpkg-deb -x "$headers" "$work/headers"

out="$work/out"
mkdir -p "$out"
if [[ -n "$dbg" ]]; then
  # System.map comes early in the archive: stop reading there (dpkg-deb then sees a closed pipe).
  log "extracting System.map from $(basename "$dbg")"
  mkdir -p "$work/dbg"
  { dpkg-deb --fsys-tarfile "$dbg" 2>/dev/null || true; } |
    tar -x -C "$work/dbg" --occurrence=1 "./usr/lib/debug/boot/System.map-$release" || true
  map="$work/dbg/usr/lib/debug/boot/System.map-$release"
  grep -q ' [tT] ' "$map" 2>/dev/null || { log "$(basename "$dbg") holds no System.map-$release"; exit 1; }
  cp "$map" "$out/System.map"
  [[ "${KLP_KEEP_DBG:-}" == 1 ]] || rm -f "$dbg"
else
  cp "$dir/System.map" "$out/System.map"
fi
cp "$work/image/boot/config-$release" "$out/config"
cp "$work/headers/usr/src/linux-headers-$release/Module.symvers" "$out/Module.symvers"
mv "$work/image/lib/modules/$release/kernel" "$out/modules"

# Keep a kallsyms read from a live target of this release.
mkdir -p "$dir"
for f in System.map config Module.symvers; do mv -f "$out/$f" "$dir/$f"; done
rm -rf "$dir/modules"
mv "$out/modules" "$dir/modules"
printf '%s\n' "$(basename "$image")" "$(basename "$headers")" ${dbg:+"$(basename "$dbg")"} > "$marker"
echo "$dir"
