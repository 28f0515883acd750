// BaseReader: the base ref's commit, with HEAD read from .git's files (no git process per
// keystroke) and every other ref resolved by git, as before.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BaseReader } from './kernelTrees';
import { tempDir } from '../../../testing/tempDir';

function repo(): { dir: string; head: string } {
  const dir = fs.realpathSync(tempDir('klp-basereader-'));
  fs.writeFileSync(path.join(dir, 'a.c'), 'int a(void) { return 0; }\n');
  const g = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { encoding: 'utf8' });
  g('init', '-q');
  g('add', '-A');
  g('-c', 'user.name=t', '-c', 'user.email=t@localhost', '-c', 'commit.gpgsign=false', 'commit', '-qm', 'base');
  g('tag', 'v1');
  return { dir, head: g('rev-parse', 'HEAD').trim() };
}

test('HEAD is read without running git; another ref still asks git', async () => {
  const { dir, head } = repo();
  assert.equal(await new BaseReader().commitOf(dir, 'v1'), head);
  const savedPath = process.env.PATH;
  try {
    // No git on PATH: only a commit read from the files can come back.
    process.env.PATH = '';
    assert.equal(await new BaseReader().commitOf(dir, 'HEAD'), head);
    await assert.rejects(new BaseReader().commitOf(dir, 'v1'));
  } finally {
    process.env.PATH = savedPath;
  }
});
