import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from '../../../../testing/nodeTest';
import { tempDir } from '../../../../testing/tempDir';
import { prepareControlDir } from './controlDir';

test('prepareControlDir: private 0700 dir, short enough for a socket path, none on Windows', () => {
  const base = tempDir('klp-cd-');
  try {
    const short = prepareControlDir(path.join(base, 'cm'));
    assert.equal(short, path.join(base, 'cm'));
    assert.equal(fs.statSync(short!).mode & 0o777, 0o700);
    const long = path.join(base, 'x'.repeat(80));
    const fallback = prepareControlDir(long)!;
    assert.notEqual(fallback, long);
    assert.ok(fallback.length < 50);
    assert.equal(fs.statSync(fallback).mode & 0o777, 0o700);
    fs.rmSync(fallback, { recursive: true, force: true });
    assert.equal(prepareControlDir(path.join(base, 'w'), 'win32'), undefined);
  } finally {
    fs.rmSync(base, { recursive: true, force: true });
  }
});
