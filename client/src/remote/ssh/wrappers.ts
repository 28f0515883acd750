// Wrapper scripts: the small sh programs every remote command and upload runs inside, so a
// command dies with its connection and an upload never leaves half a file.

import { SshError } from './errors';
import { shJoin } from './quote';

/*
 * Runs "$@" so that it dies with the connection. The channel's stdin stays open for the
 * whole run (the local side never closes it) and a watcher blocks reading it: EOF means
 * the local ssh was killed or the connection dropped, and the watcher kills its process
 * group (sshd made the session a process-group leader with setsid; under sudo, sudo's).
 * A remote command that starts its own session or process group escapes this.
 * $1 is the number of input bytes to take from stdin first; they go to a temp file that
 * becomes the command's stdin, so the stream stays free for the watcher.
 */
const RUN_WRAPPER = [
  'n=$1; shift',
  'exec 3<&0 </dev/null',
  'if [ "$n" -gt 0 ]; then',
  '  t=$(mktemp) || exit 125',
  '  head -c "$n" <&3 >"$t"',
  '  if [ $(wc -c <"$t") -ne "$n" ]; then rm -f "$t"; echo "klp: input cut short" >&2; exit 125; fi',
  '  exec 4<"$t"; rm -f "$t"',
  'else exec 4</dev/null; fi',
  // The watcher: on EOF, TERM the group, give it up to 5 s (while this shell still waits
  // for the command), then KILL whatever is left, itself included.
  "( trap '' TERM; while read -r _ <&3; do :; done; kill -TERM 0; i=0",
  '  while kill -0 $$ 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1 2>/dev/null || sleep 1; i=$((i+1)); done',
  '  kill -KILL 0 ) >/dev/null 2>&1 4<&- &',
  'w=$!',
  // Trapped, so this shell outlives the command on TERM (the command still gets TERM).
  "trap 'exit 143' TERM",
  '"$@" <&4 3<&- 4<&-',
  's=$?',
  'kill -KILL $w 2>/dev/null',
  'exit $s',
].join('\n');

/* Writes stdin to a temp file beside the target, checks the size, then renames: a
 * cancelled upload (cat sees EOF early) leaves nothing behind. mktemp creates the temp
 * file itself (O_EXCL, unpredictable name), so `cat >` never follows a planted symlink,
 * and rename replaces a symlink at the target rather than writing through it. */
const UPLOAD_SCRIPT = [
  'p=$1; n=$2; m=$3; mk=$4',
  'if [ "$mk" = 1 ]; then mkdir -p -- "$(dirname -- "$p")" || exit 1; fi',
  'umask 077',
  't=$(mktemp "$p.klp-upload.XXXXXX") || exit 1',
  'if cat >"$t" && [ $(wc -c <"$t") -eq "$n" ]; then',
  '  if { [ -z "$m" ] || chmod "$m" "$t"; } && mv -f -- "$t" "$p"; then exit 0; fi',
  'fi',
  'rm -f -- "$t"',
  'echo "klp: upload to $p did not complete" >&2',
  'exit 1',
].join('\n');

function remotePrefix(sudo: boolean): string[] {
  // LC_ALL=C: messages we parse (sudo, kpatch-build, tools) stay in English.
  return ['exec', 'env', 'LC_ALL=C', ...(sudo ? ['sudo', '-n', '--'] : [])];
}

/** The remote command string for argv (exported for tests and logs). */
export function remoteRunCommand(argv: readonly string[], opts: { sudo: boolean; inputBytes: number }): string {
  if (!argv.length) throw new SshError('invalid-argument', 'Empty remote command.');
  return shJoin([...remotePrefix(opts.sudo), 'sh', '-c', RUN_WRAPPER, 'klp-run', String(opts.inputBytes), ...argv]);
}

/** The remote command string for an upload of `bytes` bytes to `remotePath` (see UPLOAD_SCRIPT). */
export function remoteUploadCommand(remotePath: string, opts: { sudo: boolean; bytes: number; mode?: number; mkdirs?: boolean }): string {
  return shJoin([
    ...remotePrefix(opts.sudo),
    'sh',
    '-c',
    UPLOAD_SCRIPT,
    'klp-upload',
    remotePath,
    String(opts.bytes),
    opts.mode === undefined ? '' : opts.mode.toString(8),
    opts.mkdirs ? '1' : '0',
  ]);
}
