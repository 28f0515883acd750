// The untrusted-workspace decisions of Check Patch and Generate Livepatch Module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { trustVerdict } from './trustPolicy';

test('untrusted: an open .patch is checked and turned into a module as in a trusted workspace', () => {
  assert.deepEqual(trustVerdict('checkPatch', 'patch-document', false), { run: true });
  assert.deepEqual(trustVerdict('generateModule', 'patch-document', false), { run: true });
});

test('untrusted: Check Patch on the working tree runs and says it covered unsaved changes only', () => {
  const v = trustVerdict('checkPatch', 'working-tree', false);
  assert.equal(v.run, true);
  assert.match(v.run ? (v.note ?? '') : '', /only unsaved changes/);
});

test('untrusted: Generate Livepatch Module refuses the working tree, naming the way out', () => {
  const v = trustVerdict('generateModule', 'working-tree', false);
  assert.equal(v.run, false);
  assert.match(v.run ? '' : v.reason, /needs git.*Open a \.patch file, or trust the workspace/);
});

test('trusted: both commands run on either source without a note', () => {
  for (const c of ['checkPatch', 'generateModule'] as const) {
    for (const s of ['patch-document', 'working-tree'] as const) assert.deepEqual(trustVerdict(c, s, true), { run: true });
  }
});
