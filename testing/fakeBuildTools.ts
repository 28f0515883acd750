// Test support: stand-in `kpatch-build` and `klp-build` for the loopback sshd. Each checks
// its arguments the way the real tool does (options, an existing patch and output
// directory, klp-build run from the kernel root), then replays a recording from
// client/src/commands/fixtures/build-output: its stdout and stderr lines and its exit
// status. On success it writes the .ko where the real tool would: kpatch-build
// `<-o DIR or cwd>/<-n NAME, characters outside [A-Za-z0-9_-] as '-', cut to 48>.ko`,
// klp-build the `-o FILE` it was given. The .ko is a stand-in kernel's module
// (fakeKernel.ts), so the built module can be loaded next.

import * as fs from 'node:fs';
import * as path from 'node:path';

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Replays $rec (see the recordings' README), sets $status. */
const REPLAY = `status=
while IFS= read -r l; do
  case $l in
    '1 '*) printf '%s\\n' "\${l#1 }" ;;
    '2 '*) printf '%s\\n' "\${l#2 }" >&2 ;;
    '= '*) status=\${l#= } ;;
  esac
done <"$rec"
[ -n "$status" ] || { echo "stand-in: $rec has no '= N' exit line" >&2; exit 98; }`;

/**
 * kpatch-build: the recording is `<recordings>/<-n NAME>.txt`; every argv is appended to
 * `<recordings>/<NAME>.argv` (one argument per line, a blank line after each run).
 */
export function fakeKpatchBuild(recordings: string): string {
  return `#!/bin/sh
REC=${q(recordings)}
die() { echo "ERROR: $1." >&2; exit 1; }
name= out=$PWD patch= args=
for a; do args="$args$a
"; done
while [ $# -gt 0 ]; do
  case $1 in
    -n|--name) name=$2; shift ;;
    -o|--output) [ -d "$2" ] || die "output dir '$2' not found"; out=$2; shift ;;
    -s|--sourcedir) [ -d "$2" ] || die "source dir '$2' not found"; shift ;;
    -c|--config) [ -f "$2" ] || die "config file '$2' not found"; shift ;;
    -v|--vmlinux) [ -f "$2" ] || die "vmlinux file '$2' not found"; shift ;;
    -a|--archversion|-j|--jobs|-t|--target) shift ;;
    -R|--non-replace|-d|--debug|--skip-cleanup|--skip-compiler-check) ;;
    --) ;;
    -*) die "getopt failed" ;;
    *) [ -f "$1" ] || die "patch file '$1' not found"; patch=$1 ;;
  esac
  shift
done
[ -n "$patch" ] || { echo "ERROR: no patch file(s) specified" >&2; exit 1; }
[ -n "$name" ] || name=livepatch-$(basename "$patch" .patch)
rec=$REC/$name.txt
[ -f "$rec" ] || { echo "stand-in kpatch-build: no recording $rec" >&2; exit 99; }
printf '%s\\n' "$args" >>"$REC/$name.argv"
${REPLAY}
if [ "$status" = 0 ]; then
  mod=$(printf '%s' "$name" | sed 's/[^A-Za-z0-9_-]/-/g' | cut -c 1-48)
  printf 'klp-fake-ko %s 0 0 vmlinux:klpstat_show,1\\n' "$(printf '%s' "$mod" | tr - _)" >"$out/$mod.ko"
fi
exit "$status"
`;
}

/** klp-build, installed as <kernel source>/scripts/livepatch/klp-build: the recording is `<recordings>/<basename of -o without .ko>.txt`. */
export function fakeKlpBuild(recordings: string): string {
  return `#!/bin/sh
REC=${q(recordings)}
die() { echo "error: klp-build: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")/../.." && pwd -P)
[ "$here" = "$(pwd -P)" ] || die "please run from the kernel root directory"
outfile= patch=
while [ $# -gt 0 ]; do
  case $1 in
    -o|--output) case $2 in *.ko) ;; *) die "output filename should end with .ko" ;; esac; outfile=$2; shift ;;
    --output=*) outfile=\${1#--output=} ;;
    -j|--jobs|-S|--short-circuit) shift ;;
    --no-replace|-v|--verbose|-T|--keep-tmp|-d|--debug|-f|--show-first-changed) ;;
    --) ;;
    -*) echo "Usage: klp-build [OPTIONS] PATCH_FILE(s)" >&2; exit 1 ;;
    *) [ -f "$1" ] || die "$1 doesn't exist"; patch=$1 ;;
  esac
  shift
done
[ -n "$patch" ] || { echo "Usage: klp-build [OPTIONS] PATCH_FILE(s)" >&2; exit 1; }
[ -n "$outfile" ] || outfile=livepatch-$(basename "$patch" .patch).ko
name=$(basename "$outfile" .ko)
rec=$REC/$name.txt
[ -f "$rec" ] || { echo "stand-in klp-build: no recording $rec" >&2; exit 99; }
${REPLAY}
if [ "$status" = 0 ]; then
  printf 'klp-fake-ko %s 0 0 vmlinux:klpstat_show,1\\n' "$(printf '%s' "$name" | sed 's/[^A-Za-z0-9_-]/-/g' | cut -c 1-55 | tr - _)" >"$outfile"
fi
exit "$status"
`;
}

/** Writes kpatch-build into `bin` and klp-build into `<kernelSource>/scripts/livepatch/`. */
export function installFakeBuildTools(bin: string, kernelSource: string, recordings: string): void {
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'kpatch-build'), fakeKpatchBuild(recordings), { mode: 0o755 });
  const scripts = path.join(kernelSource, 'scripts', 'livepatch');
  fs.mkdirSync(scripts, { recursive: true });
  fs.writeFileSync(path.join(scripts, 'klp-build'), fakeKlpBuild(recordings), { mode: 0o755 });
}
