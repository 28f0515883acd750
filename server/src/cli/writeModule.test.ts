// writeModuleFiles with the patched-unit module's nested names (`src/<dir>/x.h`):
// written in place, and never through a symlinked directory in OUTDIR.

import { test } from '../../../testing/nodeTest';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../../../testing/tempDir';
import { writeModuleFiles, WriteModuleError } from './writeModule';

test('nested names are written under OUTDIR, directories created', () => {
  const dir = tempDir('klp-write-');
  writeModuleFiles(dir, { Kbuild: 'obj-m := x.o\n', 'src/fs/proc/internal.h': '/* h */\n', 'src/fs/proc/.keep': '' });
  assert.equal(fs.readFileSync(path.join(dir, 'src', 'fs', 'proc', 'internal.h'), 'utf8'), '/* h */\n');
  assert.equal(fs.readFileSync(path.join(dir, 'Kbuild'), 'utf8'), 'obj-m := x.o\n');
});

test('a symlinked directory on the way is refused before anything is written', () => {
  const dir = tempDir('klp-write-');
  const elsewhere = tempDir('klp-write-target-');
  fs.symlinkSync(elsewhere, path.join(dir, 'src'));
  assert.throws(
    () => writeModuleFiles(dir, { Kbuild: 'x\n', 'src/fs/internal.h': 'y\n' }),
    (e: Error) => e instanceof WriteModuleError && /src: it is a symlink/.test(e.message),
  );
  assert.deepEqual(fs.readdirSync(elsewhere), []);
  assert.ok(!fs.existsSync(path.join(dir, 'Kbuild')), 'nothing is written when one name is refused');
});

test('names climbing out of OUTDIR are refused', () => {
  const dir = tempDir('klp-write-');
  for (const bad of ['../x.c', 'src/../../x.c', '/etc/x', 'src//x.h', './x.c']) {
    assert.throws(() => writeModuleFiles(dir, { [bad]: 'z' }), WriteModuleError, bad);
  }
});
