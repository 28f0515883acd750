// A kernel-style git repository delivered with a hostile .git: every config key
// that makes git run a program points at a script that leaves a canary file
// named after the key. Tests open patches, edit sources, run the CLI and the
// language server on it and then expect no canary.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './tempDir';

export interface HostileRepo {
  /** The kernel tree (a git work tree). */
  tree: string;
  /** Where the canaries land. */
  canaries: string;
  /** A `git` wrapper directory for PATH: it records each run in `gitRuns` and execs the real git. */
  gitWrapperDir: string;
  gitRuns: string;
  /** Names of the canaries present now. */
  fired(): string[];
}

/** Keys set to the canary script; the canary is named after the key. */
const PROGRAM_KEYS = [
  'core.fsmonitor',
  'core.pager',
  'core.editor',
  'core.sshCommand',
  'core.askPass',
  'core.gitProxy',
  'core.alternateRefsCommand',
  'sequence.editor',
  'diff.external',
  'diff.evil.command',
  'diff.evil.textconv',
  'filter.evil.clean',
  'filter.evil.smudge',
  'filter.evil.process',
  'filter.inc.clean',
  'merge.evil.driver',
  'credential.helper',
  'gpg.program',
  'gpg.ssh.program',
  'uploadpack.packObjectsHook',
  'pager.grep',
  'pager.diff',
  'pager.show',
  'pager.cat-file',
  'pager.rev-parse',
  'remote.origin.uploadpack',
  'remote.origin.proxy',
];

const HOOKS = ['post-index-change', 'reference-transaction', 'pre-commit', 'post-checkout', 'pre-auto-gc', 'fsmonitor-watchman'];

export function makeHostileRepo(from: string): HostileRepo {
  const base = tempDir('klp-hostile-');
  const tree = path.join(base, 'tree');
  const canaries = path.join(base, 'canaries');
  const scripts = path.join(base, 'scripts');
  const hooks = path.join(base, 'hooks');
  fs.mkdirSync(canaries);
  fs.mkdirSync(scripts);
  fs.mkdirSync(hooks);
  fs.cpSync(from, tree, { recursive: true });

  // One script per key, so the canary says which key ran. Filters pass the content through.
  const script = (name: string) => {
    const file = path.join(scripts, name.replace(/[^\w.-]/g, '_'));
    const body = /^filter\./.test(name) ? 'cat 2>/dev/null\n' : '';
    fs.writeFileSync(file, `#!/bin/sh\n: > '${path.join(canaries, name)}'\n${body}exit 0\n`, { mode: 0o755 });
    return file;
  };
  const g = (...args: string[]) => execFileSync('git', ['-C', tree, ...args], { stdio: 'ignore' });
  g('init', '-q');
  // Every file goes through the `evil` filter and diff driver; headers also through one an include defines.
  fs.writeFileSync(path.join(tree, '.gitattributes'), '* filter=evil diff=evil merge=evil\n*.h filter=inc\n');
  g('add', '-A');
  g('-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', 'commit', '-qm', 'base');

  // Every file stat-dirty against the index, so git must read the working tree (and filter it) to compare.
  const later = new Date(Date.now() + 5000);
  for (const f of execFileSync('git', ['-C', tree, 'ls-files', '-z'], { encoding: 'utf8' }).split('\0').filter(Boolean)) {
    fs.utimesSync(path.join(tree, f), later, later);
  }

  // Now the hostile configuration (written after the commit, as a repository would arrive).
  const cfg = (k: string, v: string) => g('config', k, v);
  for (const k of PROGRAM_KEYS.filter((k) => k !== 'filter.inc.clean')) cfg(k, script(k));
  cfg('core.hooksPath', hooks);
  for (const h of HOOKS) {
    fs.copyFileSync(script(`hook.${h}`), path.join(hooks, h));
    fs.copyFileSync(script(`hook.${h}`), path.join(tree, '.git', 'hooks', h));
  }
  cfg('log.showSignature', 'true');
  cfg('submodule.recurse', 'true');
  cfg('remote.origin.url', `ext::${script('protocol.ext')}`);
  cfg('protocol.ext.allow', 'always');
  cfg('protocol.allow', 'always');
  // A filter defined only in an included file.
  const inc = path.join(base, 'included.gitconfig');
  fs.writeFileSync(inc, `[filter "inc"]\n\tclean = ${script('filter.inc.clean')}\n\tsmudge = ${script('filter.inc.smudge')}\n`);
  cfg('include.path', inc);

  const gitWrapperDir = path.join(base, 'bin');
  const gitRuns = path.join(base, 'git-runs');
  fs.mkdirSync(gitWrapperDir);
  const real = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  fs.writeFileSync(path.join(gitWrapperDir, 'git'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${gitRuns}'\nexec '${real}' "$@"\n`, {
    mode: 0o755,
  });

  return { tree, canaries, gitWrapperDir, gitRuns, fired: () => fs.readdirSync(canaries).sort() };
}
