// The one remote script that reads the whole livepatch state in one round trip and prints a
// line-oriented, tab-separated snapshot (parsed by state.ts). POSIX sh with builtins only in
// the per-file loops (`read`, `printf`): forks are slow on a TCG guest.
//
// Records (fields are TAB-separated; the last field may contain anything but a newline):
//   klp-state 1                          header, format version
//   kernel <release>
//   boot <boot id>                       /proc/sys/kernel/random/boot_id (absent when unreadable)
//   tainted <decimal> | tainted-unreadable
//   livepatch 0|1                        /sys/kernel/livepatch exists
//   patch <patch>
//   patch-attr <patch> <attr> <value>    enabled, transition, replace, stack_order, ...
//   patch-attr-unreadable <patch> <attr> present but not readable (force, signal)
//   object <patch> <object>
//   object-attr <patch> <object> <attr> <value>
//   object-attr-unreadable <patch> <object> <attr>
//   func <patch> <object> <name,sympos>
//   transition <patch> <target state>    a patch has transition=1
//   task <pid> <tid> <patch_state> <comm> a task whose patch_state is not the target yet
//   stack <tid> <line>
//   stack-unreadable <tid>
//   module <name> <taint letters>        a loaded module whose taint has K
//   end

import { SshError, assertRemotePath, type RunOptions, type SshTarget } from './ssh';

export const STATE_FORMAT_VERSION = 1;

// Written with %{ for the shell's ${ (String.raw keeps the \t and \n for printf).
export const STATE_SCRIPT = String.raw`S=%{1:-/sys}; P=%{2:-/proc}
LP="$S/kernel/livepatch"
printf 'klp-state\t1\n'
r=
{ read -r r <"$P/sys/kernel/osrelease"; } 2>/dev/null || r=$(uname -r)
printf 'kernel\t%s\n' "$r"
b=
{ read -r b <"$P/sys/kernel/random/boot_id"; } 2>/dev/null && [ -n "$b" ] && printf 'boot\t%s\n' "$b"
# cat, not read: sh's read takes one byte at a time, and a /proc/sys integer read at a
# non-zero offset returns EOF, so read would see only the first digit.
if v=$(cat "$P/sys/kernel/tainted" 2>/dev/null) && [ -n "$v" ]; then printf 'tainted\t%s\n' "$v"; else printf 'tainted-unreadable\n'; fi
if [ -d "$LP" ]; then printf 'livepatch\t1\n'; else printf 'livepatch\t0\n'; fi
tpatch=; ttarget=
for d in "$LP"/*; do
  [ -d "$d" ] || continue
  p=%{d##*/}
  printf 'patch\t%s\n' "$p"
  en=; tr=
  for f in "$d"/*; do
    k=%{f##*/}
    if [ -d "$f" ]; then
      printf 'object\t%s\t%s\n' "$p" "$k"
      for g in "$f"/*; do
        n=%{g##*/}
        if [ -d "$g" ]; then
          printf 'func\t%s\t%s\t%s\n' "$p" "$k" "$n"
        elif [ -f "$g" ]; then
          v=
          if { read -r v <"$g"; } 2>/dev/null || [ -n "$v" ]; then printf 'object-attr\t%s\t%s\t%s\t%s\n' "$p" "$k" "$n" "$v"
          else printf 'object-attr-unreadable\t%s\t%s\t%s\n' "$p" "$k" "$n"; fi
        fi
      done
    elif [ -f "$f" ]; then
      v=
      if { read -r v <"$f"; } 2>/dev/null || [ -n "$v" ]; then
        printf 'patch-attr\t%s\t%s\t%s\n' "$p" "$k" "$v"
        case $k in enabled) en=$v;; transition) tr=$v;; esac
      else printf 'patch-attr-unreadable\t%s\t%s\n' "$p" "$k"; fi
    fi
  done
  if [ "$tr" = 1 ]; then tpatch=$p; ttarget=$en; fi
done
if [ -n "$tpatch" ]; then
  printf 'transition\t%s\t%s\n' "$tpatch" "$ttarget"
  for pd in "$P"/[0-9]*; do
    [ -d "$pd" ] || continue
    pid=%{pd##*/}
    if [ -d "$pd/task" ]; then set -- "$pd"/task/[0-9]*; else set -- "$pd"; fi
    for td in "$@"; do
      s=
      { read -r s <"$td/patch_state"; } 2>/dev/null || continue
      case $s in 0|1) ;; *) continue;; esac
      [ "$s" = "$ttarget" ] && continue
      tid=%{td##*/}
      c=
      { read -r c <"$td/comm"; } 2>/dev/null
      printf 'task\t%s\t%s\t%s\t%s\n' "$pid" "$tid" "$s" "$c"
      if ( : <"$td/stack" ) 2>/dev/null; then
        while IFS= read -r l; do printf 'stack\t%s\t%s\n' "$tid" "$l"; done <"$td/stack"
      else printf 'stack-unreadable\t%s\n' "$tid"; fi
    done
  done
fi
for m in "$S"/module/*; do
  v=
  { read -r v <"$m/taint"; } 2>/dev/null || continue
  case $v in *K*) printf 'module\t%s\t%s\n' "%{m##*/}" "$v";; esac
done
printf 'end\n'
`.replace(/%\{/g, '${');

export interface StateRoots {
  /** Where sysfs is mounted on the target (default /sys; tests point it at a fixture). */
  sysfsRoot?: string;
  /** Where procfs is mounted (default /proc). */
  procRoot?: string;
}

/** argv that runs the script remotely (via SshTarget.run, which quotes every word). */
export function stateCommand(roots: StateRoots = {}): string[] {
  const sys = assertRemotePath(roots.sysfsRoot ?? '/sys');
  const proc = assertRemotePath(roots.procRoot ?? '/proc');
  return ['sh', '-c', STATE_SCRIPT, 'klp-state', sys, proc];
}

/** Run the state script on the target and return its raw snapshot text. */
export async function readStateSnapshot(
  target: SshTarget,
  roots: StateRoots = {},
  opts: Pick<RunOptions, 'signal' | 'timeoutMs'> = {},
): Promise<string> {
  const r = await target.run(stateCommand(roots), { timeoutMs: 30_000, ...opts });
  if (r.code !== 0 || !r.stdout.startsWith('klp-state\t')) {
    throw new SshError(
      'remote-failed',
      `Reading the livepatch state on ${target.destination} failed (exit ${r.code}): ${r.stderr.trim().split('\n').slice(-3).join(' ') || 'no output'}`,
      {
        destination: target.destination,
        exitCode: r.code,
        stderr: r.stderr,
        stdout: r.stdout,
      },
    );
  }
  return r.stdout;
}
