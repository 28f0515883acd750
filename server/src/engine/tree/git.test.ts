// git.ts: refs become hashes before git sees them, nothing runs untrusted, and a
// config whose driver names `-c` cannot carry is not run at all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { git, gitInBackground, gitSync, GitRefused, resolveCommit, setGitAllowed } from './git';
import { KernelTree } from './kernelTree';
import { adoptTreeState, startTreeState } from './treeState';
import { tempDir } from '../../../../testing/tempDir';

function repo(): string {
  const dir = tempDir('klp-git-');
  const g = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { stdio: 'ignore' });
  g('init', '-q');
  fs.writeFileSync(path.join(dir, 'a.c'), 'int a;\n');
  g('add', '-A');
  g('-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', 'commit', '-qm', 'base');
  return dir;
}

test('resolveCommit: a ref that looks like an option names no commit and touches no file', async () => {
  const dir = repo();
  const victim = path.join(tempDir('klp-victim-'), 'victim');
  fs.writeFileSync(victim, 'keep\n');
  for (const ref of [`--output=${victim}`, '--output=../x', '-h', '--all', 'HEAD --output=y']) {
    await assert.rejects(resolveCommit(dir, ref), /does not name a commit/, ref);
  }
  assert.equal(fs.readFileSync(victim, 'utf8'), 'keep\n');
  assert.ok(!fs.existsSync(path.join(dir, '..', 'x')));
  assert.match(await resolveCommit(dir, 'HEAD'), /^[0-9a-f]{40}$/);
  assert.match(await resolveCommit(dir, 'HEAD~0'), /^[0-9a-f]{40}$/);
});

test('untrusted: git is not run; KernelTree falls back to its tree walker', async () => {
  const dir = repo();
  setGitAllowed(false);
  try {
    assert.equal(gitSync(dir, ['rev-parse', 'HEAD']), null);
    await assert.rejects(git(dir, ['rev-parse', 'HEAD']), GitRefused);
    const tree = KernelTree.open(dir);
    assert.equal(tree.isGitCheckout(), false);
    assert.deepEqual(tree.grepWord('a'), ['a.c']);
  } finally {
    setGitAllowed(true);
  }
  assert.equal(KernelTree.open(dir).isGitCheckout(), true);
});

test('a filter name `-c` cannot override (it contains "=") keeps git from running', () => {
  const dir = repo();
  assert.equal(gitSync(dir, ['rev-parse', 'HEAD'])?.status, 0);
  execFileSync('git', ['-C', dir, 'config', 'filter.a=b.clean', 'touch canary']);
  // The config stamp changed, so the next call looks again.
  assert.equal(gitSync(dir, ['rev-parse', 'HEAD']), null);
});

test(
  'gitInBackground: synchronous code takes the same output and status as a direct run, waiting for the process if it must',
  { skip: process.platform !== 'linux' && 'needs /proc' },
  () => {
    const dir = repo();
    fs.writeFileSync(path.join(dir, 'a.c'), 'int a = 1;\n');
    const args = ['diff-files', '--name-only', '-z'];
    const bg = gitInBackground(dir, args)!;
    assert.ok(bg);
    // Taken at once, before the event loop has seen the process end: the wait goes through /proc.
    assert.deepEqual(bg.result(), { status: 0, stdout: gitSync(dir, args)!.stdout });
    bg.dispose();
    // A failing command: its status, not an answer.
    const bad = gitInBackground(dir, ['rev-parse', '--verify', '--quiet', 'no-such-ref'])!;
    assert.deepEqual(bad.result(), { status: 1, stdout: '' });
    bad.dispose();
    // Untrusted: nothing is started.
    setGitAllowed(false);
    try {
      assert.equal(gitInBackground(dir, args), null);
    } finally {
      setGitAllowed(true);
    }
  },
);

test(
  "adoptTreeState: the launcher's early diff-files is taken for its own tree only, and stopped otherwise",
  { skip: process.platform !== 'linux' && 'needs /proc' },
  () => {
    const dir = repo();
    const other = repo();
    const early = startTreeState(dir)!;
    assert.ok(early);
    adoptTreeState(early);
    // The same tree, named through a symlink: the very same process, not a second one.
    const link = path.join(tempDir('klp-link-'), 'tree');
    fs.symlinkSync(dir, link);
    assert.equal(startTreeState(link), early);
    assert.deepEqual(early.diffFiles.result(), { status: 0, stdout: '' });
    early.diffFiles.dispose();
    // Another tree: a fresh start there, and the early one is stopped (its output gone).
    const wrong = startTreeState(dir)!;
    adoptTreeState(wrong);
    const fresh = startTreeState(other)!;
    assert.notEqual(fresh, wrong);
    assert.equal(fresh.root, fs.realpathSync(other));
    assert.equal(wrong.diffFiles.result(), null);
    fresh.diffFiles.dispose();
    // Untrusted since: nothing runs, and the early one is stopped.
    const late = startTreeState(dir)!;
    adoptTreeState(late);
    setGitAllowed(false);
    try {
      assert.equal(startTreeState(dir), null);
    } finally {
      setGitAllowed(true);
    }
    assert.equal(late.diffFiles.result(), null);
  },
);
